// The WebSocket control channel: its URL, its reconnect backoff (1 s doubling to 30 s,
// ±20 %, reset after 10 s up) against a real loopback server that refuses or drops, and
// what the daemon makes of its frames (daemon/control.ts) with a scripted channel.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ControlChannel, controlChannelUrl, jitter, type ControlChannelOptions } from '../../api/control-channel.js';
import { PlatformClient } from '../../api/client.js';
import { ControlLink } from '../../daemon/control.js';

describe('control channel URL and jitter', () => {
  it('ws(s) on the platform URL, prefix kept, runtime ids sorted and comma-joined', () => {
    expect(controlChannelUrl('http://h:8080', ['b', 'a'])).toBe('ws://h:8080/api/daemon/ws?runtime_ids=a%2Cb');
    expect(controlChannelUrl('https://h/prefix/', ['x'])).toBe('wss://h/prefix/api/daemon/ws?runtime_ids=x');
  });

  it('jitter stays within ±20 %', () => {
    expect(jitter(1000, () => 0)).toBe(800);
    expect(jitter(1000, () => 1)).toBe(1200);
    expect(jitter(30_000, () => 0.5)).toBe(30_000);
  });
});

describe('reconnect backoff against a real server', () => {
  let server: Server | null = null;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
  });

  it('a refusing server: waits 1, 2, 4, 8 … s, capped at 30 s', async () => {
    server = createServer((_q, s) => s.writeHead(404).end());
    server.on('upgrade', (_req, socket: Socket) => socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const waits: number[] = [];
    const client = new PlatformClient({ baseUrl: url, getToken: () => 'mdt_' + 'a'.repeat(40) });
    const ch = client.controlChannel({
      runtimeIds: () => ['r1'],
      onOpen: () => undefined,
      onFrame: () => undefined,
      onClose: (i) => waits.push(i.retryInMs),
      random: () => 0.5,
      // Scaled down 100×: the same doubling, 10 ms → 300 ms.
      minBackoffMs: 10,
      maxBackoffMs: 300,
      resetAfterMs: 100,
    });
    ch.start();
    await vi.waitFor(() => expect(waits.length).toBeGreaterThanOrEqual(7), { timeout: 10_000 });
    await ch.stop();
    await client.close();
    expect(waits.slice(0, 7)).toEqual([10, 20, 40, 80, 160, 300, 300]);
  });
});

describe('backoff reset', () => {
  let server: Server | null = null;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
  });

  it('a connection that stayed up past resetAfter starts the backoff over; a short one doubles it', async () => {
    // Long connections stay up 1.5 s against a 1 s reset; short ones are dropped as soon as
    // they open. The margins are wide so that a loaded machine (load 14: event-loop delays
    // of 100+ ms) cannot turn a short connection into a long one.
    let upFor = 1500;
    server = createServer();
    server.on('upgrade', (req, socket: Socket) => {
      const accept = createHash('sha1').update(String(req.headers['sec-websocket-key']) + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      if (upFor === 0) socket.destroy();
      else setTimeout(() => socket.destroy(), upFor);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const client = new PlatformClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, getToken: () => 'mdt_' + 'a'.repeat(40) });
    const closes: Array<{ upMs: number; retryInMs: number }> = [];
    const ch = client.controlChannel({ runtimeIds: () => ['r1'], onOpen: () => undefined, onFrame: () => undefined, onClose: (i) => closes.push(i), random: () => 0.5, minBackoffMs: 10, maxBackoffMs: 300, resetAfterMs: 1000 });
    ch.start();
    // Up 1.5 s each time (past the 1 s reset): the wait stays at the minimum.
    await vi.waitFor(() => expect(closes.length).toBeGreaterThanOrEqual(3), { timeout: 30_000 });
    upFor = 0;
    const n = closes.length;
    await vi.waitFor(() => expect(closes.length).toBeGreaterThanOrEqual(n + 3), { timeout: 30_000 });
    await ch.stop();
    await client.close();
    expect(closes.slice(0, 3).map((c) => c.retryInMs)).toEqual([10, 10, 10]);
    expect(closes.slice(0, 3).every((c) => c.upMs >= 1000)).toBe(true);
    // Dropped at once now. The connection open at the switch may still be a long one
    // (then its retry is 10), so check the rule rather than one sequence: a long
    // connection starts over at 10, each short one doubles the wait before it.
    for (const c of closes) if (c.upMs >= 1000) expect(c.retryInMs).toBe(10);
    const after = closes.slice(n, n + 3);
    expect(after.filter((c) => c.upMs < 1000).length).toBeGreaterThanOrEqual(2);
    for (let i = n; i < n + 3; i++) if (closes[i]!.upMs < 1000) expect(closes[i]!.retryInMs).toBe(Math.min(300, closes[i - 1]!.retryInMs * 2));
  }, 60_000);
});

/** A channel the test drives by hand. */
function scripted() {
  let o!: Omit<ControlChannelOptions, 'baseUrl' | 'getToken' | 'headers' | 'dispatcher'>;
  const sent: unknown[] = [];
  let reconnects = 0;
  let drops = 0;
  const channel = {
    start: () => undefined,
    stop: async () => undefined,
    reconnect: () => void reconnects++,
    drop: () => void drops++,
    send: (f: unknown) => (sent.push(f), true),
  } as unknown as ControlChannel;
  return {
    open: (opts: typeof o) => ((o = opts), channel),
    get o() {
      return o;
    },
    sent,
    reconnects: () => reconnects,
    drops: () => drops,
  };
}

/** A link on a scripted channel, one runtime, 1 s heartbeats, recording task ends and push changes. */
function pushLink() {
  const ch = scripted();
  const ended: [string, string][] = [];
  const push: boolean[] = [];
  const link = new ControlLink({
    open: ch.open,
    runtimeIds: () => ['r1'],
    heartbeatIntervalMs: 1000,
    logger: pino({ level: 'silent' }),
    onTaskAvailable: () => undefined,
    onRuntimeGone: () => undefined,
    onAck: () => undefined,
    onTaskStatus: (id, status) => void ended.push([id, status]),
    onStatusPush: (live) => void push.push(live),
  });
  return { ch, link, ended, push };
}

describe('ControlLink', () => {
  afterEach(() => vi.useRealTimers());

  it('on connect: claims at once and heartbeats every runtime; task_available claims; acks cover a runtime for 2 intervals', () => {
    vi.useFakeTimers();
    const ch = scripted();
    let wakes = 0;
    let acks = 0;
    const gone: string[] = [];
    const link = new ControlLink({ open: ch.open, runtimeIds: () => ['r1', 'r2'], heartbeatIntervalMs: 1000, logger: pino({ level: 'silent' }), onTaskAvailable: () => void wakes++, onRuntimeGone: (id) => void gone.push(id), onAck: () => void acks++ });
    link.start();
    ch.o.onOpen();
    expect(wakes).toBe(1);
    expect(ch.sent).toEqual([
      { type: 'daemon:heartbeat', payload: { runtime_id: 'r1' } },
      { type: 'daemon:heartbeat', payload: { runtime_id: 'r2' } },
    ]);
    ch.o.onFrame({ type: 'daemon:task_available', payload: { runtime_id: 'r1', task_id: 't' } });
    expect(wakes).toBe(2);
    ch.o.onFrame({ type: 'daemon:task_available', payload: { runtime_id: 7 } }); // malformed: ignored
    expect(wakes).toBe(2);
    expect(link.covers('r1')).toBe(false);
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r1', status: 'ok' } });
    expect(acks).toBe(1);
    expect(link.covers('r1')).toBe(true);
    expect(link.covers('r2')).toBe(false);
    vi.advanceTimersByTime(1999);
    expect(link.covers('r1')).toBe(true);
    vi.advanceTimersByTime(2);
    expect(link.covers('r1')).toBe(false);
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r2', runtime_gone: true } });
    expect(gone).toEqual(['r2']);
    ch.o.onFrame({ type: 'daemon:pending_work', payload: { runtime_id: 'r1' } }); // nothing agentd does
    void link.stop();
  });

  it('acks that stop for 4 intervals drop the connection; a close stops the heartbeats and forgets the acks', () => {
    vi.useFakeTimers();
    const ch = scripted();
    const link = new ControlLink({ open: ch.open, runtimeIds: () => ['r1'], heartbeatIntervalMs: 1000, logger: pino({ level: 'silent' }), onTaskAvailable: () => undefined, onRuntimeGone: () => undefined, onAck: () => undefined });
    link.start();
    ch.o.onOpen();
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r1', status: 'ok' } });
    vi.advanceTimersByTime(4000);
    expect(ch.drops()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(ch.drops()).toBe(1);
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r1', status: 'ok' } });
    ch.o.onClose({ upMs: 5000, reason: 'closed', retryInMs: 1000 });
    expect(link.covers('r1')).toBe(false);
    const n = ch.sent.length;
    vi.advanceTimersByTime(5000);
    expect(ch.sent.length).toBe(n);
    link.runtimesChanged();
    expect(ch.reconnects()).toBe(1);
    void link.stop();
  });

  it('agentd:task_status stops that task; push is live only while acks on the open connection name the capability', () => {
    const { ch, link, ended, push } = pushLink();
    link.start();
    ch.o.onOpen();
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r1', status: 'ok' } }); // a Multica server: no capability
    expect(push).toEqual([]);
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r1', status: 'ok', server_capabilities: ['agentd-task-status-push'] } });
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r1', status: 'ok', server_capabilities: ['agentd-task-status-push'] } });
    expect(push).toEqual([true]);
    expect(link.stats.status_push).toBe(true);
    ch.o.onFrame({ type: 'agentd:task_status', payload: { task_id: 't1', status: 'cancelled' } });
    ch.o.onFrame({ type: 'agentd:task_status', payload: { task_id: 7, status: 'cancelled' } }); // malformed: ignored
    ch.o.onFrame({ type: 'agentd:task_status', payload: { status: 'cancelled' } });
    expect(ended).toEqual([['t1', 'cancelled']]);
    expect(link.stats.task_status_total).toBe(1);
    ch.o.onClose({ upMs: 5000, reason: 'closed', retryInMs: 1000 });
    expect(push).toEqual([true, false]);
    // A new connection is not pushed to until its own acks say so.
    ch.o.onOpen();
    expect(link.stats.status_push).toBe(false);
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r1', status: 'ok', server_capabilities: ['agentd-task-status-push'] } });
    expect(push).toEqual([true, false, true]);
    // A platform that stops naming it (a downgrade behind a balancer) turns it off.
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r1', status: 'ok', server_capabilities: [] } });
    expect(push).toEqual([true, false, true, false]);
    void link.stop();
  });

  it('push is off once acks stop for 2 intervals (a silently dead socket), and on again with the next ack', () => {
    vi.useFakeTimers();
    const { ch, link, push } = pushLink();
    link.start();
    ch.o.onOpen();
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r1', status: 'ok', server_capabilities: ['agentd-task-status-push'] } });
    expect(push).toEqual([true]);
    vi.advanceTimersByTime(1000);
    expect(push).toEqual([true]);
    vi.advanceTimersByTime(1000); // 2 intervals without an ack
    expect(push).toEqual([true, false]);
    expect(ch.drops()).toBe(0); // the connection itself is dropped only after 4
    ch.o.onFrame({ type: 'daemon:heartbeat_ack', payload: { runtime_id: 'r1', status: 'ok', server_capabilities: ['agentd-task-status-push'] } });
    expect(push).toEqual([true, false, true]);
    void link.stop();
  });
});
