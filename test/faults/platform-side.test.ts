// Platform-side faults, synthesized by the fault proxy for chosen routes: 500s, garbage
// JSON, 10 MB bodies, slow headers. Where the route has side effects (messages, start,
// complete…) the request is forwarded first (`forward: true`): a real platform that
// answers badly has usually done the work, so the daemon's resend must be idempotent.
// Where it has none (heartbeat, task status, claim with no task queued) the proxy answers
// alone. Same checks as the transport faults (test/faults/case.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { runFaultCase, type FaultCase } from './case.js';
import type { Fault, Rule } from './proxy.js';

const SIDE_EFFECTS = /^\/api\/daemon\/tasks\/[^/]+\/(messages|start|progress|complete|fail|cancel-ack)$/;
const READS = /^\/api\/daemon\/(heartbeat|tasks\/[^/]+\/status|tasks\/claim)$/;

/** The same answer for both route groups: forwarded where the request has side effects. */
function both(answer: Extract<Fault, { kind: 'respond' }>, every = 2): Rule[] {
  return [
    { path: SIDE_EFFECTS, fault: { ...answer, forward: true }, every },
    { path: READS, fault: answer, every },
  ];
}

const CASES: FaultCase[] = [
  { name: 'platform answers 500 (4 s)', windowMs: 4_000, rules: both({ kind: 'respond', status: 500 }), expectKind: 'respond' },
  {
    name: 'platform answers 200 with garbage JSON (4 s)',
    windowMs: 4_000,
    rules: both({ kind: 'respond', status: 200, body: '{"runtime_id": "x", "tasks": [{"id": nul' }),
    expectKind: 'respond',
  },
  { name: 'platform answers 200 with a 10 MB body (4 s)', windowMs: 4_000, rules: both({ kind: 'respond', status: 200, body: { size: 10 * 1024 * 1024 } }, 3), expectKind: 'respond' },
  // ~150-byte response heads at 20 ms a byte: 3 s per answer, longer than the heartbeat timeout
  {
    name: 'slow headers (5 s)',
    windowMs: 5_000,
    rules: [{ path: /^\/api\/daemon\//, fault: { kind: 'slowHeaders', byteEveryMs: 20 } }],
    expectKind: 'slowHeaders',
  },
];

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => {
  await platform?.stop();
});

describe('platform-side faults', () => {
  for (const c of CASES) {
    it(c.name, { timeout: 90_000 }, async () => {
      const r = await runFaultCase(platform, c);
      console.log(`[faults] ${c.name}: hits=${r.hits} degraded=${r.wentDegraded} ready_after=${r.readyAfterMs}ms`);
      expect(r.hits).toBeGreaterThan(0);
    });
  }
});
