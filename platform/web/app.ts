// The operator page: sign in with the admin token, enrol machines, steer daemons, run
// tasks. Plain DOM, no framework; live by polling the admin API every 2 s (the same
// routes AdminClient wraps for tests and the demo, so the page needs nothing extra).
//
// Secrets: only the admin token is stored (sessionStorage: this tab, until sign-out or
// close). Install commands and rotated daemon tokens live in the DOM while their panel is
// open and are wiped when it closes or the install token expires.
import { AdminApiError, AdminClient } from '../admin-client.js';
import type { Agent, AgentTaskDetail } from '../../api/agents.js';
import type { ConnectionInfo, ConnectionSnippets, CreateInstallTokenRequest, DaemonSummary, InstallTokenSummary, TaskDetail as BaseTaskDetail, TaskMessage, Workspace } from '../../api/types.js';
import { byId, copyText, fillFacts, h, setText } from './dom.js';
import { agentExtras, daemonState, enrolmentNote, formatAge, formatCountdown, formatTime, isTerminal, parseArgLines, parseEnvLines, shortId, taskState, usesText } from './format.js';

type TaskDetail = BaseTaskDetail & Partial<AgentTaskDetail>;

const TOKEN_KEY = 'agentd.adminToken';
const WORKSPACE_KEY = 'agentd.workspace';
const POLL_MS = 2000;
const TASK_LIST_LIMIT = 50;
const MESSAGE_PAGE = 500;
const MAX_MESSAGES_SHOWN = 2000;

/** Where the API lives: the directory this page was served from (works behind a path prefix too). */
const BASE_URL = new URL('.', location.href).href.replace(/\/+$/, '');

// ---------------------------------------------------------------- session state

let client: AdminClient | null = null;
let workspace: string | null = null;
/** Bumped on sign-out and workspace switch: answers to older requests are dropped. */
let generation = 0;

// ---------------------------------------------------------------- errors and announcements

type ErrorSource = 'poll' | 'action';
let errorSource: ErrorSource | null = null;

function showError(text: string, source: ErrorSource): void {
  errorSource = source;
  setText(byId('error-text'), text);
  const el = byId('error');
  el.hidden = false;
  // The banner is at the top; a person acting further down the page must still see it.
  if (source === 'action') el.scrollIntoView({ block: 'nearest' });
}

function clearError(source?: ErrorSource): void {
  if (source && errorSource !== source) return;
  errorSource = null;
  byId('error').hidden = true;
  setText(byId('error-text'), '');
}

/** A sentence a person can act on; AdminApiError messages never contain a token. */
function describe(err: unknown, what: string): string {
  if (err instanceof AdminApiError) {
    if (err.status === 401)
      return `${what}: the platform refused the admin token (HTTP 401: ${err.error}). Sign in with the token agentd-platform printed when it first started (it is also in <data dir>/admin-token).`;
    if (err.status === 0) return `${what} failed: ${err.error}. Check that agentd-platform is running; this page keeps retrying every 2 s.`;
    const hint = err.status === 404 ? ' It may have been removed; the lists refresh every 2 s.' : '';
    return `${what} failed: ${err.error} (HTTP ${err.status}).${hint}`;
  }
  if (err instanceof TypeError)
    return `${what} failed: cannot reach the platform at ${BASE_URL} (${err.message}). Check that agentd-platform is running; this page keeps retrying every 2 s.`;
  return `${what} failed: ${err instanceof Error ? err.message : String(err)}`;
}

/** Reads a status change out to screen readers (polite: after what they are reading). */
function announce(text: string): void {
  const el = byId('announce');
  el.textContent = '';
  // A fresh text node after a tick makes repeated identical messages be read again.
  setTimeout(() => (el.textContent = text), 50);
}

const isUnauthorized = (e: unknown): boolean => e instanceof AdminApiError && e.status === 401;

// ---------------------------------------------------------------- sign-in

function showLogin(): void {
  byId('app').hidden = true;
  byId('session').hidden = true;
  byId('login').hidden = false;
  byId<HTMLInputElement>('admin-token').focus();
}

async function signIn(token: string, fromStorage: boolean): Promise<void> {
  const c = new AdminClient(BASE_URL, token);
  let workspaces: Workspace[];
  try {
    workspaces = await c.listWorkspaces();
  } catch (e) {
    if (fromStorage && isUnauthorized(e)) sessionStorage.removeItem(TOKEN_KEY);
    showError(describe(e, 'Sign-in'), 'action');
    showLogin();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  client = c;
  clearError();
  byId<HTMLInputElement>('admin-token').value = '';

  const select = byId<HTMLSelectElement>('workspace');
  select.replaceChildren(...workspaces.map((w) => h('option', { value: w.id }, `${w.name} (${shortId(w.id)})`)));
  const remembered = sessionStorage.getItem(WORKSPACE_KEY);
  const chosen = workspaces.find((w) => w.id === remembered) ?? workspaces[0];
  if (chosen) select.value = chosen.id;
  byId('login').hidden = true;
  byId('session').hidden = false;
  byId('app').hidden = false;
  switchWorkspace(chosen?.id ?? null);
  byId('add-machine').focus();
}

function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  client = null;
  switchWorkspace(null);
  showLogin();
}

function switchWorkspace(id: string | null): void {
  generation++;
  workspace = id;
  if (id) sessionStorage.setItem(WORKSPACE_KEY, id);
  hideInstall();
  hideSecret();
  byId('conn-panel').hidden = true;
  byId('fleet-panel').hidden = true;
  byId('tokens-wrap').hidden = true;
  closeTask();
  daemonRows.clear();
  taskRows.clear();
  agentRows.clear();
  agentsById.clear();
  endAgentEdit();
  byId('agent-table').querySelector('tbody')!.replaceChildren();
  byId('agents-empty').hidden = true;
  byId('daemons').querySelector('tbody')!.replaceChildren();
  byId('task-table').querySelector('tbody')!.replaceChildren();
  byId('daemons-empty').hidden = true;
  byId('tasks-empty').hidden = true;
  seenDaemonState.clear();
  seenTaskState.clear();
  firstPoll = true;
  if (id) refreshNow();
}

// ---------------------------------------------------------------- polling

let pollTimer: ReturnType<typeof setTimeout> | undefined;
let polling = false;
let pollAgain = false;
let firstPoll = true;

function refreshNow(): void {
  clearTimeout(pollTimer);
  if (polling) pollAgain = true;
  else void poll();
}

async function poll(): Promise<void> {
  const c = client;
  const ws = workspace;
  const gen = generation;
  if (!c || !ws) return;
  if (document.hidden) {
    // Nobody is looking: don't poll; visibilitychange brings it back at once.
    pollTimer = setTimeout(poll, POLL_MS);
    return;
  }
  polling = true;
  try {
    const [daemons, agents, tasks, tokens] = await Promise.all([c.listDaemons(ws), c.listAgents(ws), c.listTasks(ws, TASK_LIST_LIMIT), c.listInstallTokens(ws)]);
    if (gen !== generation) return;
    renderDaemons(daemons);
    renderAgents(agents);
    renderTasks(tasks);
    renderTokens(tokens);
    if (openTaskId) await refreshTask(c, ws, gen);
    firstPoll = false;
    clearError('poll');
  } catch (e) {
    if (gen !== generation) return;
    showError(describe(e, 'Refreshing'), 'poll');
    if (isUnauthorized(e)) {
      signOut();
      return;
    }
  } finally {
    polling = false;
    if (gen === generation && client) {
      if (pollAgain) {
        pollAgain = false;
        void poll();
      } else {
        pollTimer = setTimeout(poll, POLL_MS);
      }
    }
  }
}

// ---------------------------------------------------------------- daemons

interface DaemonRow {
  tr: HTMLTableRowElement;
  name: HTMLElement;
  sub: HTMLElement;
  enrolNote: HTMLElement;
  badge: HTMLElement;
  heartbeat: HTMLElement;
  heartbeatAt: string | null;
  runtimes: HTMLElement;
  running: HTMLElement;
  conn: HTMLButtonElement;
  rotate: HTMLButtonElement;
  revoke: HTMLButtonElement;
  data: DaemonSummary;
}
const daemonRows = new Map<string, DaemonRow>();
const seenDaemonState = new Map<string, string>();

function makeDaemonRow(d: DaemonSummary): DaemonRow {
  // The handlers read row.data at click time: the row outlives many polls.
  const small = (text: string, act: (d: DaemonSummary) => Promise<void>) =>
    h('button', { type: 'button', class: 'small', onclick: () => void act(row.data) }, text);
  const row: DaemonRow = {
    tr: h('tr', { 'data-daemon-id': d.daemon_id }),
    name: h('strong'),
    sub: h('span', { class: 'sub' }),
    enrolNote: h('span', { class: 'sub enrol-note' }),
    badge: h('span', { class: 'badge' }),
    heartbeat: h('td'),
    heartbeatAt: null,
    runtimes: h('td'),
    running: h('td', { class: 'num' }),
    conn: small('Connection info', showConnection),
    rotate: small('Rotate…', rotateDaemon),
    revoke: small('Revoke…', revokeDaemon),
    data: d,
  };
  row.tr.append(
    h('td', {}, row.name, row.sub, row.enrolNote),
    h('td', {}, row.badge),
    row.heartbeat,
    row.runtimes,
    row.running,
    h('td', { class: 'actions' }, row.conn, row.rotate, row.revoke),
  );
  return row;
}

function updateHeartbeatCell(r: DaemonRow): void {
  if (!r.heartbeatAt) {
    setText(r.heartbeat, 'never');
    return;
  }
  setText(r.heartbeat, formatAge(Date.now() - Date.parse(r.heartbeatAt)));
  r.heartbeat.title = formatTime(r.heartbeatAt);
}

let lastDaemons: DaemonSummary[] = [];

function renderDaemons(list: DaemonSummary[]): void {
  lastDaemons = list;
  byId<HTMLButtonElement>('revoke-all').disabled = !list.some((d) => !d.revoked);
  const tbody = byId('daemons').querySelector('tbody')!;
  const sorted = [...list].sort((a, b) => a.device_name.localeCompare(b.device_name) || a.daemon_id.localeCompare(b.daemon_id));
  const changes: string[] = [];
  const keep = new Set<string>();
  sorted.forEach((d, i) => {
    keep.add(d.daemon_id);
    let r = daemonRows.get(d.daemon_id);
    if (!r) {
      r = makeDaemonRow(d);
      daemonRows.set(d.daemon_id, r);
    }
    r.data = d;
    // Buttons say which machine they act on, for screen readers that read a button alone.
    r.conn.setAttribute('aria-label', `Connection info of ${d.device_name}`);
    r.rotate.setAttribute('aria-label', `Rotate credentials of ${d.device_name}`);
    r.revoke.setAttribute('aria-label', `Revoke ${d.device_name}`);
    setText(r.name, d.device_name);
    setText(r.sub, [shortId(d.daemon_id), d.os, d.cli_version ? `agentd ${d.cli_version}` : null].filter(Boolean).join(' · '));
    setText(r.enrolNote, enrolmentNote(d));
    r.enrolNote.hidden = r.enrolNote.textContent === '';
    const st = daemonState(d);
    setText(r.badge, st.label);
    r.badge.className = `badge ${st.tone}`;
    r.heartbeatAt = d.last_heartbeat_at;
    updateHeartbeatCell(r);
    const rts = d.runtimes.filter((rt) => !rt.deregistered);
    setText(r.runtimes, rts.length ? rts.map((rt) => (rt.version ? `${rt.name} ${rt.version}` : rt.name)).join(', ') : '—');
    setText(r.running, String(d.running_tasks));
    r.revoke.disabled = d.revoked;
    const prev = seenDaemonState.get(d.daemon_id);
    if (!firstPoll && prev !== st.label) changes.push(prev === undefined ? `New machine ${d.device_name}: ${st.label}` : `${d.device_name} is now ${st.label}`);
    seenDaemonState.set(d.daemon_id, st.label);
    // Only move rows whose place changed: moving a row would drop keyboard focus inside it.
    if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] ?? null);
  });
  for (const [id, r] of daemonRows) {
    if (keep.has(id)) continue;
    r.tr.remove();
    daemonRows.delete(id);
  }
  byId('daemons-empty').hidden = list.length > 0;

  // Tasks route by runtime type (a Multica daemon names its runtimes "Claude (host)").
  const names = new Set(list.filter((d) => !d.revoked).flatMap((d) => d.runtimes.filter((rt) => !rt.deregistered).map((rt) => rt.type)));
  names.add('command');
  const dl = byId('runtime-names');
  const want = [...names].sort().join('\n');
  if (dl.dataset.names !== want) {
    dl.dataset.names = want;
    dl.replaceChildren(...[...names].sort().map((n) => h('option', { value: n })));
  }
  if (changes.length) announce(changes.join('. '));
}

// ---------------------------------------------------------------- install command (Add machine, fleet token)

let installTick: ReturnType<typeof setInterval> | undefined;

const SNIPPET_LABELS: Record<keyof ConnectionSnippets, string> = {
  one_liner: 'One-liner (enrols; without a token it upgrades an enrolled machine in place)',
  credentials_set: 'Put a daemon credential in place on an enrolled machine',
  env: 'Environment (for provisioning scripts)',
};

/** The payload's snippets, each with its own Copy button; built from what the API sent. */
function renderSnippets(container: HTMLElement, snippets: ConnectionSnippets | undefined, skip: (keyof ConnectionSnippets)[] = []): void {
  if (!snippets) {
    container.replaceChildren();
    return;
  }
  const items = (Object.keys(SNIPPET_LABELS) as (keyof ConnectionSnippets)[]).filter((k) => !skip.includes(k) && snippets[k]);
  container.replaceChildren(
    ...items.flatMap((k) => {
      const pre = h('pre', { class: 'snippet', 'data-snippet': k, tabindex: '0', 'aria-label': SNIPPET_LABELS[k] }, h('code', {}, snippets[k]));
      const btn = h('button', { type: 'button', 'aria-label': `Copy: ${SNIPPET_LABELS[k]}` }, 'Copy');
      btn.addEventListener('click', () => {
        void copyText(snippets[k]).then((ok) => {
          setText(btn, ok ? 'Copied' : 'Copy failed');
          setTimeout(() => setText(btn, 'Copy'), 2000);
        });
      });
      return [h('h4', {}, SNIPPET_LABELS[k]), h('div', { class: 'copy-row' }, pre, btn)];
    }),
  );
}

function addMachine(): Promise<void> {
  return mintInstall({}, byId<HTMLButtonElement>('add-machine'));
}

async function mintFleet(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const uses = Number(byId<HTMLInputElement>('fleet-uses').value);
  const minutes = Number(byId<HTMLInputElement>('fleet-ttl').value);
  const ephemeral = byId<HTMLInputElement>('fleet-ephemeral').checked;
  const submit = (ev.target as HTMLFormElement).querySelector<HTMLButtonElement>('button[type=submit]')!;
  await mintInstall({ uses, ttl_s: Math.round(minutes * 60), ...(ephemeral ? { ephemeral } : {}) }, submit);
  byId('fleet-panel').hidden = true;
}

async function mintInstall(opts: CreateInstallTokenRequest, btn: HTMLButtonElement): Promise<void> {
  const c = client;
  const ws = workspace;
  if (!c || !ws) return;
  btn.disabled = true;
  try {
    const t = await c.createInstallToken(ws, opts);
    // Count down from the TTL the platform granted, on this clock: immune to clock skew.
    const ttl = Date.parse(t.expires_at) - Date.parse(t.created_at);
    const started = performance.now();
    hideInstall();
    setText(byId('install-title'), t.uses > 1 ? `Fleet install command (${t.uses} machines)` : 'Install command');
    setText(byId('install-uses'), usesText(t.uses, t.uses_left, t.ephemeral));
    // The one-liner is the API's snippet: the page builds no command of its own.
    setText(byId('install-command'), t.snippets.one_liner);
    renderSnippets(byId('install-snippets'), t.snippets, ['one_liner', 'credentials_set']);
    byId<HTMLButtonElement>('install-copy').disabled = false;
    byId('install-panel').hidden = false;
    const countdown = h('span', { id: 'install-countdown', class: 'countdown' });
    byId('install-expiry').replaceChildren('It expires in ', countdown, '.');
    const tick = () => {
      const left = ttl - (performance.now() - started);
      if (left > 0) {
        setText(countdown, formatCountdown(left));
        return;
      }
      clearInterval(installTick);
      byId('install-expiry').replaceChildren(h('strong', { class: 'expired' }, 'It has expired.'), ' Press Add machine for a new one.');
      setText(byId('install-command'), 'Expired: press Add machine for a new command.');
      byId('install-snippets').replaceChildren();
      byId<HTMLButtonElement>('install-copy').disabled = true;
      announce('The install command expired.');
    };
    tick();
    installTick = setInterval(tick, 1000);
    byId('install-command').focus();
    announce(`Install command ready; it expires in ${formatCountdown(ttl)}.`);
    clearError('action');
  } catch (e) {
    showError(describe(e, 'Creating an install command'), 'action');
  } finally {
    btn.disabled = false;
  }
}

function hideInstall(): void {
  clearInterval(installTick);
  setText(byId('install-command'), '');
  byId('install-snippets').replaceChildren();
  byId('install-panel').hidden = true;
}

/** The live install tokens (uses left, expiry); never a token value, the API does not send one. */
function renderTokens(list: InstallTokenSummary[]): void {
  byId('tokens-wrap').hidden = list.length === 0;
  byId('tokens')
    .querySelector('tbody')!
    .replaceChildren(
      ...list.map((t) =>
        h(
          'tr',
          { 'data-token-id': t.id },
          h('td', {}, h('code', { title: t.id }, shortId(t.id))),
          h('td', { class: 'num uses-left' }, `${t.uses_left} of ${t.uses}`),
          h('td', {}, formatTime(t.expires_at)),
          h('td', {}, `${t.uses > 1 ? 'fleet' : 'single machine'}${t.ephemeral ? ', ephemeral' : ''}`),
        ),
      ),
    );
}

// ---------------------------------------------------------------- rotate, revoke, connection info

/** Opens the confirm dialog; resolves true only when the person pressed the confirm button. */
function confirmAction(title: string, body: Node[], okLabel: string): Promise<boolean> {
  const dlg = byId<HTMLDialogElement>('confirm');
  setText(byId('confirm-title'), title);
  byId('confirm-body').replaceChildren(...body);
  setText(byId('confirm-ok'), okLabel);
  dlg.returnValue = '';
  dlg.showModal();
  byId('confirm-cancel').focus();
  return new Promise((resolve) => dlg.addEventListener('close', () => resolve(dlg.returnValue === 'confirm'), { once: true }));
}

const cmd = (s: string) => h('code', {}, s);

/** "2 running tasks failed (runtime_offline), 1 queued again" */
function endedText(o: { tasks_failed: number; tasks_requeued: number }): string {
  const parts: string[] = [];
  if (o.tasks_failed) parts.push(`${o.tasks_failed} running task${o.tasks_failed === 1 ? '' : 's'} failed (runtime_offline)`);
  if (o.tasks_requeued) parts.push(`${o.tasks_requeued} claimed task${o.tasks_requeued === 1 ? '' : 's'} queued again`);
  return parts.length ? parts.join(', ') : 'no task was running';
}

async function revokeAll(): Promise<void> {
  const live = lastDaemons.filter((d) => !d.revoked);
  const running = live.reduce((n, d) => n + d.running_tasks, 0);
  const n = live.length;
  const ok = await confirmAction(
    `Revoke all ${n} machine${n === 1 ? '' : 's'}?`,
    [
      h('p', {}, h('strong', {}, `${n} machine${n === 1 ? '' : 's'} stop${n === 1 ? 's' : ''} working`), ` at once: every daemon credential of this workspace is revoked, in one step.`),
      h(
        'ul',
        {},
        h('li', {}, running ? `${running} running task${running === 1 ? '' : 's'} fail${running === 1 ? 's' : ''} now (runtime_offline); claimed ones that had not started go back to the queue;` : 'no task is running on them right now;'),
        h('li', {}, 'each machine needs a new credential (Rotate, then ', cmd('agentd credentials set'), ') or a new install command to work again.'),
      ),
      h('p', {}, 'Use it when machines move to another workspace or the workspace may be compromised.'),
    ],
    `Revoke ${n} machine${n === 1 ? '' : 's'}`,
  );
  if (!ok || !client || !workspace) return;
  try {
    const r = await client.revokeAllDaemons(workspace);
    announce(`Revoked ${r.revoked} credential${r.revoked === 1 ? '' : 's'}; ${endedText(r)}.`);
    clearError('action');
    refreshNow();
  } catch (e) {
    showError(describe(e, 'Revoking all machines'), 'action');
  }
}

async function revokeDaemon(d: DaemonSummary): Promise<void> {
  const ok = await confirmAction(
    `Revoke ${d.device_name}?`,
    [
      h('p', {}, 'Its credential stops working on its next call to the platform (no grace period). The running daemon then:'),
      h(
        'ul',
        {},
        h('li', {}, 'stops taking new tasks;'),
        h('li', {}, 'its running tasks fail here at once (runtime_offline), claimed ones that had not started go back to the queue;'),
        h('li', {}, 'keeps running and waits for a new credential: use ', h('strong', {}, 'Rotate'), ' here and run ', cmd('agentd credentials set'), ' on the machine, or enrol it again with a new install command.'),
      ),
    ],
    'Revoke credential',
  );
  if (!ok || !client || !workspace) return;
  try {
    const r = await client.revokeDaemon(workspace, d.daemon_id);
    announce(`${d.device_name}: credential revoked; ${endedText(r)}.`);
    clearError('action');
    refreshNow();
  } catch (e) {
    showError(describe(e, `Revoking ${d.device_name}`), 'action');
  }
}

async function rotateDaemon(d: DaemonSummary): Promise<void> {
  const ok = await confirmAction(
    `Rotate the credential of ${d.device_name}?`,
    [
      h('p', {}, 'A new credential is created and shown once, on this page. The old one stops working at once:'),
      h(
        'ul',
        {},
        h('li', {}, 'the tasks it is running fail here at once (runtime_offline); claimed ones that had not started go back to the queue;'),
        h('li', {}, 'the running daemon is refused on its next call and goes to the revoked state: it stops taking tasks;'),
        h('li', {}, 'put the new token on the machine with ', cmd('agentd credentials set'), ': the daemon picks it up without a restart and is ready again.'),
      ),
    ],
    'Rotate credential',
  );
  if (!ok || !client || !workspace) return;
  try {
    const info = await client.rotateDaemon(workspace, d.daemon_id);
    hideSecret();
    setText(byId('secret-device'), d.device_name);
    setText(byId('secret-token'), info.token);
    renderSnippets(byId('secret-snippets'), info.snippets);
    setText(byId('secret-tasks'), `On the platform: ${endedText(info)}.`);
    byId('secret-panel').hidden = false;
    byId('secret-token').focus();
    announce(`${d.device_name}: credential rotated. The new token is shown once.`);
    clearError('action');
    refreshNow();
  } catch (e) {
    showError(describe(e, `Rotating the credential of ${d.device_name}`), 'action');
  }
}

function hideSecret(): void {
  setText(byId('secret-token'), '');
  byId('secret-snippets').replaceChildren();
  setText(byId('secret-tasks'), '');
  setText(byId('secret-device'), '');
  byId('secret-panel').hidden = true;
}

async function showConnection(d: DaemonSummary): Promise<void> {
  if (!client || !workspace) return;
  let info: ConnectionInfo;
  try {
    info = await client.connection(workspace, d.daemon_id);
  } catch (e) {
    showError(describe(e, `Reading the connection info of ${d.device_name}`), 'action');
    return;
  }
  setText(byId('conn-title'), `Connection info: ${d.device_name}`);
  fillFacts(byId('conn-list'), [
    ['Platform URL', cmd(info.platform_url)],
    ['Workspace', cmd(info.workspace_id)],
    ['Daemon id', cmd(info.daemon_id)],
    ['Token', 'not shown (only Rotate shows a new one, once)'],
    ['Issued', formatTime(info.issued_at)],
    ['Revoked', info.revoked_at ? formatTime(info.revoked_at) : 'no'],
  ]);
  renderSnippets(byId('conn-snippets'), info.snippets);
  byId('conn-panel').hidden = false;
  byId('conn-done').focus();
  clearError('action');
}

// ---------------------------------------------------------------- agents

interface AgentRow {
  tr: HTMLTableRowElement;
  name: HTMLElement;
  provider: HTMLElement;
  model: HTMLElement;
  instructions: HTMLElement;
  extras: HTMLElement;
  edit: HTMLButtonElement;
  data: Agent;
}
const agentRows = new Map<string, AgentRow>();
const agentsById = new Map<string, Agent>();
/** The agent the form is editing (null: the form adds a new one). */
let editingAgent: string | null = null;

function makeAgentRow(a: Agent): AgentRow {
  const row: AgentRow = {
    tr: h('tr', { 'data-agent-id': a.id }),
    name: h('strong'),
    provider: h('td'),
    model: h('td'),
    instructions: h('code'),
    extras: h('td'),
    edit: h('button', { type: 'button', class: 'small', onclick: () => startAgentEdit(row.data) }, 'Edit'),
    data: a,
  };
  row.tr.append(h('td', {}, row.name), row.provider, row.model, h('td', { class: 'prompt' }, row.instructions), row.extras, h('td', { class: 'actions' }, row.edit));
  return row;
}

function renderAgents(list: Agent[]): void {
  const tbody = byId('agent-table').querySelector('tbody')!;
  const keep = new Set<string>();
  agentsById.clear();
  list.forEach((a, i) => {
    keep.add(a.id);
    agentsById.set(a.id, a);
    let r = agentRows.get(a.id);
    if (!r) {
      r = makeAgentRow(a);
      agentRows.set(a.id, r);
    }
    r.data = a;
    r.edit.setAttribute('aria-label', `Edit agent ${a.name}`);
    setText(r.name, a.name);
    setText(r.provider, a.provider);
    setText(r.model, a.model ?? '—');
    setText(r.instructions, a.instructions || '—');
    r.instructions.title = a.instructions;
    setText(r.extras, agentExtras(a));
    if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] ?? null);
  });
  for (const [id, r] of agentRows) {
    if (keep.has(id)) continue;
    r.tr.remove();
    agentRows.delete(id);
  }
  byId('agents-empty').hidden = list.length > 0;

  // The "Run as" choice of the task form; the current choice survives a refresh.
  const sel = byId<HTMLSelectElement>('task-agent');
  const want = list.map((a) => `${a.id}\t${a.name}\t${a.provider}`).join('\n');
  if (sel.dataset.agents !== want) {
    const chosen = sel.value;
    sel.dataset.agents = want;
    sel.replaceChildren(h('option', { value: '' }, 'A prompt for a runtime'), ...list.map((a) => h('option', { value: a.id }, `Agent ${a.name} (${a.provider})`)));
    sel.value = list.some((a) => a.id === chosen) ? chosen : '';
    syncEnqueueMode();
  }
}

function startAgentEdit(a: Agent): void {
  editingAgent = a.id;
  byId<HTMLInputElement>('agent-name').value = a.name;
  byId<HTMLInputElement>('agent-provider').value = a.provider;
  byId<HTMLInputElement>('agent-model').value = a.model ?? '';
  byId<HTMLTextAreaElement>('agent-instructions').value = a.instructions;
  byId<HTMLTextAreaElement>('agent-env').value = Object.entries(a.custom_env).map(([k, v]) => `${k}=${v}`).join('\n');
  byId<HTMLTextAreaElement>('agent-args').value = a.custom_args.join('\n');
  setText(byId('agent-form-mode'), `Editing agent ${a.name}`);
  setText(byId('agent-submit'), 'Save agent');
  byId('agent-cancel-edit').hidden = false;
  byId('agent-name').focus();
}

function endAgentEdit(): void {
  editingAgent = null;
  byId<HTMLFormElement>('agent-form').reset();
  setText(byId('agent-form-mode'), 'New agent');
  setText(byId('agent-submit'), 'Add agent');
  byId('agent-cancel-edit').hidden = true;
}

async function saveAgent(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const c = client;
  const ws = workspace;
  if (!c || !ws) return;
  const env = parseEnvLines(byId<HTMLTextAreaElement>('agent-env').value);
  if ('badLine' in env) {
    showError(`Saving the agent failed: the environment line ${JSON.stringify(env.badLine)} is not KEY=value (a name of letters, digits and _, not starting with a digit).`, 'action');
    byId('agent-env').focus();
    return;
  }
  const model = byId<HTMLInputElement>('agent-model').value.trim();
  const body = {
    name: byId<HTMLInputElement>('agent-name').value.trim(),
    provider: byId<HTMLInputElement>('agent-provider').value.trim(),
    instructions: byId<HTMLTextAreaElement>('agent-instructions').value,
    model, // "" clears it
    custom_env: env.env,
    custom_args: parseArgLines(byId<HTMLTextAreaElement>('agent-args').value),
  };
  const submit = byId<HTMLButtonElement>('agent-submit');
  submit.disabled = true;
  try {
    const a = editingAgent ? await c.updateAgent(ws, editingAgent, body) : await c.createAgent(ws, body);
    announce(`Agent ${a.name} saved.`);
    endAgentEdit();
    clearError('action');
    refreshNow();
  } catch (e) {
    showError(describe(e, 'Saving the agent'), 'action');
  } finally {
    submit.disabled = false;
  }
}

/** "Run as" an agent: the runtime comes from the agent and the text is its chat message. */
function syncEnqueueMode(): void {
  const agentId = byId<HTMLSelectElement>('task-agent').value;
  const runtime = byId<HTMLInputElement>('task-runtime');
  byId('task-runtime-field').hidden = agentId !== '';
  runtime.required = agentId === '';
  const label = byId('task-prompt-label');
  if (agentId) label.replaceChildren('Message ', h('span', { class: 'muted' }, '(what the agent is asked)'));
  else label.replaceChildren('Prompt ', h('span', { class: 'muted' }, '(for ', h('code', {}, 'command'), ': a shell command)'));
}

// ---------------------------------------------------------------- tasks

interface TaskRow {
  tr: HTMLTableRowElement;
  badge: HTMLElement;
  cancel: HTMLButtonElement;
}
const taskRows = new Map<string, TaskRow>();
const seenTaskState = new Map<string, string>();

function makeTaskRow(t: TaskDetail): TaskRow {
  const badge = h('span', { class: 'badge' });
  const cancel = h('button', { type: 'button', class: 'small', 'aria-label': `Cancel task ${shortId(t.id)}`, onclick: () => void cancelTask(t.id) }, 'Cancel');
  const tr = h(
    'tr',
    { 'data-task-id': t.id },
    h('td', {}, h('code', { title: t.id }, shortId(t.id))),
    h('td', {}, t.agent_id ? `${agentsById.get(t.agent_id)?.name ?? shortId(t.agent_id)} · ${t.runtime}` : t.runtime),
    h('td', { class: 'prompt' }, h('code', { title: t.chat_message ?? t.prompt }, t.chat_message ?? t.prompt)),
    h('td', {}, badge),
    h('td', {}, formatTime(t.created_at)),
    h(
      'td',
      { class: 'actions' },
      h('button', { type: 'button', class: 'small', 'aria-label': `Details of task ${shortId(t.id)}`, onclick: () => void openTask(t.id) }, 'Details'),
      cancel,
    ),
  );
  return { tr, badge, cancel };
}

function renderTasks(list: TaskDetail[]): void {
  const tbody = byId('task-table').querySelector('tbody')!;
  const changes: string[] = [];
  const keep = new Set<string>();
  list.forEach((t, i) => {
    keep.add(t.id);
    let r = taskRows.get(t.id);
    if (!r) {
      r = makeTaskRow(t);
      taskRows.set(t.id, r);
    }
    const st = taskState(t);
    setText(r.badge, st.label);
    r.badge.className = `badge ${st.tone}`;
    r.badge.title = t.error ?? '';
    r.cancel.hidden = isTerminal(t.status);
    const prev = seenTaskState.get(t.id);
    if (!firstPoll && prev !== undefined && prev !== st.label) changes.push(`Task ${shortId(t.id)} ${st.label}`);
    seenTaskState.set(t.id, st.label);
    if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] ?? null);
  });
  for (const [id, r] of taskRows) {
    if (keep.has(id)) continue;
    r.tr.remove();
    taskRows.delete(id);
  }
  byId('tasks-empty').hidden = list.length > 0;
  if (changes.length) announce(changes.join('. '));
}

async function enqueue(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  if (!client || !workspace) return;
  const runtime = byId<HTMLInputElement>('task-runtime').value.trim();
  const agentId = byId<HTMLSelectElement>('task-agent').value;
  const promptEl = byId<HTMLTextAreaElement>('task-prompt');
  const timeoutRaw = byId<HTMLInputElement>('task-timeout').value.trim();
  const submit = (ev.target as HTMLFormElement).querySelector<HTMLButtonElement>('button[type=submit]')!;
  submit.disabled = true;
  try {
    const timeout = timeoutRaw ? { timeout_s: Number(timeoutRaw) } : {};
    const { id } = agentId
      ? await client.enqueueAgentTask(workspace, { agent_id: agentId, chat_message: promptEl.value, ...timeout })
      : await client.enqueueTask(workspace, { runtime, prompt: promptEl.value, ...timeout });
    promptEl.value = '';
    announce(`Task ${shortId(id)} queued.`);
    clearError('action');
    void openTask(id, false);
    refreshNow();
  } catch (e) {
    showError(describe(e, 'Enqueueing the task'), 'action');
  } finally {
    submit.disabled = false;
  }
}

async function cancelTask(id: string): Promise<void> {
  if (!client || !workspace) return;
  try {
    await client.cancelTask(workspace, id);
    announce(`Task ${shortId(id)}: cancel requested.`);
    clearError('action');
    refreshNow();
  } catch (e) {
    showError(describe(e, `Cancelling task ${shortId(id)}`), 'action');
  }
}

// ---------------------------------------------------------------- task detail (messages)

let openTaskId: string | null = null;
let lastSeq = -1;

async function openTask(id: string, focus = true): Promise<void> {
  openTaskId = id;
  lastSeq = -1;
  byId('task-messages').replaceChildren();
  byId('task-messages-empty').hidden = false;
  fillFacts(byId('task-facts'), []);
  setText(byId('task-detail-title'), `Task ${shortId(id)}`);
  const panel = byId('task-detail');
  panel.hidden = false;
  if (focus) {
    const title = byId('task-detail-title');
    title.tabIndex = -1;
    title.focus();
  }
  if (client && workspace) {
    try {
      await refreshTask(client, workspace, generation);
    } catch (e) {
      showError(describe(e, `Reading task ${shortId(id)}`), 'action');
    }
  }
}

function closeTask(): void {
  openTaskId = null;
  byId('task-detail').hidden = true;
}

function messageBody(m: TaskMessage): string {
  if (m.content !== undefined && m.content !== '') return m.content;
  const parts = [m.tool, m.input === undefined ? undefined : JSON.stringify(m.input), m.output === undefined ? undefined : JSON.stringify(m.output)];
  return parts.filter((p) => p !== undefined && p !== '').join(' ');
}

async function refreshTask(c: AdminClient, ws: string, gen: number): Promise<void> {
  const id = openTaskId;
  if (!id) return;
  // Page through new messages only (seq > last seen): cheap even for chatty tasks.
  const t = await c.getTask(ws, id, { messagesAfter: lastSeq, messagesLimit: MESSAGE_PAGE });
  if (gen !== generation || openTaskId !== id) return;
  const st = taskState(t);
  const facts: [string, Node | string][] = [
    ['Status', h('span', { class: `badge ${st.tone}` }, st.label)],
    ['Runtime', t.runtime],
  ];
  if (t.agent_id) {
    facts.push(['Agent', agentsById.get(t.agent_id)?.name ?? cmd(t.agent_id)]);
    facts.push(['Message', h('code', { class: 'body' }, t.chat_message ?? '')]);
  } else {
    facts.push(['Prompt', h('code', { class: 'body' }, t.prompt)]);
  }
  if (t.wait_reason && t.status === 'claimed') facts.push(['Waiting for', t.wait_reason]);
  if (t.timeout_s) facts.push(['Timeout', `${t.timeout_s} s`]);
  if (t.daemon_id) facts.push(['Machine', daemonRows.get(t.daemon_id)?.data.device_name ?? shortId(t.daemon_id)]);
  facts.push(['Created', formatTime(t.created_at)]);
  if (t.started_at) facts.push(['Started', formatTime(t.started_at)]);
  if (t.finished_at) facts.push(['Finished', formatTime(t.finished_at)]);
  if (t.failure_reason) facts.push(['Failure reason', cmd(t.failure_reason)]);
  if (t.error) facts.push(['Error', t.error]);
  if (t.output) facts.push(['Output', h('code', {}, t.output)]);
  if (t.session_id) facts.push(['Session', cmd(t.session_id)]);
  if (t.work_dir) facts.push(['Work dir', cmd(t.work_dir)]);
  if (t.usage)
    facts.push([
      'Tokens',
      `${t.usage.input_tokens} in, ${t.usage.output_tokens} out, ${t.usage.cache_read_tokens} cache read, ${t.usage.cache_write_tokens} cache write`,
    ]);
  fillFacts(byId('task-facts'), facts);

  const ol = byId('task-messages');
  const stick = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 4;
  for (const m of t.messages) {
    if (m.seq <= lastSeq) continue;
    lastSeq = m.seq;
    ol.append(h('li', { class: String(m.type) }, h('span', { class: 'seq' }, `#${m.seq}`), h('span', { class: 'type' }, String(m.type)), h('span', { class: 'body' }, messageBody(m))));
  }
  while (ol.childElementCount > MAX_MESSAGES_SHOWN) ol.firstElementChild!.remove();
  byId('task-messages-empty').hidden = ol.childElementCount > 0;
  if (stick) ol.scrollTop = ol.scrollHeight;
}

// ---------------------------------------------------------------- wiring

function wire(): void {
  byId<HTMLFormElement>('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = byId<HTMLInputElement>('admin-token').value.trim();
    if (token) void signIn(token, false);
  });
  byId('sign-out').addEventListener('click', signOut);
  byId<HTMLSelectElement>('workspace').addEventListener('change', (ev) => switchWorkspace((ev.target as HTMLSelectElement).value));
  byId('error-dismiss').addEventListener('click', () => clearError());
  byId('add-machine').addEventListener('click', () => void addMachine());
  byId('fleet-open').addEventListener('click', () => {
    byId('fleet-panel').hidden = false;
    byId('fleet-uses').focus();
  });
  byId('fleet-cancel').addEventListener('click', () => (byId('fleet-panel').hidden = true));
  byId<HTMLFormElement>('fleet-form').addEventListener('submit', (ev) => void mintFleet(ev));
  byId('revoke-all').addEventListener('click', () => void revokeAll());
  byId('install-done').addEventListener('click', () => {
    hideInstall();
    byId('add-machine').focus();
  });
  byId('install-copy').addEventListener('click', () => void copyFrom('install-command', 'Install command'));
  byId('secret-copy').addEventListener('click', () => void copyFrom('secret-token', 'Token'));
  byId('secret-done').addEventListener('click', hideSecret);
  byId('conn-done').addEventListener('click', () => (byId('conn-panel').hidden = true));
  byId<HTMLFormElement>('enqueue-form').addEventListener('submit', (ev) => void enqueue(ev));
  byId<HTMLFormElement>('agent-form').addEventListener('submit', (ev) => void saveAgent(ev));
  byId('agent-cancel-edit').addEventListener('click', () => {
    endAgentEdit();
    byId('agent-name').focus();
  });
  byId('task-agent').addEventListener('change', syncEnqueueMode);
  byId('task-detail-close').addEventListener('click', closeTask);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && client) refreshNow();
  });
  // Ages ("12 s ago") move on between polls without asking the platform.
  setInterval(() => {
    for (const r of daemonRows.values()) updateHeartbeatCell(r);
  }, 1000);
}

async function copyFrom(id: string, what: string): Promise<void> {
  const ok = await copyText(byId(id).textContent ?? '');
  announce(ok ? `${what} copied to the clipboard.` : `Could not copy: select the text and copy it by hand.`);
  const btn = byId<HTMLButtonElement>(id === 'install-command' ? 'install-copy' : 'secret-copy');
  setText(btn, ok ? 'Copied' : 'Copy failed');
  setTimeout(() => setText(btn, 'Copy'), 2000);
}

wire();
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) void signIn(saved, true);
else showLogin();
