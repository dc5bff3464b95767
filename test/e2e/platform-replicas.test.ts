// Two replicas of the reference platform on one PostgreSQL database, as behind a load
// balancer: a daemon enrolled through replica A is served by replica B, a task enqueued
// on A runs through B, and a revocation on B stops it (and A refuses the credential at
// its next call). A claim long-polling on one replica is woken by an enqueue on the
// other (LISTEN/NOTIFY), and one single-use install token sent to both at once enrols
// exactly one machine.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBalancer, type Balancer } from '../helpers/balancer.js';
import { enrollDaemon, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';
import { rawCall, registerRaw, startPlatform, type TestPlatform } from '../helpers/platform.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../helpers/postgres.js';

describePostgres('two platform replicas on one PostgreSQL database', () => {
  let db: TestDatabase;
  let a: TestPlatform;
  let b: TestPlatform;
  let lb: Balancer | undefined;
  let e: Enrolled | undefined;
  let d: TestDaemon | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Replicas share the admin token (each keeps its own --data dir for its own files).
    const env = { AGENTD_PLATFORM_ADMIN_TOKEN: `adm_${randomBytes(20).toString('hex')}` };
    const args = ['--log-requests', '--offline-after', '5s'];
    a = await startPlatform({ database: db.url, args, env });
    b = await startPlatform({ database: db.url, args, env });
  });
  afterAll(async () => {
    await d?.stop();
    await e?.remove();
    await lb?.close();
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  it('both replicas serve the same workspace', () => {
    expect(b.workspaceId).toBe(a.workspaceId);
  });

  it('a daemon enrolled through A is served by B, a task enqueued on A runs through B, and a revocation on B stops it', async () => {
    lb = await startBalancer(a.port);
    e = await enrollDaemon({ url: lb.url, workspaceId: a.workspaceId, admin: a.admin });
    expect(a.output()).toMatch(/POST \/api\/install-tokens\/exchange 200/);
    expect(b.output()).not.toMatch(/install-tokens\/exchange/);

    // The balancer moves to B (A taken out of rotation): every daemon call from now on is B's.
    lb.switchTo(b.port);
    const aBefore = a.output().length;
    d = await startDaemon(e, { env: { AGENTD_HEARTBEAT_INTERVAL: '1s' } });
    await d.waitFor((s) => s.state === 'ready' && s.heartbeat.last_success_at !== null);
    expect(b.output()).toMatch(/POST \/api\/daemon\/register 200/);

    const { id } = await a.admin.enqueueTask(a.workspaceId, { runtime: 'command', prompt: 'echo served-by-b' });
    const done = await a.admin.waitForTask(a.workspaceId, id, (t) => t.status === 'completed' || t.status === 'failed', 30_000, { messagesLimit: 100 });
    expect(done.status).toBe('completed');
    expect(done.daemon_id).toBe(e.daemonId);
    expect(JSON.stringify(done.messages)).toContain('served-by-b');
    expect(b.output()).toMatch(new RegExp(`POST /api/daemon/tasks/${id}/complete 200`));
    // A saw no daemon call since the switch: only the operator's.
    expect(a.output().slice(aBefore)).not.toMatch(/\/api\/daemon\//);

    const token = (JSON.parse(readFileSync(join(e.configDir, 'credentials.json'), 'utf8')) as { token: string }).token;
    const heartbeatOn = (p: TestPlatform) => rawCall(p, token, 'POST', '/api/daemon/heartbeat', { runtime_id: 'any' });
    expect((await heartbeatOn(a)).status).not.toBe(401);

    await b.admin.revokeDaemon(b.workspaceId, e.daemonId);
    // No cache window anywhere: the other replica refuses it at the very next call.
    expect((await heartbeatOn(a)).status).toBe(401);
    expect((await heartbeatOn(b)).status).toBe(401);
    const st = await d.waitForState('revoked', 20_000);
    expect(st.reason).toMatch(/refused the daemon credential/);
  });

  it('an enqueue on A wakes a claim long-polling on B', async () => {
    const rt = `rt-wake-${process.pid}`;
    const r = await registerRaw(a, 'd-wake', [rt]);
    const started = Date.now();
    const waiting = rawCall(b, r.token, 'POST', '/api/daemon/tasks/claim', { runtime_ids: [r.runtimeIds[rt]!], max_tasks: 1, wait_s: 25 });
    // The claim is parked on B before the enqueue (B logs a request only once it ends).
    await new Promise((res) => setTimeout(res, 300));
    const { id } = await a.admin.enqueueTask(a.workspaceId, { runtime: rt, prompt: 'x' });
    const answer = await waiting;
    expect(answer.status).toBe(200);
    expect((answer.json as { tasks: { id: string }[] }).tasks.map((t) => t.id)).toEqual([id]);
    // Woken, not found at the end of the wait: the wake-up crossed replicas. 25 s is
    // the wait; a wake-up arrives in milliseconds, so 20 s of margin is not a timing bet.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('a cancel on A reaches the daemon whose control channel is on B, as agentd:task_status', async () => {
    lb ??= await startBalancer(b.port);
    lb.switchTo(b.port);
    const e3 = await enrollDaemon({ url: lb.url, workspaceId: a.workspaceId, admin: a.admin });
    const d3 = await startDaemon(e3, { env: { AGENTD_HEARTBEAT_INTERVAL: '1s', AGENTD_DRAIN_TIMEOUT: '1s', AGENTD_KILL_GRACE: '1s' } });
    try {
      // Push is live on B's socket: the frame, not a status poll, stops the task (task_status_total).
      await d3.waitFor((s) => (s.websocket as { status_push?: boolean } | null)?.status_push === true, 20_000);
      const { id } = await a.admin.enqueueTask(a.workspaceId, { runtime: 'command', prompt: 'sleep 300' });
      await a.admin.waitForTask(a.workspaceId, id, (t) => t.status === 'running', 30_000);
      await d3.waitFor((s) => s.tasks.running.length === 1, 20_000);
      await a.admin.cancelTask(a.workspaceId, id);
      const st = await d3.waitFor((s) => s.tasks.running.length === 0, 20_000);
      expect((st.websocket as { task_status_total: number }).task_status_total).toBe(1);
      // Stopped by the frame, not by a status poll answer (whose reason reads "marked").
      expect(d3.stdout()).toMatch(new RegExp(`"task_id":"${id}".*stopping task: the platform pushed that the task is cancelled`));
    } finally {
      await d3.stop();
      await e3.remove();
    }
  });

  it('one single-use install token sent to both replicas at once enrols exactly one machine', async () => {
    for (let round = 0; round < 5; round++) {
      const { token } = await a.admin.createInstallToken(a.workspaceId);
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => rawCall(i % 2 === 0 ? a : b, undefined, 'POST', '/api/install-tokens/exchange', { token, daemon_id: `race-${round}-${i}` })),
      );
      const statuses = answers.map((x) => x.status).sort();
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 401)).toHaveLength(19);
    }
  });

  // Last: it stops replica B.
  it('a replica dies: the daemon carries on through the other one, and so does its work', async () => {
    await d?.stop();
    d = undefined;
    const lb2 = await startBalancer(b.port);
    const e2 = await enrollDaemon({ url: lb2.url, workspaceId: a.workspaceId, admin: a.admin }, { name: 'failover-host' });
    const d2 = await startDaemon(e2, { env: { AGENTD_HEARTBEAT_INTERVAL: '1s' } });
    try {
      await d2.waitFor((s) => s.state === 'ready' && s.heartbeat.last_success_at !== null);
      await b.halt();
      lb2.switchTo(a.port);
      const afterDeath = Date.now();
      // Heartbeats succeed again, through A.
      await d2.waitFor((s) => s.heartbeat.last_success_at !== null && Date.parse(s.heartbeat.last_success_at) > afterDeath && s.state === 'ready', 30_000);
      const { id } = await a.admin.enqueueTask(a.workspaceId, { runtime: 'command', prompt: 'echo after-failover' });
      const done = await a.admin.waitForTask(a.workspaceId, id, (t) => t.status === 'completed' || t.status === 'failed', 30_000, { messagesLimit: 100 });
      expect(done.status).toBe('completed');
      expect(done.daemon_id).toBe(e2.daemonId);
      expect(JSON.stringify(done.messages)).toContain('after-failover');
    } finally {
      await d2.stop();
      await e2.remove();
      await lb2.close();
    }
  });
});
