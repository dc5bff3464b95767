// The default dispatcher (no injection) against real loopback servers: HTTP_PROXY is
// honoured, NO_PROXY bypasses it, keep-alive reuses one connection, and a refused
// connection surfaces as PlatformUnavailable naming the URL.
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { PlatformClient } from '../../api/client.js';
import { PlatformUnavailable } from '../../api/errors.js';

const PROXY_VARS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'];
let saved: Record<string, string | undefined>;
let servers: Server[];
let sockets: Set<Socket>;

function listen(s: Server): Promise<number> {
  servers.push(s);
  s.on('connection', (c) => sockets.add(c));
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
}

async function platform(): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const s = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ runtime_id: 'r', status: 'online' }));
    });
  });
  s.on('connection', () => connections++);
  return { port: await listen(s), connections: () => connections };
}

/** A CONNECT-only forward proxy that records the targets it tunnelled to. */
async function proxy(): Promise<{ port: number; targets: string[] }> {
  const targets: string[] = [];
  const s = createServer((_req, res) => {
    res.statusCode = 405;
    res.end();
  });
  s.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    targets.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  return { port: await listen(s), targets };
}

beforeEach(() => {
  saved = Object.fromEntries(PROXY_VARS.map((k) => [k, process.env[k]]));
  for (const k of PROXY_VARS) delete process.env[k];
  servers = [];
  sockets = new Set();
});
afterEach(async () => {
  for (const k of PROXY_VARS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  for (const c of sockets) c.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

describe('default dispatcher', () => {
  it('goes through HTTP_PROXY', async () => {
    const p = await platform();
    const px = await proxy();
    process.env.HTTP_PROXY = `http://127.0.0.1:${px.port}`;
    const c = new PlatformClient({ baseUrl: `http://127.0.0.1:${p.port}` });
    try {
      expect((await c.heartbeat({ runtime_id: 'r' })).status).toBe('online');
    } finally {
      await c.close();
    }
    expect(px.targets).toEqual([`127.0.0.1:${p.port}`]);
  });

  it('bypasses the proxy for NO_PROXY hosts', async () => {
    const p = await platform();
    const px = await proxy();
    process.env.HTTP_PROXY = `http://127.0.0.1:${px.port}`;
    process.env.NO_PROXY = '127.0.0.1';
    const c = new PlatformClient({ baseUrl: `http://127.0.0.1:${p.port}` });
    try {
      await c.heartbeat({ runtime_id: 'r' });
    } finally {
      await c.close();
    }
    expect(px.targets).toEqual([]);
  });

  it('keeps the connection alive between calls', async () => {
    const p = await platform();
    const c = new PlatformClient({ baseUrl: `http://127.0.0.1:${p.port}` });
    try {
      for (let i = 0; i < 10; i++) await c.heartbeat({ runtime_id: 'r' });
    } finally {
      await c.close();
    }
    // undici may open a second socket while the first is handed back to the pool; without
    // keep-alive this would be 10.
    expect(p.connections()).toBeLessThanOrEqual(2);
  });

  it('a refused connection is PlatformUnavailable naming the URL, after the retries', async () => {
    const s = createServer();
    const port = await listen(s);
    await new Promise((r) => s.close(r));
    servers.splice(servers.indexOf(s), 1);
    const c = new PlatformClient({ baseUrl: `http://127.0.0.1:${port}`, retry: { attempts: 3, baseMs: 1, capMs: 2 } });
    try {
      const err = await c.register({ workspace_id: 'w', daemon_id: 'd', device_name: 'n', cli_version: '1', runtimes: [] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PlatformUnavailable);
      expect((err as Error).message).toContain(`http://127.0.0.1:${port}`);
      expect((err as Error).message).toMatch(/connection refused.*after 3 attempts/);
    } finally {
      await c.close();
    }
  });

  it('the WebSocket control channel goes through HTTP_PROXY too, with the credential and X-Client-* headers', async () => {
    const seen: IncomingMessage['headers'][] = [];
    const s = createServer();
    s.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      seen.push(req.headers);
      const key = String(req.headers['sec-websocket-key']);
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      // One unmasked text frame, as a server sends it (a moment later: not in the handshake's packet).
      const payload = Buffer.from(JSON.stringify({ type: 'daemon:task_available', payload: { runtime_id: 'r1' } }));
      setTimeout(() => socket.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload])), 50);
      sockets.add(socket);
    });
    const port = await listen(s);
    const px = await proxy();
    process.env.HTTP_PROXY = `http://127.0.0.1:${px.port}`;
    const token = 'mdt_' + 'c'.repeat(40);
    const c = new PlatformClient({ baseUrl: `http://127.0.0.1:${port}`, getToken: () => token });
    const frames: unknown[] = [];
    const ch = c.controlChannel({ runtimeIds: () => ['r1'], onOpen: () => undefined, onFrame: (f) => frames.push(f), onClose: () => undefined });
    try {
      ch.start();
      await vi.waitFor(() => expect(frames).toHaveLength(1), { timeout: 10_000 });
    } finally {
      await ch.stop();
      await c.close();
    }
    expect(frames[0]).toEqual({ type: 'daemon:task_available', payload: { runtime_id: 'r1' } });
    expect(px.targets).toEqual([`127.0.0.1:${port}`]);
    expect(seen[0]).toMatchObject({ authorization: `Bearer ${token}`, 'x-client-platform': 'daemon', 'x-client-capabilities': 'coalesced-comments-v1' });
  });
});
