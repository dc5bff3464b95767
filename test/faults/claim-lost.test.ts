// A claim answer lost after the platform handed out a task (reset mid-response): the
// daemon never learns of the task, so only the platform can give it back. The reference
// platform's claim lease (--claim-lease; 3 s here, 300 s by default) queues it again and
// the daemon claims it anew: the task runs once and completes, nothing stays "claimed".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { allMessages } from '../helpers/platform.js';
import { startRig, waitTerminal } from './harness.js';

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startPlatform({ args: ['--claim-lease', '3s'] });
});
afterAll(async () => {
  await platform?.stop();
});

describe('lost claim answer', () => {
  it('the task is not stranded in "claimed": queued again, run once, completed', { timeout: 60_000 }, async () => {
    let id = '';
    // The task is queued before the daemon starts, so its first claim carries it; the
    // proxy cuts that answer.
    const rig = await startRig(platform, {}, async (proxy) => {
      proxy.setRules([{ path: '/api/daemon/tasks/claim', fault: { kind: 'reset' }, times: 1 }]);
      id = (await platform.admin.enqueueTask(platform.workspaceId, { runtime: 'command', prompt: 'echo ran-once' })).id;
    });
    try {
      const t = await waitTerminal(platform, id, 30_000);
      expect(t.status, `${t.failure_reason ?? ''} ${t.error ?? ''}`).toBe('completed');
      // Handed out twice (the lost answer, then again after the lease), run once.
      expect(rig.proxy.counts(/\/tasks\/claim$/).reset).toBe(1);
      const text = (await allMessages(platform, id)).filter((m) => m.type === 'text').map((m) => m.content ?? '').join('');
      expect(text).toBe('ran-once\n');
      expect(rig.daemon.alive()).toBe(true);
    } finally {
      await rig.close();
    }
  });
});
