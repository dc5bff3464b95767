import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { HealthPortInUse, startHealthServer, type HealthServer, type HealthSource } from '../../daemon/health.js';
import { ConfigError } from '../../core/errors.js';
import { createLogger } from '../../daemon/logger.js';

const logger = createLogger({ level: 'silent', pretty: false, destination: { write: () => undefined } });
let ready = true;
let throwOnStatus = false;
const source: HealthSource = {
  alive: () => ({ ok: true, reason: 'loops turning' }),
  ready: () => ({ ok: ready, state: ready ? 'ready' : 'degraded', reason: ready ? 'ok' : 'platform unreachable', platform_reachable: ready }),
  status: () => {
    if (throwOnStatus) throw new Error('boom');
    return { state: 'ready' };
  },
  health: () => ({ status: 'running' }),
  metrics: () => '# HELP x y\n# TYPE x gauge\nx 1\n',
};

const userSuffix = (): string => {
  try {
    return ` (${userInfo().username})`;
  } catch {
    return '';
  }
};

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  ready = true;
  throwOnStatus = false;
});

/** Raw bytes over TCP, for requests fetch refuses to send. Resolves with what came back before close. */
function raw(port: number, data: string, waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    s.write(data);
    setTimeout(() => (s.destroy(), resolve(out)), waitMs);
  });
}

describe('health server', () => {
  it('serves the endpoints, GET and HEAD only', async () => {
    server = await startHealthServer({ host: '127.0.0.1', port: 0 }, source, logger);
    expect(server.port).toBeGreaterThan(0);
    const r = await fetch(`${server.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ready: true, state: 'ready', reason: 'ok', platform_reachable: true });
    ready = false;
    const r2 = await fetch(`${server.url}/readyz`);
    expect(r2.status).toBe(503);
    expect((await r2.json()).reason).toBe('platform unreachable');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const m = await fetch(`${server.url}/metrics`);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const head = await fetch(`${server.url}/status`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${server.url}/status`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  it('a handler error is a 500 and the server keeps serving', async () => {
    server = await startHealthServer({ host: '127.0.0.1', port: 0 }, source, logger);
    throwOnStatus = true;
    expect((await fetch(`${server.url}/status`)).status).toBe(500);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('huge headers get 431 and garbage gets 400; the server keeps serving', async () => {
    server = await startHealthServer({ host: '127.0.0.1', port: 0 }, source, logger);
    const big = await raw(server.port, `GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1.1 431/);
    const junk = await raw(server.port, 'BLAH\x00\x01 nonsense\r\n\r\n');
    expect(junk).toMatch(/^HTTP\/1.1 400/);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('closes a slowloris connection that never finishes its headers', async () => {
    server = await startHealthServer({ host: '127.0.0.1', port: 0 }, source, logger);
    const started = Date.now();
    const out = await raw(server.port, 'GET /status HTTP/1.1\r\nHost: x\r\n', 15_000);
    const elapsed = Date.now() - started;
    // Closed by the server (headersTimeout 5 s, checked every second), not by our 15 s cap.
    expect(elapsed).toBeLessThan(14_000);
    expect(out === '' || /^HTTP\/1.1 408/.test(out)).toBe(true);
  }, 20_000);

  it('answers only loopback Host names (DNS rebinding): 421 for any other, and no CORS headers', async () => {
    server = await startHealthServer({ host: '127.0.0.1', port: 0 }, source, logger);
    const get = (host: string | null) => raw(server!.port, `GET /status HTTP/1.1\r\n${host === null ? '' : `Host: ${host}\r\n`}Origin: http://evil.example\r\nConnection: close\r\n\r\n`);
    for (const host of ['evil.example', `evil.example:${server.port}`, '127.0.0.1.evil.example', 'localhost.evil.example', '[::2]', '0.0.0.0']) {
      const out = await get(host);
      expect(out, host).toMatch(/^HTTP\/1.1 421/);
      expect(out, host).not.toContain('"state"');
    }
    for (const host of ['127.0.0.1', `127.0.0.1:${server.port}`, 'localhost', `LOCALHOST:${server.port}`, '[::1]', `[::1]:${server.port}`]) {
      const out = await get(host);
      expect(out, host).toMatch(/^HTTP\/1.1 200/);
      expect(out, host).toContain('"state"');
      expect(out.toLowerCase(), host).not.toContain('access-control-');
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('a taken port is a HealthPortInUse naming the port, AGENTD_HEALTH_ADDR and who holds it', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const err = await startHealthServer({ host: '127.0.0.1', port }, source, logger).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HealthPortInUse);
      expect((err as ConfigError).message).toContain(`127.0.0.1:${port}`);
      expect((err as ConfigError).message).toContain('AGENTD_HEALTH_ADDR');
      if (process.platform === 'linux') expect((err as HealthPortInUse).holder).toBe(`held by uid ${process.getuid!()}${userSuffix()}, pid ${process.pid} (${readFileSync('/proc/self/comm', 'utf8').trim()})`);
    } finally {
      blocker.close();
    }
  });
});
