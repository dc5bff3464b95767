// Unit templates live as files (systemd/agentd.service, launchd/agentd.plist) so an
// operator can read them without the code. This module finds them next to the code
// that is running (source tree, dist/ bundle or the installed artifact) and fills in
// `{{NAME}}` values and `#{{#flag}}…#{{/flag}}` blocks.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The text of a template, by its path relative to the project root. Walks up from this
 * module: installer/ in the source tree, dist/ or dist/chunks/ in a bundle, and the same
 * under the installed artifact (which ships systemd/ and launchd/ next to dist/).
 */
export function readTemplate(rel: string, from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, rel);
    if (existsSync(candidate)) return readFileSync(candidate, 'utf8');
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`template ${rel} not found above ${fileURLToPath(from)} (is the agentd installation complete?)`);
}

/**
 * Fills a template. `#{{#flag}}` / `#{{/flag}}` lines (on their own) open and close a
 * block kept only when `flags[flag]` is true; blocks nest. Lines starting `#{{!}}` are
 * notes about the template itself and are dropped. `{{NAME}}` is replaced by
 * `values[NAME]`; an unknown name or an unbalanced block throws (a bug, not a person's
 * mistake), so a half-rendered unit is never written.
 */
export function renderTemplate(text: string, values: Record<string, string>, flags: Record<string, boolean>): string {
  const out: string[] = [];
  const stack: { name: string; keep: boolean }[] = [];
  const keeping = (): boolean => stack.every((s) => s.keep);
  for (const line of text.split('\n')) {
    const open = /^\s*#\{\{#([a-z_]+)\}\}\s*$/.exec(line);
    const close = /^\s*#\{\{\/([a-z_]+)\}\}\s*$/.exec(line);
    if (line.startsWith('#{{!}}')) continue;
    if (open) {
      if (!(open[1] in flags)) throw new Error(`template block "${open[1]}" has no flag`);
      stack.push({ name: open[1], keep: flags[open[1]] });
      continue;
    }
    if (close) {
      const top = stack.pop();
      if (!top || top.name !== close[1]) throw new Error(`template block "${close[1]}" closed but not open`);
      continue;
    }
    if (!keeping()) continue;
    out.push(
      line.replace(/\{\{([A-Z_]+)\}\}/g, (_m, name: string) => {
        const v = values[name];
        if (v === undefined) throw new Error(`template value {{${name}}} missing`);
        return v;
      }),
    );
  }
  if (stack.length) throw new Error(`template block "${stack[stack.length - 1].name}" not closed`);
  return out.join('\n');
}
