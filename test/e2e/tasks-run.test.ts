// Real task manager + real reference platform + real child processes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { alive, startHarness, waitFor, type Harness } from './tasks-harness.js';

let p: TestPlatform;
let h: Harness | null = null;

beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.stop();
});
afterEach(async () => {
  await h?.close();
  h = null;
});

/** The content of a task's messages of one type, concatenated in seq order. */
function joined(msgs: { type: string; content?: string }[], type: string): string {
  return msgs
    .filter((m) => m.type === type)
    .map((m) => m.content ?? '')
    .join('');
}

function readPid(h: Harness, id: string, file: string): number {
  return Number(readFileSync(join(h.stateDir, 'work', id, file), 'utf8').trim());
}

describe('tasks against the real platform', () => {
  it('a command task completes with its output lines in order', async () => {
    h = await startHarness({ platform: p });
    const id = await h.enqueue('for i in 1 2 3 4 5; do echo "line $i"; done; echo oops >&2');
    const t = await h.waitDone(id);
    expect(t.status).toBe('completed');
    expect(t.output).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
    const msgs = await h.messages(id);
    // Raw text, chunked: the chunks of each stream concatenated are the stream. Multica's
    // vocabulary on the wire: stderr goes out as `error` messages.
    expect(joined(msgs, 'text')).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
    expect(joined(msgs, 'error')).toBe('oops\n');
    expect(msgs.every((m) => ['text', 'thinking', 'tool_use', 'tool_result', 'error'].includes(m.type))).toBe(true);
    expect(msgs.map((m) => m.seq)).toEqual(msgs.map((_, i) => i + 1));
  });

  it('a command task\'s prompt is not in its argv (ps shows every user argv); its stdin is empty, as before', async () => {
    h = await startHarness({ platform: p });
    const id = await h.enqueue('tr "\\0" " " < /proc/$$/cmdline; echo; cat; echo "SECRET-PROMPT-MARK done"');
    const t = await h.waitDone(id);
    expect(t.status).toBe('completed');
    const [argv, ...rest] = t.output!.split('\n');
    expect(argv).toContain('/bin/sh');
    expect(argv).not.toContain('SECRET-PROMPT-MARK');
    expect(rest.join('\n')).toBe('SECRET-PROMPT-MARK done\n');
  });

  it('a failed task\'s stderr goes to the platform, never into the daemon\'s log: the log gets its size and exit status', async () => {
    h = await startHarness({ platform: p });
    const id = await h.enqueue('echo "password=hunter2" >&2; exit 3');
    const t = await h.waitDone(id);
    expect(t.status).toBe('failed');
    expect(t.error).toContain('password=hunter2');
    await waitFor(() => h!.logs().includes('"task finished"'), 10_000, 'the task finished log line');
    expect(h.logs()).not.toContain('hunter2');
    const line = JSON.parse(h.logs().split('\n').find((l) => l.includes('"task finished"'))!) as Record<string, unknown>;
    expect(line).toMatchObject({ outcome: 'agent_error', exit_code: 3, error_bytes: Buffer.byteLength(t.error!) });
  });

  it('ends when the main process exits even though a grandchild holds stdout open; the grandchild is killed', async () => {
    h = await startHarness({ platform: p });
    const id = await h.enqueue('sleep 300 & echo $! > gc.pid; echo main done');
    const t = await h.waitDone(id, 15_000); // far below the grandchild's 300 s
    expect(t.status).toBe('completed');
    expect(t.output).toBe('main done\n');
    const gc = readPid(h, id, 'gc.pid');
    await waitFor(() => !alive(gc), 3000, `grandchild ${gc} to be gone`);
  });

  it('a task silent past a 2 s idle window fails with idle_watchdog and its grandchildren are gone', async () => {
    h = await startHarness({ platform: p, taskIdleTimeoutMs: 2000, killGraceMs: 1000 });
    const id = await h.enqueue(`echo start; sh -c 'sleep 300 & echo $! > gc.pid; wait'`);
    const t = await h.waitDone(id, 15_000);
    expect(t.status).toBe('failed');
    expect(t.failure_reason).toBe('idle_watchdog');
    expect(t.error).toMatch(/no output for 2s \(idle limit 2s\)/);
    const gc = readPid(h, id, 'gc.pid');
    await waitFor(() => !alive(gc), 3000, `grandchild ${gc} to be gone`);
    // The platform hears of the failure before the runner returns and the slot is freed.
    await waitFor(() => h!.mgr.running().length === 0, 3000, 'the slot to be freed');
    expect(h.mgr.stats().watchdog_kills_total).toBe(1);
    expect(h.mgr.stats().finished_total.idle_watchdog).toBe(1);
  });

  it('a task printing every 500 ms for 5 s under a 2 s idle window completes', async () => {
    h = await startHarness({ platform: p, taskIdleTimeoutMs: 2000 });
    const id = await h.enqueue('for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 0.5; done');
    const t = await h.waitDone(id, 20_000);
    expect(t.status).toBe('completed');
    expect(t.output?.trim().split('\n')).toHaveLength(10);
  });

  it('the wall-clock limit (timeout_s) fails the task with timeout', async () => {
    h = await startHarness({ platform: p, killGraceMs: 1000 });
    const id = await h.enqueue('echo $$ > main.pid; echo busy; sleep 300', { timeout_s: 1 });
    const t = await h.waitDone(id, 15_000);
    expect(t.status).toBe('failed');
    expect(t.failure_reason).toBe('timeout');
    expect(t.error).toMatch(/time limit of 1s/);
    expect(alive(readPid(h, id, 'main.pid'))).toBe(false);
  });

  it('a task that ignores SIGTERM is SIGKILLed after the grace', async () => {
    h = await startHarness({ platform: p, killGraceMs: 1500 });
    const id = await h.enqueue(`trap '' TERM; echo $$ > main.pid; echo armoured; sleep 300; echo survived`, { timeout_s: 1 });
    const t = await h.waitDone(id, 15_000);
    expect(t.status).toBe('failed');
    expect(t.failure_reason).toBe('timeout');
    expect(t.output ?? '').not.toContain('survived');
    const msgs = await h.messages(id);
    expect(joined(msgs, 'text')).toBe('armoured\n');
    expect(alive(readPid(h, id, 'main.pid'))).toBe(false);
  });

  it('a platform cancel stops the task within one poll and answers cancel-ack', async () => {
    h = await startHarness({ platform: p, statusPollMs: 300 });
    const id = await h.enqueue('echo $$ > main.pid; echo working; sleep 300');
    await p.admin.waitForTask(p.workspaceId, id, (t) => t.status === 'running', 10_000);
    await waitFor(() => h!.mgr.running().some((r) => r.id === id && r.pid !== null), 5000, 'task to run');
    const pid = h.mgr.running().find((r) => r.id === id)!.pid!;
    await p.admin.cancelTask(p.workspaceId, id);
    await waitFor(() => h!.mgr.running().length === 0, 10_000, 'task to be stopped and reported');
    expect(alive(pid)).toBe(false);
    const t = await p.admin.getTask(p.workspaceId, id, { messagesLimit: 0 });
    expect(t.status).toBe('cancelled');
    expect(h.mgr.stats().finished_total.cancelled).toBe(1);
    expect(h.logs()).toMatch(/"outcome":"cancelled".*"msg":"task finished"/);
  });

  it('50 tasks with maxTasks 8 never run more than 8 at once', async () => {
    h = await startHarness({ platform: p, maxTasks: 8 });
    let maxSeen = 0;
    const sampler = setInterval(() => {
      maxSeen = Math.max(maxSeen, h!.mgr.running().length);
    }, 10);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push(await h.enqueue(`sleep 0.3; echo task ${i}`));
    const done = await Promise.all(ids.map((id) => h!.waitDone(id, 60_000)));
    clearInterval(sampler);
    expect(done.every((t) => t.status === 'completed')).toBe(true);
    expect(maxSeen).toBeLessThanOrEqual(8);
    expect(maxSeen).toBeGreaterThan(1);
    // The platform's own timestamps agree: never more than 8 started-and-unfinished.
    const edges = done.flatMap((t) => [
      { at: Date.parse(t.started_at!), d: 1 },
      { at: Date.parse(t.finished_at!), d: -1 },
    ]);
    edges.sort((a, b) => a.at - b.at || a.d - b.d);
    let cur = 0;
    let peak = 0;
    for (const e of edges) peak = Math.max(peak, (cur += e.d));
    expect(peak).toBeLessThanOrEqual(8);
  }, 90_000);

  it('per-runtime caps hold under the global limit', async () => {
    h = await startHarness({ platform: p, maxTasks: 8, maxTasksPerRuntime: { command: 2 } });
    let maxSeen = 0;
    const sampler = setInterval(() => {
      maxSeen = Math.max(maxSeen, h!.mgr.running().length);
    }, 10);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await h.enqueue('sleep 0.3'));
    await Promise.all(ids.map((id) => h!.waitDone(id, 30_000)));
    clearInterval(sampler);
    expect(maxSeen).toBe(2);
  }, 60_000);

  it('a flood of output is stored in 64 KiB chunks: every byte exactly once, in order, seqs 1..n', async () => {
    h = await startHarness({ platform: p });
    const n = 400_000;
    const id = await h.enqueue(`seq 1 ${n}`);
    const t = await h.waitDone(id, 120_000);
    expect(t.status).toBe('completed');
    const msgs = await h.messages(id);
    const expected = Array.from({ length: n }, (_, i) => `${i + 1}\n`).join(''); // 2.7 MB
    expect(joined(msgs, 'text')).toBe(expected);
    expect(msgs.map((m) => m.seq)).toEqual(msgs.map((_, i) => i + 1));
    // Chunks, not lines: at most 64 KiB each.
    expect(msgs.length).toBeLessThan(n / 100);
    for (const m of msgs) expect(Buffer.byteLength(m.content!)).toBeLessThanOrEqual(64 * 1024);
    expect(t.message_count).toBe(msgs.length);
  }, 150_000);

  it('multi-byte characters survive chunking: no character is cut, nothing is replaced', async () => {
    h = await startHarness({ platform: p });
    // No newlines at all: every cut is a size cut, and 3- and 4-byte characters straddle them.
    const unit = 'é€😀';
    const id = await h.enqueue(`i=0; while [ $i -lt 20000 ]; do printf '${unit}'; i=$((i+1)); done`);
    const t = await h.waitDone(id, 120_000);
    expect(t.status).toBe('completed');
    const msgs = await h.messages(id);
    // 180,000 bytes cut only by size: at least 3 chunks of at most 64 KiB (how many more
    // depends on how fast the pipe is read, so only the lower bound is a fact).
    expect(msgs.length).toBeGreaterThanOrEqual(3);
    for (const m of msgs) expect(Buffer.byteLength(m.content!)).toBeLessThanOrEqual(64 * 1024);
    for (const m of msgs) expect(m.content).not.toContain('\uFFFD');
    expect(joined(msgs, 'text')).toBe(unit.repeat(20000));
  }, 150_000);
});
