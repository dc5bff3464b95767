// Cancellation polling against the real platform: one batched status call per interval
// for all running tasks; against a platform without that route (--no-batch-status, as a
// Multica server) the per-task GET, after one 404. And the push: the real daemon, with
// its WebSocket control channel, is told of an operator cancel by an agentd:task_status
// frame and stops the task without a status call.
import { afterEach, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { enrollDaemon, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';
import { enrol, startHarness, waitFor, type Harness } from './tasks-harness.js';

let p: TestPlatform | null = null;
let h: Harness | null = null;
let d: TestDaemon | null = null;
let e: Enrolled | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
  await d?.stop();
  d = null;
  await e?.remove();
  e = null;
  await p?.stop();
  p = null;
});

const count = (out: string, re: RegExp): number => out.split('\n').filter((l) => re.test(l)).length;
const BATCH = /POST \/api\/daemon\/tasks\/status 200/;
const BATCH_404 = /POST \/api\/daemon\/tasks\/status 404/;
const PER_TASK = /GET \/api\/daemon\/tasks\/[^/ ]+\/status 200/;

async function threeRunning(h: Harness, p: TestPlatform): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await h.enqueue('sleep 300'));
  for (const id of ids) await p.admin.waitForTask(p.workspaceId, id, (t) => t.status === 'running', 10_000);
  await waitFor(() => h.mgr.running().length === 3, 10_000, 'three tasks running');
  return ids;
}

describe('cancellation polling', () => {
  it('asks for all running tasks in one call per interval, and a cancel stops only that task', async () => {
    p = await startPlatform({ args: ['--log-requests'] });
    h = await startHarness({ platform: p, statusPollMs: 200 });
    const [a, b, c] = await threeRunning(h, p);
    const before = count(p.output(), BATCH);
    await waitFor(() => count(p!.output(), BATCH) >= before + 3, 20_000, 'three more batched status calls');
    await p.admin.cancelTask(p.workspaceId, b!);
    await waitFor(() => !h!.mgr.running().some((r) => r.id === b), 20_000, 'the cancelled task to stop');
    expect((await p.admin.getTask(p.workspaceId, b!, { messagesLimit: 0 })).cancel_acked_at).not.toBeNull();
    expect(h.mgr.running().map((r) => r.id).sort()).toEqual([a!, c!].sort());
    // Never a request per task.
    expect(count(p.output(), PER_TASK)).toBe(0);
    // The route answers for the caller's own tasks only; another daemon sees none of them.
    expect((await h.e.client.taskStatuses({ task_ids: [a!, b!, 'no-such-task'] })).tasks.sort((x, y) => x.id.localeCompare(y.id))).toEqual(
      [{ id: a!, status: 'running' }, { id: b!, status: 'cancelled' }].sort((x, y) => x.id.localeCompare(y.id)),
    );
    const other = await enrol(p);
    expect(await other.client.taskStatuses({ task_ids: [a!, b!, c!] })).toEqual({ tasks: [] });
    await other.client.close();
  }, 60_000);

  it('falls back to one GET per task against a platform without the batched route, and cancels still work', async () => {
    p = await startPlatform({ args: ['--log-requests', '--no-batch-status'] });
    h = await startHarness({ platform: p, statusPollMs: 200 });
    const [a, b, c] = await threeRunning(h, p);
    await waitFor(() => count(p!.output(), PER_TASK) >= 6, 20_000, 'per-task status calls');
    // One 404 switched it over; it does not keep asking for the missing route.
    expect(count(p.output(), BATCH_404)).toBe(1);
    await p.admin.cancelTask(p.workspaceId, c!);
    await waitFor(() => !h!.mgr.running().some((r) => r.id === c), 20_000, 'the cancelled task to stop');
    expect(h.mgr.running().map((r) => r.id).sort()).toEqual([a!, b!].sort());
    expect(h.logs()).toMatch(/no batched task status route/);
  }, 60_000);
});

describe('cancellation pushed over the control channel', () => {
  it('an operator cancel reaches the daemon as agentd:task_status and stops that task', async () => {
    p = await startPlatform({ args: ['--log-requests'] });
    e = await enrollDaemon(p);
    d = await startDaemon(e, { env: { AGENTD_HEARTBEAT_INTERVAL: '1s', AGENTD_MAX_TASKS: '2', AGENTD_DRAIN_TIMEOUT: '1s', AGENTD_KILL_GRACE: '1s' } });
    // The acks over the open channel name the capability: the poll becomes the safety net.
    await d.waitFor((s) => (s.websocket as { status_push?: boolean } | null)?.status_push === true, 20_000);
    const keep = (await p.admin.enqueueTask(p.workspaceId, { runtime: 'command', prompt: 'sleep 300' })).id;
    const gone = (await p.admin.enqueueTask(p.workspaceId, { runtime: 'command', prompt: 'sleep 300' })).id;
    for (const id of [keep, gone]) await p.admin.waitForTask(p.workspaceId, id, (t) => t.status === 'running', 20_000);
    await d.waitFor((s) => s.tasks.running.length === 2, 20_000);
    await p.admin.cancelTask(p.workspaceId, gone);
    const st = await d.waitFor((s) => s.tasks.running.length === 1, 20_000);
    expect((st.tasks.running as { id: string }[]).map((r) => r.id)).toEqual([keep]);
    expect((st.websocket as { task_status_total: number }).task_status_total).toBe(1);
    // Stopped by the frame, not by a status poll answer (whose reason reads "marked").
    expect(d.stdout()).toMatch(new RegExp(`"task_id":"${gone}".*stopping task: the platform pushed that the task is cancelled`));
    await p.admin.waitForTask(p.workspaceId, gone, (t) => t.cancel_acked_at !== null, 20_000);
    expect(count(p.output(), PER_TASK)).toBe(0);
    expect((await p.admin.getTask(p.workspaceId, keep, { messagesLimit: 0 })).status).toBe('running');
  }, 90_000);
});
