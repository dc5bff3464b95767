// Starts the real reference platform bundle (dist/agentd-platform.mjs) as a child
// process on a free port with a temp data dir, for e2e tests.
//
//   const p = await startPlatform();
//   const tok = await p.admin.createInstallToken(p.workspaceId);
//   ...
//   await p.stop();   // kills it and removes the temp data dir it created
//
// restart() stops and starts it again on the same port and data dir (state survives);
// halt() only stops it (e.g. to test a platform outage), restart() brings it back.
//
// AGENTD_TEST_PLATFORM_DATABASE=postgres runs every platform on PostgreSQL: each
// startPlatform() gets a fresh database on the test cluster (test/helpers/postgres.ts),
// kept across restart() and dropped by stop(). `database` names one explicitly (two
// replicas over one database); the caller then owns it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskMessage } from '../../api/types.js';
import { AdminClient } from '../../platform/admin-client.js';
import { PLATFORM_CMD } from './bin.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

export interface StartPlatformOptions {
  dataDir?: string;
  port?: number;
  /** Extra serve flags, e.g. ['--install-token-ttl', '1ms', '--no-long-poll']. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** A postgres:// URL to serve from (--database); '' for no flag at all; default: SQLite, or a fresh PostgreSQL database under AGENTD_TEST_PLATFORM_DATABASE=postgres. */
  database?: string;
}

export interface TestPlatform {
  url: string;
  port: number;
  adminToken: string;
  workspaceId: string;
  dataDir: string;
  /** The PostgreSQL URL it serves from, when it does. */
  database?: string;
  admin: AdminClient;
  proc: ChildProcess;
  /** Everything the current and previous processes wrote to stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
  /** Stops the process (if running) and starts it again on the same port and data dir. */
  restart(): Promise<void>;
  /** Stops the process but keeps the data dir (restart() brings it back). */
  halt(): Promise<void>;
}

interface ReadyDoc {
  url: string;
  admin_token: string;
  workspace_id: string;
  pid: number;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

const READY_TIMEOUT_MS = 15_000;

export async function startPlatform(o: StartPlatformOptions = {}): Promise<TestPlatform> {
  const ownsDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'agentd-platform-'));
  const readyFile = join(dataDir, 'ready.json');
  let out = '';
  let port = o.port ?? 0;
  let ownDb: TestDatabase | undefined;
  let database = o.database;
  if (database === undefined && process.env.AGENTD_TEST_PLATFORM_DATABASE === 'postgres') {
    ownDb = await createTestDatabase();
    database = ownDb.url;
  }

  const launch = async (): Promise<{ proc: ChildProcess; ready: ReadyDoc }> => {
    rmSync(readyFile, { force: true });
    const proc = spawn(
      PLATFORM_CMD[0]!,
      [...PLATFORM_CMD.slice(1), 'serve', '--host', '127.0.0.1', '--port', String(port), '--data', dataDir, '--ready-file', readyFile, ...(database ? ['--database', database] : []), ...(o.args ?? [])],
      { env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    live.add(proc);
    proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    let exited: { code: number | null } | undefined;
    proc.once('exit', (code) => {
      exited = { code };
      live.delete(proc);
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      try {
        const ready = JSON.parse(readFileSync(readyFile, 'utf8')) as ReadyDoc;
        if (ready.pid === proc.pid) return { proc, ready };
      } catch {
        // not written yet
      }
      if (exited) throw new Error(`agentd-platform exited with code ${exited.code} before it was ready:\n${out}`);
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`agentd-platform was not ready within ${READY_TIMEOUT_MS} ms:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 15));
    }
  };

  const kill = async (proc: ChildProcess): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  };

  let first: Awaited<ReturnType<typeof launch>>;
  try {
    first = await launch();
  } catch (e) {
    await ownDb?.drop();
    throw e;
  }
  port = new URL(first.ready.url).port ? Number(new URL(first.ready.url).port) : port;
  const p: TestPlatform = {
    url: first.ready.url,
    port,
    adminToken: first.ready.admin_token,
    workspaceId: first.ready.workspace_id,
    dataDir,
    ...(database ? { database } : {}),
    admin: new AdminClient(first.ready.url, first.ready.admin_token),
    proc: first.proc,
    output: () => out,
    async halt() {
      await kill(p.proc);
    },
    async restart() {
      await kill(p.proc);
      const next = await launch();
      p.proc = next.proc;
    },
    async stop() {
      await kill(p.proc);
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
      await ownDb?.drop();
    },
  };
  return p;
}

// ------------------------------------------------------------ raw daemon-side calls
// For platform tests that speak the wire protocol directly (no PlatformClient), so a
// bug in the client cannot hide a bug in the platform or the other way round.

export interface RawAnswer {
  status: number;
  // Test-only convenience: assertions read fields freely; the platform answers are checked by value.
  json: any;
}

/** One HTTP call with `Authorization: Bearer <token>` (undefined: no header). */
export async function rawCall(p: { url: string }, token: string | undefined, method: 'GET' | 'POST', path: string, body?: unknown): Promise<RawAnswer> {
  const res = await fetch(p.url + path, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      'x-client-platform': 'daemon',
      'x-client-version': 'test-1.2.3',
      'x-client-os': 'linux',
    },
    body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** Mints an install token and exchanges it: returns the daemon's mdt_. */
export async function enrolRaw(p: TestPlatform, daemonId: string): Promise<string> {
  const { token } = await p.admin.createInstallToken(p.workspaceId);
  const r = await rawCall(p, undefined, 'POST', '/api/install-tokens/exchange', { token, daemon_id: daemonId });
  if (r.status !== 200) throw new Error(`exchange failed: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.token as string;
}

/** Enrols and registers a daemon with the given runtimes; returns its token and runtime ids by name. */
export async function registerRaw(
  p: TestPlatform,
  daemonId: string,
  runtimes: string[] = ['command'],
): Promise<{ token: string; runtimeIds: Record<string, string> }> {
  const token = await enrolRaw(p, daemonId);
  const r = await rawCall(p, token, 'POST', '/api/daemon/register', {
    workspace_id: p.workspaceId,
    daemon_id: daemonId,
    device_name: `${daemonId}-host`,
    cli_version: 'test-1.2.3',
    runtimes: runtimes.map((name) => ({ name, type: name, version: '1.0', status: 'online' })),
  });
  if (r.status !== 200) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.json)}`);
  const runtimeIds: Record<string, string> = {};
  for (const rt of r.json.runtimes as { id: string; name: string }[]) runtimeIds[rt.name] = rt.id;
  return { token, runtimeIds };
}

/** Every stored message of a task, in seq order, paging through the platform's answer. */
export async function allMessages(p: TestPlatform, id: string): Promise<TaskMessage[]> {
  const out: TaskMessage[] = [];
  let after = -1;
  for (;;) {
    const t = await p.admin.getTask(p.workspaceId, id, { messagesAfter: after, messagesLimit: 5000 });
    out.push(...t.messages);
    if (t.messages.length < 5000) return out;
    after = t.messages.at(-1)!.seq;
  }
}
