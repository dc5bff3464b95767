// A hostile platform: a real HTTP server on port 0 that answers claims with more than
// was asked, absurd timeouts and ids that are path segments. The real PlatformClient and
// task manager (real child processes) must hold their limits against it.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PlatformClient } from '../../api/client.js';
import { BadResponse } from '../../api/errors.js';
import type { Task } from '../../api/types.js';
import { createTaskManager } from '../../daemon/tasks/manager.js';
import type { TaskManager } from '../../daemon/tasks/types.js';

interface Hostile {
  url: string;
  /** Every request as "METHOD /path". */
  requests: string[];
  /** Bodies of the /fail calls, by task id. */
  failed: Map<string, { error: string; failure_reason: string }>;
  close(): Promise<void>;
}

/** `answer` gives the tasks of the first claim; later claims answer empty. */
async function hostile(answer: Task[]): Promise<Hostile> {
  const requests: string[] = [];
  const failed = new Map<string, { error: string; failure_reason: string }>();
  let claims = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const path = req.url ?? '/';
      requests.push(`${req.method} ${path}`);
      const send = (v: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(v));
      };
      if (path === '/api/daemon/tasks/claim') return send({ tasks: claims++ === 0 ? answer : [] });
      const fail = /^\/api\/daemon\/tasks\/([^/]+)\/fail$/.exec(path);
      if (fail) failed.set(fail[1]!, JSON.parse(body) as { error: string; failure_reason: string });
      if (path.endsWith('/status')) return send({ status: 'running' });
      send({ ok: true });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    failed,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const task = (id: string, o: Partial<Task> = {}): Task => ({ id, runtime_id: 'rt-cmd', workspace_id: 'w', prompt: 'sleep 60', auth_token: `mat_${'a'.repeat(40)}`, ...o });

let srv: Hostile | null = null;
let mgr: TaskManager | null = null;
let client: PlatformClient | null = null;
let dir: string | null = null;
let logText = '';
afterEach(async () => {
  mgr?.stopClaiming();
  await mgr?.cancelAll('daemon_shutdown');
  await client?.close();
  await srv?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  mgr = client = srv = dir = null;
  logText = '';
});

async function until(f: () => boolean): Promise<void> {
  while (!f()) await new Promise((r) => setTimeout(r, 20));
}

async function start(answer: Task[], o: { maxTasks?: number; taskTimeoutMs?: number } = {}): Promise<{ srv: Hostile; mgr: TaskManager }> {
  srv = await hostile(answer);
  client = new PlatformClient({ baseUrl: srv.url, getToken: () => `mdt_${'b'.repeat(40)}` });
  dir = mkdtempSync(join(tmpdir(), 'agentd-hostile-'));
  const sink = new Writable({
    write(chunk, _e, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  mgr = createTaskManager({
    client,
    logger: pino({ level: 'debug' }, sink),
    daemonId: 'd1',
    platformUrl: srv.url,
    stateDir: dir,
    runtimes: [{ id: 'rt-cmd', name: 'command', type: 'command' }],
    canClaim: () => true,
    maxTasks: o.maxTasks ?? 2,
    maxTasksPerRuntime: {},
    taskIdleTimeoutMs: 0,
    toolIdleTimeoutMs: 0,
    taskTimeoutMs: o.taskTimeoutMs ?? 3_600_000,
    killGraceMs: 500,
    pollIntervalMs: 60_000,
    statusPollMs: 60_000,
    workdirRetentionMs: 3_600_000,
  });
  mgr.start();
  return { srv, mgr };
}

describe('a hostile platform', () => {
  it('a claim answer of 40 tasks for max_tasks 2 starts 2; the rest are released (never started)', async () => {
    const answer = Array.from({ length: 40 }, (_, i) => task(`t${i}`));
    const { srv, mgr } = await start(answer, { maxTasks: 2 });
    await until(() => srv.requests.filter((r) => r.endsWith('/start')).length >= 2);
    // The claim answer is handled synchronously: whatever it launched is running now.
    expect(mgr.running().map((r) => r.id).sort()).toEqual(['t0', 't1']);
    expect(mgr.stats().claimed_total).toBe(2);
    await until(() => logText.includes('not started'));
    expect(srv.requests.filter((r) => r.endsWith('/start')).sort()).toEqual(['POST /api/daemon/tasks/t0/start', 'POST /api/daemon/tasks/t1/start']);
  });

  it('timeout_s 1e308 does not lift the wall-clock limit: clamped to the configured maximum', async () => {
    const { srv } = await start([task('huge', { timeout_s: 1e308 })], { taskTimeoutMs: 1_000 });
    await until(() => srv.failed.has('huge'));
    expect(srv.failed.get('huge')).toMatchObject({ failure_reason: 'timeout' });
    expect(srv.failed.get('huge')!.error).toContain('time limit of 1s');
  });

  it('task ids that are path segments (.., ., a/b, %2e%2e) never become a URL or a directory', async () => {
    const bad = ['..', '.', 'a/b', '%2e%2e', '.hidden', 'x'.repeat(201)];
    const { srv, mgr } = await start([...bad.map((id) => task(id)), task('ok-1', { prompt: 'true' }), task('t2', { runtime_id: '..' })], { maxTasks: 4 });
    await until(() => srv.requests.includes('POST /api/daemon/tasks/ok-1/complete'));
    for (const r of srv.requests) expect(r, r).toMatch(/^POST \/api\/daemon\/tasks\/(claim|ok-1\/(start|messages|progress|session|usage|complete))$|^GET \/api\/daemon\/tasks\/ok-1\/status$/);
    expect(srv.requests).not.toContain('POST /api/daemon/start');
    expect(mgr.stats().claimed_total).toBe(1);
    expect(logText).toContain('ignored');
  });

  it('error text from the platform is stripped of control characters before anyone shows it', async () => {
    const evil = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'bad \x1b]0;pwned\x07\x1b[31mred\x9b0m\u202eevil\nline' }));
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const c = new PlatformClient({ baseUrl: `http://127.0.0.1:${(evil.address() as AddressInfo).port}`, getToken: () => `mdt_${'b'.repeat(40)}` });
    try {
      const err = (await c.heartbeat({ runtime_id: 'r1' }).catch((e: unknown) => e)) as Error & { platformError?: string };
      expect(err.platformError).toBe('bad ]0;pwned[31mred0mevil line');
      expect(err.message).toContain('pwned');
      expect(err.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    } finally {
      await c.close();
      evil.close();
    }
  });

  it('an exchange answer whose workspace or daemon id carries control characters is refused (they go to config.json and the terminal)', async () => {
    for (const bad of [{ workspace_id: 'ws\x1b]0;pwned\x07' }, { daemon_id: '../d' }]) {
      const evil = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ token: `mdt_${'c'.repeat(40)}`, workspace_id: 'ws-1', daemon_id: 'd-1', ...bad }));
      });
      await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
      const c = new PlatformClient({ baseUrl: `http://127.0.0.1:${(evil.address() as AddressInfo).port}` });
      try {
        await expect(c.exchangeInstallToken({ token: `mit_${'d'.repeat(40)}`, daemon_id: 'd-1' })).rejects.toBeInstanceOf(BadResponse);
      } finally {
        await c.close();
        evil.close();
      }
    }
  });

  it('the client refuses to build a URL from an unsafe id', async () => {
    const c = new PlatformClient({ baseUrl: 'http://127.0.0.1:1', getToken: () => `mdt_${'b'.repeat(40)}` });
    try {
      for (const id of ['..', '.', 'a/b', '%2e%2e', '']) expect(() => c.startTask(id), id).toThrow(BadResponse);
    } finally {
      await c.close();
    }
  });
});
