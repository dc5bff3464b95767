// Stopping is not cancelling: SIGTERM lets a running task finish (within
// AGENTD_DRAIN_TIMEOUT) and exits 0; a second signal stops the task at once and exits 1.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { enrollDaemon, startDaemon, type Enrolled } from '../helpers/daemon.js';

let p: TestPlatform;
let e: Enrolled;
beforeAll(async () => {
  p = await startPlatform();
  e = await enrollDaemon(p);
});
afterAll(async () => {
  await p?.stop();
  await e?.remove();
});

async function waitTask(id: string, pred: (status: string) => boolean, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const t = await p.admin.getTask(p.workspaceId, id);
    if (pred(t.status)) return t;
    if (Date.now() > end) throw new Error(`task ${id} still ${t.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('SIGTERM drains a running task to completion, then exits 0 within the drain timeout', async () => {
  const d = await startDaemon(e, { env: { AGENTD_DRAIN_TIMEOUT: '20s' } });
  try {
    await d.waitForState('ready');
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: 'command', prompt: 'sleep 2; echo drained-ok' });
    await waitTask(id, (s) => s === 'running');
    const t0 = Date.now();
    d.signal('SIGTERM');
    await d.waitForState('draining', 2_000);
    const x = await d.exited;
    expect(x.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(20_000);
    const t = await p.admin.getTask(p.workspaceId, id);
    expect(t.status).toBe('completed');
    expect(t.messages.map((m) => m.content ?? '').join('')).toContain('drained-ok');
  } finally {
    await d.stop();
  }
}, 40_000);

it('a second SIGTERM stops the running task at once and exits 1', async () => {
  const d = await startDaemon(e, { env: { AGENTD_DRAIN_TIMEOUT: '60s', AGENTD_KILL_GRACE: '1s' } });
  try {
    await d.waitForState('ready');
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: 'command', prompt: 'sleep 120' });
    await waitTask(id, (s) => s === 'running');
    d.signal('SIGTERM');
    await d.waitForState('draining', 2_000);
    const t0 = Date.now();
    d.signal('SIGTERM');
    const x = await d.exited;
    expect(x.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(d.stdout()).toMatch(/received again: stopping at once/);
    const t = await waitTask(id, (s) => s !== 'running' && s !== 'claimed', 10_000);
    expect(t.status).toBe('failed');
    expect(t.failure_reason).toBe('daemon_shutdown');
  } finally {
    await d.stop();
  }
}, 40_000);
