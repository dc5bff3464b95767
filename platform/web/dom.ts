// Tiny DOM helpers. Text always goes in through textContent (never innerHTML), so no
// value from the platform (device names, prompts, task output) can inject markup.

/** The element with this id; a missing one is a bug in index.html, so fail loudly. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

type Child = Node | string | null | undefined | false;
type Props = Record<string, string | boolean | undefined | ((ev: Event) => void)>;

/** h('button', { type: 'button', class: 'small', onclick: fn }, 'Revoke…') */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Sets text only when it changed: polling re-renders every 2 s without churning the DOM. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** Replaces a <dl>'s content with term/definition pairs. */
export function fillFacts(dl: HTMLElement, facts: [string, Node | string][]): void {
  dl.replaceChildren(...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** Copies text; falls back to a selected textarea where the Clipboard API is unavailable (plain http on a remote host). */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the legacy path
  }
  // A class, not a style attribute: the page's Content-Security-Policy allows no inline style.
  const ta = h('textarea', { readonly: true, 'aria-hidden': 'true', class: 'offscreen' });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}
