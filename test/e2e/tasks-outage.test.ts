// Output survives a platform outage: the platform goes away while a task prints, comes
// back on the same port and data dir, and every line arrives exactly once, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { startHarness, waitFor, type Harness } from './tasks-harness.js';

let p: TestPlatform;
let h: Harness | null = null;

beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await h?.close();
  await p?.stop();
});

describe('platform outage during a task', () => {
  it('messages posted while the platform is down are retried with the same seqs and none is lost', async () => {
    h = await startHarness({ platform: p, statusPollMs: 300 });
    const id = await h.enqueue('for i in $(seq 1 60); do echo "n $i"; sleep 0.05; done');
    await p.admin.waitForTask(p.workspaceId, id, (t) => (t.message_count ?? 0) > 0, 10_000, { messagesLimit: 0 });
    await p.halt();
    // The task keeps running (and printing) while the platform is gone.
    await new Promise((r) => setTimeout(r, 2500));
    expect(h.mgr.running().map((r) => r.id)).toEqual([id]);
    await p.restart();
    const t = await h.waitDone(id, 60_000);
    expect(t.status).toBe('completed');
    const msgs = await h.messages(id);
    // Raw text in chunks: the chunks concatenated are every line, once, in order.
    expect(msgs.map((m) => m.content).join('')).toBe(Array.from({ length: 60 }, (_, i) => `n ${i + 1}\n`).join(''));
    expect(msgs.map((m) => m.seq)).toEqual(msgs.map((_, i) => i + 1));
    await waitFor(() => h!.mgr.running().length === 0, 5000, 'slot to be freed');
  }, 90_000);
});
