import { describe, expect, it } from 'vitest';
import { Lifecycle, IllegalTransition, TRANSITIONS, type StateChange } from '../../daemon/lifecycle.js';
import { createLogger } from '../../daemon/logger.js';

function collector() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', pretty: false, destination: { write: (l: string) => lines.push(JSON.parse(l)) } });
  return { logger, lines };
}

describe('Lifecycle', () => {
  it('walks the happy path and logs every transition once with its reason', () => {
    const { logger, lines } = collector();
    const lc = new Lifecycle({ logger });
    expect(lc.state).toBe('starting');
    expect(lc.transition('registering', 'config loaded')).toBe(true);
    expect(lc.transition('ready', 'registered 1 runtime')).toBe(true);
    expect(lc.canClaim()).toBe(true);
    expect(lc.transition('degraded', 'heartbeat failed')).toBe(true);
    expect(lc.canClaim()).toBe(false);
    expect(lc.transition('degraded', 'heartbeat failed again')).toBe(false);
    expect(lc.reason).toBe('heartbeat failed again');
    expect(lc.transition('ready', 'heartbeat ok')).toBe(true);
    expect(lc.transition('draining', 'SIGTERM')).toBe(true);
    expect(lc.transition('stopped', 'drained')).toBe(true);
    const states = lines.filter((l) => l.event === 'state').map((l) => `${l.from}>${l.to}:${l.reason}`);
    expect(states).toEqual([
      'starting>registering:config loaded',
      'registering>ready:registered 1 runtime',
      'ready>degraded:heartbeat failed',
      'degraded>ready:heartbeat ok',
      'ready>draining:SIGTERM',
      'draining>stopped:drained',
    ]);
  });

  it('throws on an illegal transition outside shutdown', () => {
    const lc = new Lifecycle();
    expect(() => lc.transition('ready', 'skipped registration')).toThrow(IllegalTransition);
    expect(lc.state).toBe('starting');
  });

  it('ignores late reports once draining began', () => {
    const lc = new Lifecycle();
    lc.transition('registering', 'x');
    lc.transition('ready', 'x');
    lc.transition('draining', 'SIGTERM');
    expect(lc.transition('degraded', 'late heartbeat failure')).toBe(false);
    expect(lc.transition('ready', 'late heartbeat success')).toBe(false);
    expect(lc.state).toBe('draining');
  });

  it('revoked returns to ready only through registering', () => {
    const lc = new Lifecycle();
    lc.transition('registering', 'x');
    lc.transition('ready', 'x');
    lc.transition('revoked', 'credential refused twice');
    expect(lc.canClaim()).toBe(false);
    expect(() => lc.transition('ready', 'x')).toThrow(IllegalTransition);
    lc.transition('registering', 'new credential');
    lc.transition('ready', 'registered');
    expect(lc.state).toBe('ready');
  });

  it('tells listeners, survives a throwing listener, and waitFor resolves', async () => {
    const lc = new Lifecycle();
    const seen: StateChange[] = [];
    lc.onChange(() => {
      throw new Error('bad listener');
    });
    const off = lc.onChange((c) => seen.push(c));
    const ready = lc.waitFor(['ready']);
    lc.transition('registering', 'a');
    lc.transition('ready', 'b');
    await expect(ready).resolves.toBe('ready');
    off();
    lc.transition('degraded', 'c');
    expect(seen.map((c) => c.to)).toEqual(['registering', 'ready']);
  });

  it('every state can reach stopped (no dead ends)', () => {
    for (const start of Object.keys(TRANSITIONS) as (keyof typeof TRANSITIONS)[]) {
      const seen = new Set([start]);
      const queue = [start];
      while (queue.length) for (const n of TRANSITIONS[queue.shift()!]) if (!seen.has(n)) (seen.add(n), queue.push(n));
      expect(seen.has('stopped'), `${start} reaches stopped`).toBe(true);
    }
  });
});
