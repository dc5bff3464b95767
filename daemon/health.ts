// The health port (docs/architecture.md §3): a small loopback HTTP server for the service manager,
// `agentd status`, `agentd install` and Prometheus. It only reads: every answer is
// pulled from the daemon at request time through HealthSource.
//
// It must never disturb the daemon, so it is defensive: loopback Host names only (421
// otherwise, against DNS rebinding; no CORS headers), GET/HEAD only (405 otherwise),
// 404 for unknown paths, small header limit, header/request/keep-alive timeouts against
// slowloris, a connection cap, malformed requests answered 400 and closed, and any error
// inside a handler answered 500 and logged, never thrown.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ConfigError } from '../core/errors.js';
import type { HealthAddr } from './config.js';
import { describePortHolder, portHolder } from './port-holder.js';

export interface Verdict {
  ok: boolean;
  reason: string;
}

export interface HealthSource {
  /** /healthz: the process is alive and its loops are turning. */
  alive(): Verdict;
  /** /readyz: ready to take tasks (state `ready`). */
  ready(): Verdict & { state: string; platform_reachable?: boolean | null };
  /** /status: the JSON document (never a token). */
  status(): Record<string, unknown>;
  /** /health: the /status document in the shape tools for the Multica daemon read. */
  health(): Record<string, unknown>;
  /** /metrics: Prometheus text format. */
  metrics(): string;
}

export interface HealthServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

export const HEALTH_LIMITS = {
  maxHeaderSize: 8 * 1024,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  // High enough that 1,000 held connections (a hostile local process, or a stuck
  // monitoring agent) still leave room for the service manager's probes; low enough to
  // bound the fds a loopback client can take (Node raises RLIMIT_NOFILE to the hard
  // limit, 524288 under systemd). 64 refused every probe under that load (test/faults).
  maxConnections: 4096,
} as const;

export async function startHealthServer(addr: HealthAddr, source: HealthSource, logger: Logger): Promise<HealthServer> {
  const server: Server = createServer(
    {
      maxHeaderSize: HEALTH_LIMITS.maxHeaderSize,
      headersTimeout: HEALTH_LIMITS.headersTimeoutMs,
      requestTimeout: HEALTH_LIMITS.requestTimeoutMs,
      keepAliveTimeout: HEALTH_LIMITS.keepAliveTimeoutMs,
      // Check the two timeouts above every second (default 30 s would let a slowloris
      // client hold a connection 6× longer than configured).
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => handle(req, res, source, logger),
  );
  server.maxConnections = HEALTH_LIMITS.maxConnections;
  server.maxRequestsPerSocket = 100;
  // Idle sockets (connected, sending nothing) are closed too.
  server.setTimeout(HEALTH_LIMITS.requestTimeoutMs, (socket: Socket) => socket.destroy());

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Oversized headers, garbage, timeouts: answer if we still can, then close.
    if (socket.writable && !socket.destroyed) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
    logger.debug({ event: 'health_client_error', code: err.code }, 'health port: bad request from a client');
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(listenError(addr, err));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: addr.host, port: addr.port, exclusive: true });
  });
  // After listening, a server error is logged, never fatal: health is an observer.
  server.on('error', (err) => logger.error({ err }, 'health port error'));

  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : addr.port;
  const host = addr.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The health port is taken. Not fatal: any local user can bind a loopback port first,
 * and exiting would hand them a permanent denial of service (the unit does not restart
 * exit 78). The daemon runs on without it and binds again with backoff (daemon.ts).
 */
export class HealthPortInUse extends ConfigError {
  constructor(
    readonly where: string,
    /** Who listens there, e.g. "held by uid 1001 (bob), pid 4242 (python3)". */
    readonly holder: string,
    cause: unknown,
  ) {
    super(
      'AGENTD_HEALTH_ADDR',
      `the health port ${where} is already in use (AGENTD_HEALTH_ADDR): ${holder}`,
      `agentd keeps running and binds it once it is free. To use another port, set AGENTD_HEALTH_ADDR to a free loopback port (e.g. AGENTD_HEALTH_ADDR=127.0.0.1:${Number(where.slice(where.lastIndexOf(':') + 1)) + 1}) or AGENTD_HEALTH_ADDR=0 to disable the health port, then restart agentd.`,
      cause,
    );
    this.name = 'HealthPortInUse';
  }
}

function listenError(addr: HealthAddr, err: NodeJS.ErrnoException): ConfigError {
  const where = `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
  if (err.code === 'EADDRINUSE') return new HealthPortInUse(where, describePortHolder(addr.port, portHolder(addr.port)), err);
  return new ConfigError('AGENTD_HEALTH_ADDR', `cannot listen on the health port ${where} (AGENTD_HEALTH_ADDR): ${err.code ?? err.message}`, 'Set AGENTD_HEALTH_ADDR to a loopback HOST:PORT this user may bind, or 0 to disable the health port.', err);
}

function send(res: ServerResponse, req: IncomingMessage, status: number, contentType: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...extra,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const JSON_TYPE = 'application/json; charset=utf-8';
const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';

/**
 * Loopback names only, with or without a port. A page on another site whose DNS name
 * resolves to 127.0.0.1 (DNS rebinding) sends its own name as Host: it gets 421, so it
 * never reads /status (daemon id, workspace, task ids, pids).
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  return /^(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(?::\d{1,5})?$/i.test(host);
}

function handle(req: IncomingMessage, res: ServerResponse, source: HealthSource, logger: Logger): void {
  // Bodies are never read: drain them so a client cannot park data in our buffers.
  req.resume();
  try {
    if (!isLoopbackHost(req.headers.host)) {
      send(res, req, 421, JSON_TYPE, json({ error: 'misdirected request: the health port answers only Host 127.0.0.1, [::1] or localhost' }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, req, 405, JSON_TYPE, json({ error: 'method not allowed' }), { Allow: 'GET, HEAD' });
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/healthz': {
        const v = source.alive();
        send(res, req, v.ok ? 200 : 503, JSON_TYPE, json({ ok: v.ok, reason: v.reason }));
        return;
      }
      case '/readyz': {
        const v = source.ready();
        send(res, req, v.ok ? 200 : 503, JSON_TYPE, json({ ready: v.ok, state: v.state, reason: v.reason, platform_reachable: v.platform_reachable ?? null }));
        return;
      }
      case '/status':
        send(res, req, 200, JSON_TYPE, json(source.status()));
        return;
      case '/health':
        send(res, req, 200, JSON_TYPE, json(source.health()));
        return;
      case '/metrics':
        send(res, req, 200, 'text/plain; version=0.0.4; charset=utf-8', source.metrics());
        return;
      case '/':
        send(res, req, 200, JSON_TYPE, json({ endpoints: ['/healthz', '/readyz', '/status', '/metrics', '/health'] }));
        return;
      default:
        send(res, req, 404, JSON_TYPE, json({ error: 'not found' }));
    }
  } catch (err) {
    logger.error({ err, path: req.url }, 'health handler failed');
    if (!res.headersSent) send(res, req, 500, JSON_TYPE, json({ error: 'internal error' }));
    else res.destroy();
  }
}
