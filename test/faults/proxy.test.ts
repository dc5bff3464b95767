// The fault proxy's own tests: a real node:http upstream on port 0, real sockets, and
// a client built on node:http (keep-alive agent) so several requests share a connection.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './proxy.js';

interface Seen {
  method: string;
  path: string;
  body: string;
}

let upstream: http.Server;
let seen: Seen[];
let proxy: FaultProxy;
let agent: http.Agent;

beforeEach(async () => {
  seen = [];
  upstream = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', path: req.url ?? '', body });
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('hello ');
        setTimeout(() => res.end('world'), 20);
        return;
      }
      const out = JSON.stringify({ echo: body, path: req.url, pad: 'p'.repeat(200) });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  proxy = await FaultProxy.start(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
});

afterEach(async () => {
  agent.destroy();
  await proxy.close();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

interface Answer {
  status: number;
  body: string;
}

/** One request through the proxy; rejects on any socket error, short body or timeout. */
function call(method: string, path: string, body?: string, timeoutMs = 5_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: proxy.port, method, path, agent, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('aborted', () => reject(new Error('aborted')));
        res.on('error', reject);
        res.on('end', () => {
          if (!res.complete) return reject(new Error('incomplete body'));
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('FaultProxy', () => {
  it('passes requests and responses through, several on one keep-alive connection', async () => {
    const a = await call('POST', '/api/x', '{"a":1}');
    const b = await call('GET', '/chunked');
    const c = await call('POST', '/api/y?q=1', 'z'.repeat(100_000));
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body).echo).toBe('{"a":1}');
    expect(b.body).toBe('hello world');
    expect(JSON.parse(c.body).echo).toHaveLength(100_000);
    expect(seen.map((s) => s.path)).toEqual(['/api/x', '/chunked', '/api/y?q=1']);
    expect(proxy.counts()).toEqual({ pass: 3 });
  });

  it('drop: the connection closes and the platform never sees the request', async () => {
    proxy.setRules([{ path: '/api/x', fault: { kind: 'drop' } }]);
    await expect(call('POST', '/api/x', '{}')).rejects.toThrow();
    expect(seen).toHaveLength(0);
    // Other routes are untouched.
    expect((await call('POST', '/api/y', '{}')).status).toBe(200);
  });

  it('delay: holds the request before forwarding it', async () => {
    proxy.setRules([{ fault: { kind: 'delay', ms: 300 } }]);
    const t0 = Date.now();
    const a = await call('POST', '/api/x', '{}');
    expect(a.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('reset: the platform processed the request, the client gets half an answer and a RST', async () => {
    proxy.setRules([{ path: '/api/x', fault: { kind: 'reset' } }]);
    await expect(call('POST', '/api/x', '{"n":1}')).rejects.toThrow();
    expect(seen).toHaveLength(1);
  });

  it('truncate: FIN after half the body; the client sees a short body', async () => {
    proxy.setRules([{ path: '/api/x', fault: { kind: 'truncate' } }]);
    await expect(call('POST', '/api/x', '{"n":1}')).rejects.toThrow();
    expect(seen).toHaveLength(1);
  });

  it('blackhole rule: never answers and never closes', async () => {
    proxy.setRules([{ path: '/api/x', fault: { kind: 'blackhole' } }]);
    await expect(call('POST', '/api/x', '{}', 300)).rejects.toThrow('timeout');
    expect(seen).toHaveLength(0);
  });

  it('blackhole(ms): everything goes silent for a while, then new connections work again', async () => {
    expect((await call('GET', '/before')).status).toBe(200); // leaves a keep-alive connection open
    proxy.blackhole(400);
    await expect(call('GET', '/during', undefined, 200)).rejects.toThrow('timeout');
    await new Promise((r) => setTimeout(r, 400));
    expect(proxy.blackholed).toBe(false);
    expect((await call('GET', '/after')).status).toBe(200);
    expect(seen.map((s) => s.path)).toEqual(['/before', '/after']);
    expect(proxy.counts()).toEqual({ pass: 2, blackhole: 1 });
  });

  it('respond: synthesizes 500s and garbage without bothering the platform', async () => {
    proxy.setRules([
      { path: '/api/500', fault: { kind: 'respond', status: 500 } },
      { path: '/api/garbage', fault: { kind: 'respond', status: 200, body: '{"runtime_id": nope' } },
    ]);
    const a = await call('POST', '/api/500', '{}');
    expect(a.status).toBe(500);
    expect(JSON.parse(a.body)).toEqual({ error: 'injected 500' });
    const b = await call('POST', '/api/garbage', '{}');
    expect(() => JSON.parse(b.body)).toThrow();
    // The same keep-alive connection still forwards the next request.
    expect((await call('GET', '/ok')).status).toBe(200);
    expect(seen.map((s) => s.path)).toEqual(['/ok']);
  });

  it('respond forward: the platform did the work, the client sees a 500', async () => {
    proxy.setRules([{ path: '/api/x', fault: { kind: 'respond', status: 503, forward: true } }]);
    expect((await call('POST', '/api/x', '{"n":7}')).status).toBe(503);
    expect(seen).toEqual([{ method: 'POST', path: '/api/x', body: '{"n":7}' }]);
  });

  it('respond with a 10 MB JSON body', async () => {
    proxy.setRules([{ fault: { kind: 'respond', status: 200, body: { size: 10 * 1024 * 1024 } } }]);
    const a = await call('GET', '/big', undefined, 15_000);
    expect(a.body.length).toBeGreaterThanOrEqual(10 * 1024 * 1024 - 16);
    expect(JSON.parse(a.body).pad.length).toBeGreaterThan(10_000_000);
  });

  it('slowHeaders: the head dribbles in, the answer is intact', async () => {
    proxy.setRules([{ fault: { kind: 'slowHeaders', byteEveryMs: 1 } }]);
    const a = await call('POST', '/api/x', '{"s":1}');
    expect(JSON.parse(a.body).echo).toBe('{"s":1}');
  });

  it('every/times: hits every 2nd matching request, at most twice', async () => {
    proxy.setRules([{ path: /^\/api\//, fault: { kind: 'respond', status: 500 }, every: 2, times: 2 }]);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await call('POST', `/api/${i}`, '{}')).status);
    expect(statuses).toEqual([500, 200, 500, 200, 200, 200, 200]);
    expect(proxy.counts(/^\/api\//)).toEqual({ respond: 2, pass: 5 });
  });

  it('a platform that is down: the client connection is closed, not hung', async () => {
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
    await expect(call('GET', '/x', undefined, 2_000)).rejects.toThrow(/socket hang up|ECONNRESET/);
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r())); // for afterEach
  });
});
