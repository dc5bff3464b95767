// Enrols and runs the real `agentd` bundle (dist/agentd.mjs) against a TestPlatform,
// with temp HOME/config/state dirs, for e2e tests.
//
//   const p = await startPlatform();
//   const e = await enrollDaemon(p);                 // real `agentd install --no-service`
//   const d = await startDaemon(e, { env: { AGENTD_HEARTBEAT_INTERVAL: '1s' } });
//   await d.waitForState('ready');
//   await d.stop();                                  // SIGTERM, wait, SIGKILL if it hangs
//   await e.remove();
//
// The health port is always 127.0.0.1:0 (never the default 19514); its URL is read from
// <stateDir>/daemon.json, which the daemon writes once it listens.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENTD_CMD } from './bin.js';
import type { TestPlatform } from './platform.js';
import { runnerEnv } from './env.js';

export interface Enrolled {
  configDir: string;
  stateDir: string;
  home: string;
  daemonId: string;
  /** Removes the temp dirs (stop the daemon first). */
  remove(): Promise<void>;
}

/** What /status answers (the fields tests read; see daemon/report.ts). */
export interface StatusDoc {
  state: string;
  reason: string;
  pid: number;
  daemon_id: string;
  heartbeat: { last_success_at: string | null; consecutive_failures: number; failures_total: number; latency_ms: number | null };
  runtimes: { id: string; name: string }[];
  tasks: { max: number; running: unknown[] };
  [k: string]: unknown;
}

export interface TestDaemon {
  proc: ChildProcess;
  pid: number;
  healthUrl: string;
  stdout(): string;
  stderr(): string;
  status(): Promise<StatusDoc>;
  waitFor(pred: (s: StatusDoc) => boolean, timeoutMs?: number): Promise<StatusDoc>;
  waitForState(state: string, timeoutMs?: number): Promise<StatusDoc>;
  signal(sig: NodeJS.Signals): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** The daemon's environment: the test runner's, minus any AGENTD_* it may carry. */
export function daemonEnv(e: { home: string }, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = runnerEnv(['NOTIFY_SOCKET', 'WATCHDOG_USEC']);
  return { ...env, HOME: e.home, XDG_CONFIG_HOME: join(e.home, '.config'), XDG_STATE_HOME: join(e.home, '.local/state'), AGENTD_HEALTH_ADDR: '127.0.0.1:0', ...extra };
}

/** What enrolment needs of a platform: ours (TestPlatform), or a fake one that mints install tokens. */
export type Enrolling = Pick<TestPlatform, 'url' | 'workspaceId'> & { admin: { createInstallToken(workspaceId: string): Promise<{ token: string }> } };

export async function enrollDaemon(p: Enrolling, o: { name?: string; args?: string[] } = {}): Promise<Enrolled> {
  const root = mkdtempSync(join(tmpdir(), 'agentd-daemon-'));
  const home = join(root, 'home');
  const configDir = join(root, 'config');
  const stateDir = join(root, 'state');
  const remove = async (): Promise<void> => rmSync(root, { recursive: true, force: true });
  const tok = await p.admin.createInstallToken(p.workspaceId);
  const args = [...AGENTD_CMD.slice(1), 'install', '--platform', p.url, '--no-service', '--config-dir', configDir, '--state-dir', stateDir, '--name', o.name ?? 'e2e-host', ...(o.args ?? [])];
  // Not spawnSync: the platform may live in this very process (the conformance suite's
  // fake servers), and a blocked event loop could not answer the exchange.
  const r = await runAsync(AGENTD_CMD[0], args, daemonEnv({ home }, { AGENTD_INSTALL_TOKEN: tok.token }), 30_000);
  if (r.status !== 0) {
    await remove();
    throw new Error(`agentd install failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  const config = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')) as { daemon_id: string };
  return { configDir, stateDir, home, daemonId: config.daemon_id, remove };
}

function runAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (status) => {
      clearTimeout(t);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Runs `agentd <args>` to completion (for exit-code tests). */
export function runAgentd(e: { home: string }, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(AGENTD_CMD[0], [...AGENTD_CMD.slice(1), ...args], { env: daemonEnv(e, env), encoding: 'utf8', timeout: 30_000, input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `agentd <args>` to completion without blocking the event loop (a daemon child keeps being served). */
export function runAgentdAsync(e: { home: string }, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(AGENTD_CMD[0], [...AGENTD_CMD.slice(1), ...args], { env: daemonEnv(e, env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Spawns `agentd run` without waiting for anything (for tests of start-up failures). */
export function spawnDaemon(e: Enrolled, env: NodeJS.ProcessEnv = {}): { proc: ChildProcess; out: () => string; err: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const proc = spawn(AGENTD_CMD[0], [...AGENTD_CMD.slice(1), 'run', '--config-dir', e.configDir, '--state-dir', e.stateDir], {
    env: daemonEnv(e, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      // Let the pipes drain before the caller reads the output.
      setTimeout(() => resolve({ code, signal }), 50);
    }),
  );
  return { proc, out: () => out, err: () => err, exited };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startDaemon(e: Enrolled, o: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {}): Promise<TestDaemon> {
  const s = spawnDaemon(e, { AGENTD_HEARTBEAT_INTERVAL: '1s', ...o.env });
  const pid = s.proc.pid as number;
  let exitedEarly: { code: number | null } | null = null;
  void s.exited.then((x) => (exitedEarly = x));
  // daemon.json appears once the health port listens.
  const deadline = Date.now() + (o.readyTimeoutMs ?? 15_000);
  let healthUrl: string | null = null;
  while (!healthUrl) {
    if (exitedEarly) throw new Error(`agentd run exited with ${(exitedEarly as { code: number | null }).code} before listening:\n${s.out()}\n${s.err()}`);
    if (Date.now() > deadline) {
      s.proc.kill('SIGKILL');
      throw new Error(`agentd run did not write daemon.json in time:\n${s.out()}\n${s.err()}`);
    }
    try {
      const info = JSON.parse(readFileSync(join(e.stateDir, 'daemon.json'), 'utf8')) as { pid: number; health_url: string | null };
      if (info.pid === pid && info.health_url) healthUrl = info.health_url;
    } catch {
      // not yet written
    }
    if (!healthUrl) await sleep(20);
  }
  const url = healthUrl;
  const status = async (): Promise<StatusDoc> => {
    const r = await fetch(`${url}/status`);
    return (await r.json()) as StatusDoc;
  };
  const waitFor = async (pred: (s: StatusDoc) => boolean, timeoutMs = 15_000): Promise<StatusDoc> => {
    const end = Date.now() + timeoutMs;
    let last: StatusDoc | null = null;
    for (;;) {
      try {
        last = await status();
        if (pred(last)) return last;
      } catch {
        // not answering (yet / any more)
      }
      if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms; last status: ${JSON.stringify(last)?.slice(0, 600)}\nstdout tail:\n${s.out().slice(-2000)}`);
      await sleep(50);
    }
  };
  return {
    proc: s.proc,
    pid,
    healthUrl: url,
    stdout: s.out,
    stderr: s.err,
    status,
    waitFor,
    waitForState: (state, timeoutMs) => waitFor((st) => st.state === state, timeoutMs),
    signal: (sig) => void s.proc.kill(sig),
    exited: s.exited,
    async stop() {
      if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
      s.proc.kill('SIGTERM');
      const t = setTimeout(() => s.proc.kill('SIGKILL'), 20_000);
      await s.exited;
      clearTimeout(t);
    },
  };
}
