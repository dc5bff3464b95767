// Stopping is not cancelling: drain() lets running tasks finish within the deadline,
// then stops the rest with the given reason; cancelAll() stops everything now.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { alive, startHarness, waitFor } from './tasks-harness.js';

let p: TestPlatform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.stop();
});

describe('drain and cancelAll', () => {
  it('drain lets a short task complete, stops a long one as daemon_shutdown, and resolves once both are reported', async () => {
    const h = await startHarness({ platform: p, killGraceMs: 1000 });
    try {
      const short = await h.enqueue('sleep 1; echo finished');
      const long = await h.enqueue('echo $$ > main.pid; sleep 300');
      await waitFor(() => h.mgr.running().filter((r) => r.pid !== null).length === 2, 10_000, 'both tasks to run');
      const longPid = h.mgr.running().find((r) => r.id === long)!.pid!;
      await h.mgr.drain(3000, 'daemon_shutdown');
      // Everything is reported by the time drain resolves.
      expect(h.mgr.running()).toEqual([]);
      const s = await p.admin.getTask(p.workspaceId, short, { messagesLimit: 0 });
      const l = await p.admin.getTask(p.workspaceId, long, { messagesLimit: 0 });
      expect(s.status).toBe('completed');
      expect(s.output).toBe('finished\n');
      expect(l.status).toBe('failed');
      expect(l.failure_reason).toBe('daemon_shutdown');
      expect(l.error).toMatch(/shutting down/);
      expect(alive(longPid)).toBe(false);
      // Nothing new is claimed after a drain.
      const later = await h.enqueue('echo never');
      await new Promise((r) => setTimeout(r, 1000));
      expect((await p.admin.getTask(p.workspaceId, later, { messagesLimit: 0 })).status).toBe('queued');
      await p.admin.cancelTask(p.workspaceId, later);
    } finally {
      await h.close();
    }
  }, 30_000);

  it('cancelAll stops every running task at once with the reason', async () => {
    const h = await startHarness({ platform: p, killGraceMs: 1000 });
    try {
      const ids = [await h.enqueue('sleep 300'), await h.enqueue('sleep 300')];
      await waitFor(() => h.mgr.running().filter((r) => r.pid !== null).length === 2, 10_000, 'tasks to run');
      h.mgr.stopClaiming();
      await h.mgr.cancelAll('runtime_offline');
      for (const id of ids) {
        const t = await p.admin.getTask(p.workspaceId, id, { messagesLimit: 0 });
        expect(t.status).toBe('failed');
        expect(t.failure_reason).toBe('runtime_offline');
      }
      expect(h.mgr.stats().finished_total.runtime_offline).toBe(2);
    } finally {
      await h.close();
    }
  }, 30_000);
});
