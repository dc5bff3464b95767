// Small platform modules on their own: durations, the router, safe file names, the
// long-poll waiter list, token helpers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { newToken, safeEqual, sha256Hex } from '../../platform/crypto.js';
import { safeJoin, webPath } from '../../platform/files.js';
import { Router } from '../../platform/router.js';
import { parseDuration } from '../../core/durations.js';
import { ClaimWaiters } from '../../platform/waiters.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['45s', 45_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['90', 90_000],
    ['1.5s', 1500],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', 'abc', '15 minutes', '-1s', '1w', 's'])('rejects %j', (text) => expect(parseDuration(text)).toBeNull());
});

describe('Router', () => {
  const h = () => [200, null] as [number, unknown];
  const r = new Router().get('/api/workspaces/{ws}/tasks/{task}', h).post('/api/workspaces/{ws}/tasks', h);
  it('extracts decoded params', () => {
    expect(r.match('GET', '/api/workspaces/w%201/tasks/t1')).toMatchObject({ params: { ws: 'w 1', task: 't1' } });
  });
  it('405 for a known path with another method, null for an unknown path', () => {
    expect(r.match('DELETE', '/api/workspaces/w/tasks/t')).toEqual({ methodNotAllowed: true });
    expect(r.match('GET', '/api/workspaces/w/tasks/t/extra')).toBeNull();
    // An empty id segment is not an unknown path: the server answers 400 "workspace id is required".
    expect(r.match('GET', '/api/workspaces//tasks/t')).toEqual({ emptyParam: 'ws' });
    expect(r.match('GET', '/api/nothing//here')).toBeNull();
  });
  it('HEAD matches GET routes', () => {
    expect(r.match('HEAD', '/api/workspaces/w/tasks/t')).toHaveProperty('handler');
  });
  it('the first route registered that matches wins, exact paths or not', () => {
    const first = () => [200, 'first'] as [number, unknown];
    const second = () => [200, 'second'] as [number, unknown];
    const third = () => [200, 'third'] as [number, unknown];
    const q = new Router()
      .post('/api/daemon/heartbeat', first)
      .get('/api/daemon/{what}', second) // matches /api/daemon/heartbeat too
      .get('/api/daemon/heartbeat', third) // after a pattern that matches it: never reached
      .post('/api/daemon/tasks/{id}', first)
      .post('/api/daemon/tasks/claim', second); // the pattern before it wins
    const h = (m: string, path: string) => {
      const x = q.match(m, path);
      return x && 'handler' in x ? x.handler({} as never) : x;
    };
    expect(h('POST', '/api/daemon/heartbeat')).toEqual([200, 'first']);
    expect(h('GET', '/api/daemon/heartbeat')).toEqual([200, 'second']);
    expect(h('HEAD', '/api/daemon/heartbeat')).toEqual([200, 'second']);
    expect(h('POST', '/api/daemon/tasks/claim')).toEqual([200, 'first']);
    expect(h('DELETE', '/api/daemon/heartbeat')).toEqual({ methodNotAllowed: true });
  });
});

describe('safeJoin / webPath', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-safejoin-'));
  it('accepts plain names and refuses anything that could leave the directory', () => {
    expect(safeJoin(dir, 'agentd-linux-x64.tar.xz')).toBe(join(dir, 'agentd-linux-x64.tar.xz'));
    for (const bad of ['', '.', '..', '../x', 'a/b', 'a\\b', '.hidden', '%2e%2e', 'a..b/', '/etc/passwd', 'x\0y']) expect(safeJoin(dir, bad)).toBeUndefined();
  });
  it('maps / to index.html', () => {
    expect(webPath(dir, '/')).toBe(join(dir, 'index.html'));
    expect(webPath(dir, '/a/b.js')).toBeUndefined();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('ClaimWaiters', () => {
  it('wakes only waiters of the same workspace and runtime name', async () => {
    const w = new ClaimWaiters();
    const a = w.wait('ws1', new Set(['command']), 10_000);
    const b = w.wait('ws1', new Set(['claude']), 50);
    const c = w.wait('ws2', new Set(['command']), 50);
    w.notify('ws1', 'command');
    expect(await a).toBe(true);
    expect(await b).toBe(false);
    expect(await c).toBe(false);
    expect(w.size).toBe(0);
  });
  it('a watch keeps a wake-up that came before wait(): the claim in between cannot miss an enqueue', async () => {
    const w = new ClaimWaiters();
    const watch = w.watch('ws', new Set(['command']));
    w.notify('ws', 'command'); // while the (empty) claim was on its way
    expect(await watch.wait(25_000)).toBe(true);
    watch.stop();
    expect(w.size).toBe(0);
    const other = w.watch('ws', new Set(['command']));
    w.notify('ws', 'claude');
    expect(await other.wait(20)).toBe(false);
    other.stop();
  });
  it('times out with fake timers, aborts on signal, and close() releases everyone', async () => {
    vi.useFakeTimers();
    try {
      const w = new ClaimWaiters();
      const t = w.wait('ws', new Set(['x']), 25_000);
      vi.advanceTimersByTime(25_000);
      expect(await t).toBe(false);
      const ac = new AbortController();
      const s = w.wait('ws', new Set(['x']), 25_000, ac.signal);
      ac.abort();
      expect(await s).toBe(false);
      const k = w.wait('ws', new Set(['x']), 25_000);
      w.close();
      expect(await k).toBe(true);
      expect(w.isClosed).toBe(true);
      expect(await w.wait('ws', new Set(['x']), 25_000)).toBe(false); // closed: no new waits
      expect(w.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('tokens', () => {
  it('have the contract shape and are unique', () => {
    const a = newToken('mit_');
    expect(a).toMatch(/^mit_[0-9a-f]{40}$/);
    expect(newToken('mit_')).not.toBe(a);
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
  it('safeEqual compares any lengths', () => {
    expect(safeEqual('x', 'x')).toBe(true);
    expect(safeEqual('x', 'xy')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});
