import { describe, expect, it } from 'vitest';
import { HeartbeatLoop, type HeartbeatClient, type HeartbeatOptions } from '../../daemon/heartbeat.js';
import { NotFound, PlatformUnavailable, Unauthorized } from '../../api/errors.js';
import { createLogger } from '../../daemon/logger.js';

const route = 'POST /api/daemon/heartbeat';
const logger = createLogger({ level: 'silent', pretty: false, destination: { write: () => undefined } });

function loop(client: HeartbeatClient, over: Partial<HeartbeatOptions> = {}) {
  const events: string[] = [];
  const hb = new HeartbeatLoop({
    client,
    runtimeIds: () => ['rt-1', 'rt-2'],
    intervalMs: 1000,
    logger,
    onSuccess: () => events.push('ok'),
    onFailure: () => events.push('fail'),
    onUnauthorized: async () => (events.push('401'), events.filter((e) => e === '401').length < 2),
    onRuntimeUnknown: () => events.push('404'),
    ...over,
  });
  return { hb, events };
}

describe('HeartbeatLoop', () => {
  it('beats every runtime with its own short timeout and no client retries', async () => {
    const calls: { id: string; timeoutMs?: number; attempts?: number }[] = [];
    const { hb, events } = loop({
      heartbeat: async (b, o) => (calls.push({ id: b.runtime_id, timeoutMs: o?.timeoutMs, attempts: o?.attempts }), { runtime_id: b.runtime_id, status: 'online' }),
    });
    expect(await hb.beatOnce()).toBe('ok');
    expect(calls.map((c) => c.id).sort()).toEqual(['rt-1', 'rt-2']);
    expect(calls.every((c) => c.timeoutMs === 1000 && c.attempts === 1)).toBe(true);
    expect(events).toEqual(['ok']);
    expect(hb.stats.lastSuccessAt).not.toBeNull();
    expect(hb.stats.latency.count).toBe(2);
  });

  it('counts consecutive failures and resets them on the first success', async () => {
    let up = false;
    const { hb, events } = loop({
      heartbeat: async (b) => {
        if (!up) throw new PlatformUnavailable('connect ECONNREFUSED', { route });
        return { runtime_id: b.runtime_id, status: 'online' };
      },
    });
    expect(await hb.beatOnce()).toBe('failed');
    expect(await hb.beatOnce()).toBe('failed');
    expect(hb.stats.consecutiveFailures).toBe(2);
    expect(hb.stats.failuresTotal).toBe(2);
    up = true;
    expect(await hb.beatOnce()).toBe('ok');
    expect(hb.stats.consecutiveFailures).toBe(0);
    expect(hb.stats.failuresTotal).toBe(2);
    expect(events).toEqual(['fail', 'fail', 'ok']);
  });

  it('a 401 asks the owner: retry at once, then stop', async () => {
    const { hb, events } = loop({
      heartbeat: async () => {
        throw new Unauthorized('unauthorized', { route, status: 401 });
      },
    });
    expect(await hb.beatOnce()).toBe('retry-now');
    expect(await hb.beatOnce()).toBe('stop');
    expect(events).toEqual(['401', '401']);
  });

  it('a 404 (runtime unknown) asks the owner to re-register', async () => {
    const { hb, events } = loop({
      heartbeat: async () => {
        throw new NotFound('runtime not found', { route, status: 404 });
      },
    });
    expect(await hb.beatOnce()).toBe('stop');
    expect(events).toEqual(['404']);
  });

  it('the running loop retries with backoff capped at the interval, and stop() ends it', async () => {
    let n = 0;
    const times: number[] = [];
    const { hb } = loop(
      {
        heartbeat: async (b) => {
          times.push(Date.now());
          if (++n <= 4) throw new PlatformUnavailable('down', { route });
          return { runtime_id: b.runtime_id, status: 'online' };
        },
      },
      { runtimeIds: () => ['rt-1'], intervalMs: 200 },
    );
    hb.start();
    await new Promise((r) => setTimeout(r, 1500));
    await hb.stop();
    expect(hb.running).toBe(false);
    expect(n).toBeGreaterThanOrEqual(5);
    expect(hb.stats.consecutiveFailures).toBe(0);
    // Never more than the cap (interval) + slack between two failed attempts.
    for (let i = 1; i < 5; i++) expect(times[i] - times[i - 1]).toBeLessThan(200 + 150);
  });

  it('a hung request is bounded by the round timeout', async () => {
    const { hb, events } = loop(
      { heartbeat: (_b, o) => new Promise((_, rej) => o?.signal?.addEventListener('abort', () => rej(new PlatformUnavailable('aborted', { route })))) },
      { timeoutMs: 50 },
    );
    expect(await hb.beatOnce()).toBe('failed');
    expect(events).toEqual(['fail']);
  });
});
