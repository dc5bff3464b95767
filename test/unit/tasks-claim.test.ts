// The claim loop against a fake client (fake timers): long poll, fallback to interval
// polling when the platform does not hold, backoff on errors, canClaim, abortable stop.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PlatformClient } from '../../api/client.js';
import { PlatformUnavailable, RequestAborted } from '../../api/errors.js';
import { NotFound } from '../../api/errors.js';
import type { ClaimRequest, ClaimResponse, LegacyClaimResponse, RegisteredRuntime } from '../../api/types.js';
import { createTaskManager } from '../../daemon/tasks/manager.js';
import type { TaskManager } from '../../daemon/tasks/types.js';

type ClaimFn = (body: ClaimRequest, o: { signal?: AbortSignal }) => Promise<ClaimResponse>;

let dir: string;
let mgr: TaskManager | null = null;
beforeEach(() => {
  vi.useFakeTimers();
  dir = mkdtempSync(join(tmpdir(), 'agentd-claim-'));
});
afterEach(() => {
  mgr?.stopClaiming();
  mgr = null;
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

function make(
  claim: ClaimFn,
  o: { canClaim?: () => boolean; maxTasks?: number; caps?: Record<string, number>; runtimes?: RegisteredRuntime[]; legacy?: (id: string) => Promise<LegacyClaimResponse> } = {},
) {
  const calls: ClaimRequest[] = [];
  const legacyCalls: string[] = [];
  const runtimes: RegisteredRuntime[] = o.runtimes ?? [
    { id: 'rt-cmd', name: 'command', type: 'command' },
    { id: 'rt-claude', name: 'claude', type: 'claude' },
  ];
  const client = {
    claimTasks: (body: ClaimRequest, opts: { signal?: AbortSignal } = {}) => {
      calls.push(body);
      return claim(body, opts);
    },
    claimLegacy: (id: string) => {
      legacyCalls.push(id);
      return o.legacy ? o.legacy(id) : Promise.resolve({ task: null });
    },
  } as unknown as PlatformClient;
  mgr = createTaskManager({
    client,
    logger: pino({ level: 'silent' }),
    daemonId: 'd1',
    platformUrl: 'http://127.0.0.1:1',
    stateDir: dir,
    runtimes,
    canClaim: o.canClaim ?? (() => true),
    maxTasks: o.maxTasks ?? 4,
    maxTasksPerRuntime: o.caps ?? {},
    taskIdleTimeoutMs: 0,
    toolIdleTimeoutMs: 0,
    taskTimeoutMs: 0,
    killGraceMs: 1000,
    pollIntervalMs: 30_000,
    statusPollMs: 5000,
    workdirRetentionMs: 3600_000,
  });
  return { calls, legacyCalls, runtimes, mgr };
}

/** A platform that holds each claim for `holdMs` (or until aborted), then answers empty. */
const holding =
  (holdMs: number): ClaimFn =>
  (_b, { signal }) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve({ tasks: [] }), holdMs);
      signal?.addEventListener('abort', () => {
        clearTimeout(t);
        reject(new RequestAborted('aborted', { route: 'POST /api/daemon/tasks/claim' }));
      });
    });

describe('claim loop', () => {
  it('long-polls with wait_s 25, max_tasks = free slots, for every runtime: about one request per 25 s', async () => {
    const { calls, mgr } = make(holding(25_000));
    mgr.start();
    await vi.advanceTimersByTimeAsync(100_000);
    expect(calls[0]).toEqual({ daemon_id: 'd1', runtime_ids: ['rt-cmd', 'rt-claude'], max_tasks: 4, wait_s: 25 });
    expect(calls.length).toBeGreaterThanOrEqual(4);
    expect(calls.length).toBeLessThanOrEqual(5);
    expect(mgr.stats().claim_requests_total).toBe(calls.length);
  });

  it('falls back to polling every pollIntervalMs (jittered) when the platform answers at once', async () => {
    const { calls, mgr } = make(async () => ({ tasks: [] }));
    mgr.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls.length).toBe(3); // three quick empty answers, then the interval
    await vi.advanceTimersByTimeAsync(300_000);
    // 300 s at 30 s ± 20 %: 8 to 13 more requests, not thousands.
    expect(calls.length).toBeGreaterThanOrEqual(3 + 8);
    expect(calls.length).toBeLessThanOrEqual(3 + 13);
  });

  it('backs off on errors (capped, jittered) and counts them', async () => {
    const { calls, mgr } = make(async () => {
      throw new PlatformUnavailable('down', { route: 'POST /api/daemon/tasks/claim' });
    });
    mgr.start();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls.length).toBeGreaterThan(3);
    expect(calls.length).toBeLessThan(30);
    expect(mgr.stats().claim_errors_total).toBe(calls.length);
  });

  it('does not claim while canClaim() is false, and starts when it turns true', async () => {
    let ok = false;
    const { calls, mgr } = make(holding(25_000), { canClaim: () => ok });
    mgr.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(0);
    ok = true;
    await vi.advanceTimersByTimeAsync(1_500);
    expect(calls).toHaveLength(1);
  });

  it('stopClaiming aborts the in-flight long poll and claims nothing more', async () => {
    let signal: AbortSignal | undefined;
    const { calls, mgr } = make((b, o) => {
      signal = o.signal;
      return holding(25_000)(b, o);
    });
    mgr.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toHaveLength(1);
    mgr.stopClaiming();
    expect(signal?.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(100_000);
    expect(calls).toHaveLength(1);
  });

  it('a runtime capped at 0 is left out of the claim; caps bound max_tasks', async () => {
    const { calls, mgr } = make(holding(25_000), { maxTasks: 8, caps: { claude: 0 } });
    mgr.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls[0]).toMatchObject({ runtime_ids: ['rt-cmd'], max_tasks: 8 });
    mgr.stopClaiming();
    const m2 = make(holding(25_000), { maxTasks: 8, caps: { claude: 3 } });
    m2.mgr.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(m2.calls[0]).toMatchObject({ runtime_ids: ['rt-cmd', 'rt-claude'], max_tasks: 3 });
  });

  it('a new runtime set (re-registration) ends the claim in flight and claims for the NEW ids at once, on the same loop', async () => {
    const { calls, runtimes, mgr } = make(holding(25_000));
    mgr.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toHaveLength(1);
    // The daemon replaces the list in place, as it does after a heartbeat 404.
    runtimes.splice(0, runtimes.length, { id: 'rt-cmd-2', name: 'command', type: 'command' }, { id: 'rt-claude-2', name: 'claude', provider: 'claude' });
    mgr.runtimesChanged();
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.runtime_ids).toEqual(['rt-cmd-2', 'rt-claude-2']);
    expect(mgr.stats().claim_errors_total).toBe(0);
  });

  it('taskAvailable() wakes an interval-polling loop at once', async () => {
    const { calls, mgr } = make(async () => ({ tasks: [] }));
    mgr.start();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls).toHaveLength(3); // now waiting ~30 s
    mgr.taskAvailable();
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toHaveLength(4);
  });

  it('a batch claim route that is missing (404 without `runtime not found`) switches to per-runtime legacy claims', async () => {
    const { calls, legacyCalls, mgr } = make(async () => {
      throw new NotFound('POST /api/daemon/tasks/claim: not found (404)', { route: 'POST /api/daemon/tasks/claim', status: 404 });
    });
    mgr.start();
    await vi.advanceTimersByTimeAsync(100_000);
    expect(calls).toHaveLength(1);
    expect(legacyCalls.slice(0, 2)).toEqual(['rt-cmd', 'rt-claude']);
    expect(legacyCalls.length).toBeGreaterThan(2);
    expect(mgr.stats().claim_errors_total).toBe(0);
  });

  it('a 404 `runtime not found` on the batch claim is an error, not a missing route', async () => {
    const { calls, legacyCalls, mgr } = make(async () => {
      throw new NotFound('runtime not found', { route: 'POST /api/daemon/tasks/claim', status: 404, platformError: 'runtime not found' });
    });
    mgr.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(legacyCalls).toEqual([]);
    expect(calls.length).toBeGreaterThan(1);
    expect(mgr.stats().claim_errors_total).toBe(calls.length);
  });
});
