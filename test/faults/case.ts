// One fault case, the same checks for every fault (issue 7):
//   - no crash: the daemon is alive after the fault and stops cleanly (exit 0) at the end;
//   - every task message arrives exactly once: the platform holds each output line once,
//     in order, with seqs strictly increasing and contiguous;
//   - no task left running: every task of this daemon ends (here: completed);
//   - back to `ready` within one backoff cap after the fault ends (the heartbeat backoff
//     caps at one interval; plus one heartbeat timeout for a request caught in the
//     fault, plus slack for a loaded 2-core machine).
// Two tasks run through each fault: a long one that ends after the fault (its
// output straddles it) and a short one that ends during the fault (its terminal call has
// to get through the fault).
import { expect } from 'vitest';
import type { TestPlatform } from '../helpers/platform.js';
import { allMessages } from '../helpers/platform.js';
import { sleep, startRig, waitTerminal, type Rig } from './harness.js';
import type { Rule } from './proxy.js';

/** Daemon heartbeat interval in the suite; the heartbeat backoff caps at one interval. */
export const INTERVAL_MS = 1_000;
const BACKOFF_CAP_MS = INTERVAL_MS;
const HEARTBEAT_TIMEOUT_MS = Math.min(5_000, INTERVAL_MS);
const SLACK_MS = 2_000;
export const READY_BOUND_MS = BACKOFF_CAP_MS + HEARTBEAT_TIMEOUT_MS + SLACK_MS;

export interface FaultCase {
  name: string;
  /** How long the fault lasts. */
  windowMs: number;
  /** Proxy rules for the window; or use `blackhole`. */
  rules?: Rule[];
  blackhole?: boolean;
  /** The proxy log must show this fault kind at least once (the fault really hit). */
  expectKind: string;
  /** How long tasks may take to end after the fault (a request stuck in a dead connection waits for its timeout). */
  settleMs?: number;
}

export interface CaseResult {
  readyAfterMs: number;
  hits: number;
  wentDegraded: boolean;
}

/** A `command` task printing `n` numbered lines, one every 100 ms. */
function linesTask(tag: string, n: number): string {
  return `i=1; while [ $i -le ${n} ]; do echo "${tag} $i"; i=$((i+1)); sleep 0.1; done`;
}

export async function runFaultCase(platform: TestPlatform, c: FaultCase): Promise<CaseResult> {
  const rig: Rig = await startRig(platform, { AGENTD_MAX_TASKS: '4' });
  try {
    await rig.daemon.waitReady(10_000);
    const ws = platform.workspaceId;
    const longN = Math.ceil((c.windowMs + 3_000) / 100);
    const shortN = Math.max(5, Math.floor(c.windowMs / 200));
    const long = (await platform.admin.enqueueTask(ws, { runtime: 'command', prompt: linesTask('L', longN) })).id;
    const short = (await platform.admin.enqueueTask(ws, { runtime: 'command', prompt: linesTask('S', shortN) })).id;
    for (const id of [long, short]) await platform.admin.waitForTask(ws, id, (t) => t.status === 'running', 10_000);

    // The fault.
    let wentDegraded = false;
    if (c.blackhole) rig.proxy.blackhole(c.windowMs);
    else rig.proxy.setRules(c.rules ?? []);
    const faultEnd = Date.now() + c.windowMs;
    while (Date.now() < faultEnd) {
      await sleep(Math.min(250, Math.max(0, faultEnd - Date.now())));
      expect(rig.daemon.alive(), `daemon crashed during the fault:\n${rig.daemon.stdout().slice(-4000)}`).toBe(true);
      if ((await rig.daemon.get('/readyz', 500)).status === 503) wentDegraded = true;
    }
    rig.proxy.clear();
    const ended = Date.now();

    // Back to ready within one backoff cap.
    const readyAt = await rig.daemon.waitReady(30_000);
    const readyAfterMs = readyAt - ended;
    expect(readyAfterMs, `back to ready ${readyAfterMs} ms after the fault ended`).toBeLessThanOrEqual(READY_BOUND_MS);

    // No task left running; every line exactly once, in order.
    const settle = c.settleMs ?? 30_000;
    for (const [id, tag, n] of [[long, 'L', longN], [short, 'S', shortN]] as const) {
      const t = await waitTerminal(platform, id, settle);
      expect(t.status, `task ${tag}: ${t.failure_reason ?? ''} ${t.error ?? ''}`).toBe('completed');
      const msgs = await allMessages(platform, id);
      const seqs = msgs.map((m) => m.seq);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i], `seq after ${seqs[i - 1]}`).toBe(seqs[i - 1]! + 1);
      // Raw text in chunks: the chunks concatenated are every line, once, in order.
      const text = msgs.filter((m) => m.type === 'text').map((m) => m.content ?? '').join('');
      expect(text).toBe(Array.from({ length: n }, (_, k) => `${tag} ${k + 1}\n`).join(''));
    }
    const mine = (await platform.admin.listTasks(ws, 1000)).filter((t) => t.id === long || t.id === short);
    expect(mine.filter((t) => t.status === 'running' || t.status === 'claimed' || t.status === 'queued')).toEqual([]);

    const hits = rig.proxy.counts()[c.expectKind] ?? 0;
    expect(hits, `the fault ${c.expectKind} never hit a request`).toBeGreaterThan(0);

    expect(rig.daemon.alive()).toBe(true);
    const stopped = await rig.daemon.stop();
    expect(stopped, rig.daemon.stdout().slice(-3000)).toEqual({ code: 0, signal: null });
    expect(rig.daemon.stdout()).not.toMatch(/"level":(60|"fatal")/);
    return { readyAfterMs, hits, wentDegraded };
  } finally {
    await rig.close();
  }
}
