// The fault suite's rig: the real reference platform, the fault proxy in front of it, and
// a real daemon (`agentd install --no-service` then `agentd run`, from dist/) whose
// platform_url is the proxy. Everything on 127.0.0.1 with temp dirs; close() stops it all.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskDetail } from '../../api/types.js';
import { AGENTD_CMD as DEFAULT_AGENTD_CMD, AGENTD_NODE } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { FaultProxy } from './proxy.js';
import { runnerEnv } from '../helpers/env.js';

/** FAULTS_AGENTD_JS runs the suite against another agentd bundle (e.g. to check a fix). */
export const AGENTD_CMD = process.env.FAULTS_AGENTD_JS ? [AGENTD_NODE, process.env.FAULTS_AGENTD_JS] : DEFAULT_AGENTD_CMD;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Dirs {
  root: string;
  configDir: string;
  stateDir: string;
  home: string;
}

export function tempDirs(prefix = 'agentd-faults-'): Dirs {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return { root, configDir: join(root, 'config'), stateDir: join(root, 'state'), home: join(root, 'home') };
}

/** A clean environment for agentd children: no AGENTD_* from the test runner, a temp HOME. */
export function agentdEnv(d: { home: string }, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = runnerEnv(['NOTIFY_SOCKET']);
  return { ...env, HOME: d.home, AGENTD_HEALTH_ADDR: '127.0.0.1:0', ...extra };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the agentd CLI to its end (bounded by timeoutMs). */
export function runAgentd(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000, input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(AGENTD_CMD[0]!, [...AGENTD_CMD.slice(1), ...args], { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) p.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`agentd ${args[0]} did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    p.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `agentd install --no-service` against `url` with a fresh install token from `p`. */
export async function install(p: TestPlatform, url: string, d: Dirs, extra: string[] = []): Promise<RunResult> {
  const it = await p.admin.createInstallToken(p.workspaceId);
  return runAgentd(
    ['install', '--platform', url, '--no-service', '--config-dir', d.configDir, '--state-dir', d.stateDir, '--name', 'faults', '--json', ...extra],
    agentdEnv(d, { AGENTD_INSTALL_TOKEN: it.token }),
  );
}

export interface Daemon {
  proc: ChildProcess;
  healthUrl: string;
  stdout(): string;
  alive(): boolean;
  /** GET a health path; status 0 when the port does not answer. */
  get(path: string, timeoutMs?: number): Promise<{ status: number; body: string }>;
  state(): Promise<string>;
  /** Waits until /readyz says 200; returns when (Date.now()). */
  waitReady(timeoutMs: number): Promise<number>;
  waitState(state: string, timeoutMs: number): Promise<void>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const liveDaemons = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of liveDaemons) p.kill('SIGKILL');
});

export async function startDaemon(d: Dirs, env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const proc = spawn(AGENTD_CMD[0]!, [...AGENTD_CMD.slice(1), 'run', '--config-dir', d.configDir, '--state-dir', d.stateDir], {
    env: agentdEnv(d, { AGENTD_HEARTBEAT_INTERVAL: '1s', AGENTD_LOG_LEVEL: 'debug', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveDaemons.add(proc);
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => {
      liveDaemons.delete(proc);
      r({ code, signal });
    }),
  );
  const deadline = Date.now() + 15_000;
  let healthUrl = '';
  while (!healthUrl) {
    if (proc.exitCode !== null) throw new Error(`agentd run exited ${proc.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`agentd run wrote no daemon.json within 15 s:\n${out}`);
    }
    try {
      const doc = JSON.parse(readFileSync(join(d.stateDir, 'daemon.json'), 'utf8')) as { pid: number; health_url: string };
      if (doc.pid === proc.pid) healthUrl = doc.health_url;
    } catch {
      // not written yet
    }
    if (!healthUrl) await sleep(25);
  }
  const get = async (path: string, timeoutMs = 2_000): Promise<{ status: number; body: string }> => {
    try {
      const res = await fetch(healthUrl + path, { signal: AbortSignal.timeout(timeoutMs) });
      return { status: res.status, body: await res.text() };
    } catch {
      return { status: 0, body: '' };
    }
  };
  const daemon: Daemon = {
    proc,
    healthUrl,
    stdout: () => out,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    get,
    async state() {
      const r = await get('/status');
      try {
        return (JSON.parse(r.body) as { state: string }).state;
      } catch {
        return `unknown (${r.status})`;
      }
    },
    async waitReady(timeoutMs) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        if ((await get('/readyz', 1_000)).status === 200) return Date.now();
        if (!daemon.alive()) throw new Error(`daemon died while waiting for ready:\n${out.slice(-4000)}`);
        if (Date.now() > end) throw new Error(`daemon not ready within ${timeoutMs} ms (state ${await daemon.state()})`);
        await sleep(50);
      }
    },
    async waitState(state, timeoutMs) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        if ((await daemon.state()) === state) return;
        if (Date.now() > end) throw new Error(`daemon not ${state} within ${timeoutMs} ms (state ${await daemon.state()})`);
        await sleep(50);
      }
    },
    async stop() {
      if (daemon.alive()) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        const r = await exited;
        clearTimeout(t);
        return r;
      }
      return exited;
    },
  };
  return daemon;
}

export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export async function waitTerminal(p: TestPlatform, id: string, timeoutMs: number): Promise<TaskDetail> {
  return p.admin.waitForTask(p.workspaceId, id, (t) => TERMINAL.has(t.status), timeoutMs);
}

/** A full rig: platform (shared or own), proxy in front, enrolled daemon pointed at the proxy. */
export interface Rig {
  platform: TestPlatform;
  proxy: FaultProxy;
  dirs: Dirs;
  daemon: Daemon;
  close(): Promise<void>;
}

export async function startRig(platform: TestPlatform, env: NodeJS.ProcessEnv = {}, beforeStart?: (proxy: FaultProxy) => Promise<void>): Promise<Rig> {
  const proxy = await FaultProxy.start(platform.url);
  const dirs = tempDirs();
  const r = await install(platform, proxy.url, dirs);
  if (r.code !== 0) throw new Error(`agentd install failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  await beforeStart?.(proxy);
  const daemon = await startDaemon(dirs, env);
  return {
    platform,
    proxy,
    dirs,
    daemon,
    async close() {
      proxy.clear();
      await daemon.stop().catch(() => {});
      await proxy.close();
      rmSync(dirs.root, { recursive: true, force: true });
    },
  };
}
