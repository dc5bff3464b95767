// Drives the real task manager against the real reference platform with a real
// PlatformClient, without the daemon lifecycle around it: enrol (install token →
// exchange), register runtimes, then createTaskManager. Used by test/e2e/tasks*.test.ts
// and bench/tasks.mjs's ideas.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { PlatformClient } from '../../api/client.js';
import type { RegisteredRuntime, RuntimeInfo, TaskDetail } from '../../api/types.js';
import { createTaskManager } from '../../daemon/tasks/manager.js';
import type { TaskManager, TaskManagerOptions } from '../../daemon/tasks/types.js';
import { allMessages, startPlatform, type TestPlatform } from '../helpers/platform.js';
import { ROOT } from '../helpers/bin.js';

export const FIXTURE_BIN = join(ROOT, 'test', 'fixtures', 'bin');

export interface Enrolled {
  client: PlatformClient;
  daemonId: string;
  runtimes: RegisteredRuntime[];
}

/** `via`: the URL the daemon's client talks to after the exchange (a proxy in front of `p`). */
export async function enrol(p: TestPlatform, runtimes: RuntimeInfo[] = [{ name: 'command', type: 'command', version: '1', status: 'online' }], o: { via?: string } = {}): Promise<Enrolled> {
  const daemonId = randomUUID();
  const bare = new PlatformClient({ baseUrl: p.url });
  const it = await p.admin.createInstallToken(p.workspaceId);
  const ex = await bare.exchangeInstallToken({ token: it.token, daemon_id: daemonId });
  await bare.close();
  const client = new PlatformClient({ baseUrl: o.via ?? p.url, getToken: () => ex.token });
  const reg = await client.register({ workspace_id: p.workspaceId, daemon_id: daemonId, device_name: 'tasks-test', cli_version: 'test', runtimes });
  return { client, daemonId, runtimes: reg.runtimes };
}

export interface Harness {
  p: TestPlatform;
  mgr: TaskManager;
  e: Enrolled;
  stateDir: string;
  logs(): string;
  enqueue(prompt: string, o?: { runtime?: string; timeout_s?: number }): Promise<string>;
  waitDone(id: string, timeoutMs?: number): Promise<TaskDetail>;
  /** Every message of a task, paging through the platform's answer. */
  messages(id: string): Promise<TaskDetail['messages']>;
  close(): Promise<void>;
}

export async function startHarness(
  opts: Partial<Omit<TaskManagerOptions, 'runtimes'>> & { platform?: TestPlatform; register?: RuntimeInfo[]; stateDir?: string; start?: boolean; enrolled?: Enrolled } = {},
): Promise<Harness> {
  const { platform, register, start, enrolled, ...o } = opts;
  const ownsPlatform = !platform;
  const p = platform ?? (await startPlatform());
  const e = enrolled ?? (await enrol(p, register));
  const ownsState = !o.stateDir;
  const stateDir = o.stateDir ?? mkdtempSync(join(tmpdir(), 'agentd-tasks-'));
  let logText = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logText += chunk.toString();
      if (logText.length > 4_000_000) logText = logText.slice(-2_000_000);
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const mgr = createTaskManager({
    client: e.client,
    logger,
    daemonId: e.daemonId,
    platformUrl: p.url,
    stateDir,
    runtimes: e.runtimes,
    canClaim: () => true,
    maxTasks: 4,
    maxTasksPerRuntime: {},
    taskIdleTimeoutMs: 30 * 60_000,
    toolIdleTimeoutMs: 2 * 3600_000,
    taskTimeoutMs: 2 * 3600_000,
    killGraceMs: 2000,
    pollIntervalMs: 30_000,
    statusPollMs: 500,
    workdirRetentionMs: 24 * 3600_000,
    ...o,
  });
  if (start !== false) mgr.start();
  const h: Harness = {
    p,
    mgr,
    e,
    stateDir,
    logs: () => logText,
    async enqueue(prompt, eo = {}) {
      const r = await p.admin.enqueueTask(p.workspaceId, { runtime: eo.runtime ?? 'command', prompt, ...(eo.timeout_s ? { timeout_s: eo.timeout_s } : {}) });
      return r.id;
    },
    waitDone(id, timeoutMs = 20_000) {
      return p.admin.waitForTask(p.workspaceId, id, (t) => ['completed', 'failed', 'cancelled'].includes(t.status), timeoutMs);
    },
    messages: (id) => allMessages(p, id),
    async close() {
      mgr.stopClaiming();
      await mgr.cancelAll('daemon_shutdown');
      await e.client.close();
      if (ownsPlatform) await p.stop();
      if (ownsState) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return h;
}

/** True while `pid` runs (a zombie does not count: this container's pid 1 may not reap). */
export function alive(pid: number): boolean {
  try {
    const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = t.slice(t.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
