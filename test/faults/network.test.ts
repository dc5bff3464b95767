// Transport faults between daemon and platform (the fault proxy in between): dropped
// connections, 2 s of added latency, resets and truncation mid-response, a 10 s blackhole.
// Each case: no crash, every message exactly once, no task left running, ready again
// within one backoff cap (test/faults/case.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { runFaultCase, type FaultCase } from './case.js';

const DAEMON_ROUTES = /^\/api\/daemon\//;

const CASES: FaultCase[] = [
  { name: 'drop connections (4 s)', windowMs: 4_000, rules: [{ path: DAEMON_ROUTES, fault: { kind: 'drop' } }], expectKind: 'drop' },
  { name: 'delay 2 s (5 s)', windowMs: 5_000, rules: [{ path: DAEMON_ROUTES, fault: { kind: 'delay', ms: 2_000 } }], expectKind: 'delay' },
  // every 2nd request: the platform processed it, the daemon saw the answer break off
  { name: 'reset mid-response (4 s)', windowMs: 4_000, rules: [{ path: DAEMON_ROUTES, fault: { kind: 'reset' }, every: 2 }], expectKind: 'reset' },
  { name: 'truncated bodies (4 s)', windowMs: 4_000, rules: [{ path: DAEMON_ROUTES, fault: { kind: 'truncate' }, every: 2 }], expectKind: 'truncate' },
  // a request caught in the dead connection waits for its client timeout (15 s) before
  // it is retried, hence the longer settle time
  { name: 'blackhole 10 s', windowMs: 10_000, blackhole: true, expectKind: 'blackhole', settleMs: 45_000 },
];

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => {
  await platform?.stop();
});

describe('transport faults between daemon and platform', () => {
  for (const c of CASES) {
    it(c.name, { timeout: 90_000 }, async () => {
      const r = await runFaultCase(platform, c);
      // Printed for the closing note: how each fault played out.
      console.log(`[faults] ${c.name}: hits=${r.hits} degraded=${r.wentDegraded} ready_after=${r.readyAfterMs}ms`);
      expect(r.hits).toBeGreaterThan(0);
    });
  }
});
