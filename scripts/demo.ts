// `npm run demo`: the whole loop on one machine, in about ten seconds, touching nothing
// outside one temp directory. It starts the reference platform on a free loopback port,
// mints an install token, enrols this machine with the real `agentd install --no-service
// --mode user` under a temporary HOME, runs `agentd run`, and sends three `command` tasks:
// one succeeds, one goes silent and is killed by the idle watchdog, one is cancelled.
//
//   npm run demo              keeps the platform and daemon up for the web page; Ctrl-C stops
//   node dist/demo.mjs --once  exits after the three tasks: 0 only if all three ended as expected
//
// Children run in their own process groups so that Ctrl-C reaches only this script, which
// then stops them in order (daemon first, so it drains and deregisters) and removes the
// temp directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import pc from 'picocolors';
import type { TaskDetail } from '../api/types.js';
import { AdminClient } from '../platform/admin-client.js';

const ONCE = process.argv.includes('--once');
const IDLE_TIMEOUT_S = 3;
/** --once must finish well inside 30 s; a step that takes longer than this is a failure. */
const STEP_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------- where things are

function distDir(): string {
  let here = dirname(fileURLToPath(import.meta.url));
  if (basename(here) === 'chunks') here = dirname(here);
  // From the sources (tsx, vitest) the bundles are in ../dist.
  return existsSync(join(here, 'agentd.mjs')) ? here : join(here, '..', 'dist');
}
const DIST = distDir();
const AGENTD = join(DIST, 'agentd.mjs');
const PLATFORM = join(DIST, 'agentd-platform.mjs');

// ---------------------------------------------------------------- output

const started = Date.now();
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const out = (s = '') => process.stdout.write(s + '\n');
const step = (ok: boolean, label: string, text: string) => out(`  ${ok ? pc.green('✓') : pc.red('✗')} ${pc.bold(label.padEnd(9))} ${text}`);

class DemoError extends Error {
  constructor(
    message: string,
    readonly detail = '',
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- children

interface Child {
  name: string;
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}
const children: Child[] = [];

function start(name: string, args: string[], env: NodeJS.ProcessEnv, onLine?: (line: string) => void): Child {
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  let partial = '';
  const take = (b: Buffer) => {
    const s = b.toString();
    text = (text + s).slice(-64 * 1024);
    if (!onLine) return;
    partial += s;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  };
  proc.stdout!.on('data', take);
  proc.stderr!.on('data', take);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const c = { name, proc, output: () => text, exited };
  children.push(c);
  return c;
}

/** Runs a command to completion (agentd install). */
async function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const c = start('agentd install', args, env);
  const code = await c.exited;
  children.splice(children.indexOf(c), 1);
  return { code, output: c.output() };
}

async function stopChild(c: Child, graceMs: number): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  await c.exited;
  clearTimeout(t);
}

// If this process dies some other way, take the children with it.
process.once('exit', () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
});

/** The environment of agentd: ours minus AGENTD_* and service-manager variables, plus the demo's. */
function agentdEnv(home: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AGENTD_') && k !== 'NOTIFY_SOCKET' && k !== 'WATCHDOG_USEC') env[k] = v;
  return { ...env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_STATE_HOME: join(home, '.local', 'state'), ...extra };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, get: () => Promise<T | undefined> | T | undefined, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new DemoError(`${what} did not happen within ${secs(timeoutMs)}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------- the demo

interface Outcome {
  ok: boolean;
  label: string;
  text: string;
}

const root = mkdtempSync(join(tmpdir(), 'agentd-demo-'));
let platform: Child | undefined;
let daemon: Child | undefined;
let cleaning: Promise<void> | undefined;
let statusCommand: string | undefined;

function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    // Daemon first: it drains, reports and deregisters while the platform still answers.
    if (daemon) await stopChild(daemon, 10_000);
    if (platform) await stopChild(platform, 5_000);
    rmSync(root, { recursive: true, force: true });
  })());
}

async function demo(): Promise<boolean> {
  out(pc.bold('agentd demo') + pc.dim(` — a platform, one enrolled machine, three tasks; everything under ${root}`));
  out();

  // 1. The platform, on a free loopback port, with its state in the temp dir.
  const dataDir = join(root, 'platform');
  const readyFile = join(root, 'platform-ready.json');
  platform = start('agentd-platform', [PLATFORM, 'serve', '--host', '127.0.0.1', '--port', '0', '--data', dataDir, '--ready-file', readyFile], { ...process.env, AGENTD_PLATFORM_ADMIN_TOKEN: '' });
  const ready = await until('the platform start', async () => {
    if (platform!.proc.exitCode !== null) throw new DemoError(`agentd-platform exited with ${platform!.proc.exitCode}`, platform!.output());
    try {
      return JSON.parse(readFileSync(readyFile, 'utf8')) as { url: string; admin_token: string; workspace_id: string };
    } catch {
      return undefined;
    }
  });
  const admin = new AdminClient(ready.url, ready.admin_token);
  const ws = ready.workspace_id;
  step(true, 'platform', `agentd-platform listening on ${ready.url}`);

  // 2. A one-time install token, as "Add machine" on the web page makes.
  const tok = await admin.createInstallToken(ws);
  const ttlMin = Math.round((Date.parse(tok.expires_at) - Date.parse(tok.created_at)) / 60_000);
  step(true, 'token', `minted a one-time install token (mit_…, expires in ${ttlMin} min)`);

  // 3. Enrol, as install.sh would, but without a service: the token travels in the environment.
  const home = join(root, 'home');
  const inst = await run([AGENTD, 'install', '--platform', ready.url, '--no-service', '--mode', 'user', '--name', 'demo-machine'], agentdEnv(home, { AGENTD_INSTALL_TOKEN: tok.token }));
  if (inst.code !== 0) throw new DemoError(`agentd install exited with ${inst.code}`, inst.output);
  const daemonId = /daemon id\s+(\S+)/.exec(inst.output)?.[1] ?? '?';
  // Where install put things (it prints them): lets a person point `agentd status` at it.
  const configDir = /config\s+(\S+)\/config\.json/.exec(inst.output)?.[1];
  const stateDir = /state\s+(\S+)/.exec(inst.output)?.[1];
  const bin = relative(process.cwd(), join(DIST, '..', 'bin', 'agentd'));
  statusCommand = configDir && stateDir ? `${bin.startsWith('..') ? join(DIST, '..', 'bin', 'agentd') : bin} status --mode user --config-dir ${configDir} --state-dir ${stateDir}` : undefined;
  step(true, 'install', `agentd install --no-service --mode user → enrolled as "demo-machine" (daemon ${daemonId.slice(0, 8)})`);

  // 4. The daemon, with a short idle watchdog so task 2 is killed quickly.
  let healthUrl: string | undefined;
  let readyAt: number | undefined;
  const runStarted = Date.now();
  daemon = start(
    'agentd run',
    [AGENTD, 'run', '--mode', 'user'],
    agentdEnv(home, {
      AGENTD_HEALTH_ADDR: '127.0.0.1:0',
      AGENTD_TASK_IDLE_TIMEOUT: `${IDLE_TIMEOUT_S}s`,
      AGENTD_HEARTBEAT_INTERVAL: '2s',
      AGENTD_MAX_TASKS: '4',
      AGENTD_KILL_GRACE: '2s',
    }),
    (line) => {
      // The daemon logs JSON lines; the start line names the health port, state lines the state.
      try {
        const ev = JSON.parse(line) as { event?: string; health_url?: string; to?: string };
        if (ev.event === 'started' && ev.health_url) healthUrl = ev.health_url;
        if (ev.event === 'state' && ev.to === 'ready') readyAt ??= Date.now();
      } catch {
        // not JSON: ignore
      }
    },
  );
  await until('the daemon becoming ready', () => {
    if (daemon!.proc.exitCode !== null) throw new DemoError(`agentd run exited with ${daemon!.proc.exitCode}`, daemon!.output());
    return readyAt;
  });
  step(true, 'daemon', `agentd run → ready in ${secs(readyAt! - runStarted)}; health port ${healthUrl ?? '?'}/status`);

  // 5. Three tasks, run side by side.
  const hello = await admin.enqueueTask(ws, { runtime: 'command', prompt: 'echo "hello from agentd on $(uname -s)"' });
  const silent = await admin.enqueueTask(ws, { runtime: 'command', prompt: 'echo "thinking..."; sleep 60' });
  const loop = await admin.enqueueTask(ws, { runtime: 'command', prompt: 'i=0; while true; do i=$((i+1)); echo "step $i"; sleep 0.3; done' });
  const get = (id: string) => admin.getTask(ws, id);
  const terminal = (t: TaskDetail) => ['completed', 'failed', 'cancelled'].includes(t.status);

  // Cancel the loop once it is visibly running, then wait for the daemon to confirm it stopped it.
  const cancelOutcome = (async (): Promise<Outcome> => {
    await until('task 3 printing lines', async () => {
      const t = await get(loop.id);
      return t.status === 'running' && (t.message_count ?? t.messages.length) >= 3 ? t : undefined;
    });
    const cancelledAt = Date.now();
    await admin.cancelTask(ws, loop.id);
    const t = await until('the daemon stopping task 3', async () => {
      const t = await get(loop.id);
      return t.cancel_acked_at ? t : undefined;
    });
    const lines = t.message_count ?? t.messages.length;
    return {
      ok: t.status === 'cancelled',
      label: 'task 3',
      text: `endless loop      → ${t.status}${t.status === 'cancelled' ? '' : ' (expected cancelled)'} by the operator; the daemon stopped it ${secs(Date.parse(t.cancel_acked_at!) - cancelledAt)} later (${lines} output messages)`,
    };
  })();

  const helloOutcome = (async (): Promise<Outcome> => {
    const t = await until('task 1 finishing', async () => {
      const t = await get(hello.id);
      return terminal(t) ? t : undefined;
    });
    const first = (t.messages[0]?.content ?? t.output ?? '').trim();
    return { ok: t.status === 'completed', label: 'task 1', text: `echo hello        → ${t.status}${t.failure_reason ? `: ${t.failure_reason}` : ''}, said "${first}"` };
  })();

  const silentOutcome = (async (): Promise<Outcome> => {
    const t = await until('task 2 being stopped', async () => {
      const t = await get(silent.id);
      return terminal(t) ? t : undefined;
    });
    const ran = t.started_at && t.finished_at ? secs(Date.parse(t.finished_at) - Date.parse(t.started_at)) : '?';
    const ok = t.status === 'failed' && t.failure_reason === 'idle_watchdog';
    return { ok, label: 'task 2', text: `sleep 60 (silent) → ${t.status}: ${t.failure_reason ?? 'no reason'} after ${ran} (no output for ${IDLE_TIMEOUT_S} s)` };
  })();

  const outcomes = await Promise.all([helloOutcome, silentOutcome, cancelOutcome]);
  for (const o of outcomes) step(o.ok, o.label, o.text);
  const allOk = outcomes.every((o) => o.ok);
  out();
  if (allOk) out(pc.green(`All three tasks ended as expected, ${secs(Date.now() - started)} after start.`));
  else out(pc.red('Some tasks did not end as expected (see ✗ above).'));
  if (!ONCE) {
    out();
    out(`  ${pc.bold('Web page')}     ${pc.cyan(ready.url + '/')}`);
    out(`  ${pc.bold('Admin token')}  ${ready.admin_token}`);
    out(`  ${pc.bold('Daemon')}       ${healthUrl ?? '?'}/status  (also /healthz, /readyz, /metrics)`);
    if (statusCommand) out(`  ${pc.bold('Status')}       ${statusCommand}`);
  }
  return allOk;
}

async function main(): Promise<void> {
  let ok = false;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (cleaning) {
      process.exit(130); // second Ctrl-C: give up waiting
    }
    interrupted = true;
    out();
    out(pc.dim(`${sig}: stopping the daemon and the platform, removing ${root} …`));
    void cleanup().then(() => {
      out(pc.dim('Done.'));
      process.exit(ok ? 0 : 130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  for (const f of [AGENTD, PLATFORM]) {
    if (!existsSync(f)) {
      process.stderr.write(`demo: ${f} is missing; build first: npm run build (or use npm run demo)\n`);
      process.exit(1);
    }
  }

  try {
    ok = await demo();
  } catch (e) {
    if (interrupted) return;
    const err = e instanceof DemoError ? e : new DemoError(e instanceof Error ? e.message : String(e));
    step(false, 'failed', err.message);
    const detail = err.detail || [daemon, platform].filter(Boolean).map((c) => `--- ${c!.name} (last lines)\n${c!.output().split('\n').slice(-15).join('\n')}`).join('\n');
    if (detail) out(pc.dim(detail.trimEnd()));
    ok = false;
  }
  if (interrupted) return;

  if (ONCE || !ok) {
    out();
    out(pc.dim(`Stopping the daemon and the platform, removing ${root} …`));
    await cleanup();
    out(pc.dim(`Done in ${secs(Date.now() - started)}.`));
    process.exit(ok ? 0 : 1);
  }
  out();
  out(`Open the web page and sign in with the admin token. ${pc.bold('Ctrl-C')} stops everything and removes ${root}.`);
}

void main();
