// The platform's HTTP server: JSON API under /api/, install.sh and /download/ for
// distribution, and the operator web page (dist/web/) on everything else.
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Agents } from './agents.js';
import { claimedSource, type App, type PlatformConfig } from './app.js';
import { DaemonSockets, WS_PATH } from './daemon-ws.js';
import { Daemons } from './daemons.js';
import { openDatabase } from './database.js';
import { Enrolment } from './enrolment.js';
import { WEB_SECURITY_HEADERS, safeJoin, sendFile, sendInstallScript, webPath } from './files.js';
import { HttpError, sendError, sendJson } from './http.js';
import { Router } from './router.js';
import { Revocation } from './revocation.js';
import { mountRoutes } from './routes.js';
import { Tasks } from './tasks.js';
import { ClaimWaiters } from './waiters.js';

export interface RunningPlatform {
  /** The listen URL, e.g. http://127.0.0.1:41234 */
  url: string;
  publicUrl: string;
  port: number;
  defaultWorkspaceId: string;
  close(): Promise<void>;
}

export type Logger = (line: string) => void;

/** `log` gets problems (stderr); `info` the optional request lines (stdout). */
export async function startPlatformServer(config: PlatformConfig, log: Logger, info: Logger = log): Promise<RunningPlatform> {
  const { db, defaultWorkspaceId, outputFiles } = await openDatabase(config, log);
  const waiters = new ClaimWaiters();
  let publicUrl = config.publicUrl ?? '';
  const agents = new Agents(db);
  // Set once the App exists (the sockets need it); enqueues only happen after start.
  let sockets!: DaemonSockets;
  // A queued task wakes the long-polling claimers and WebSocket clients of every
  // replica: the notice goes through the database (PostgreSQL NOTIFY), and each replica,
  // this one included, wakes its own.
  db.subscribe((n) => {
    if (n.kind === 'task_ended') {
      // The replica holding the daemon's control channel tells it (any replica may).
      sockets.taskEnded(n.workspace_id, n.daemon_id, n.task_id, n.status).catch((e: unknown) => log(`agentd-platform: WebSocket task status failed: ${message(e)}`));
      return;
    }
    waiters.notify(n.workspace_id, n.runtime_name);
    sockets.taskAvailable(n.workspace_id, n.runtime_name, n.task_id).catch((e: unknown) => log(`agentd-platform: WebSocket wake-up failed: ${message(e)}`));
  });
  // Never fails the request: the task is stored, and a claimer that missed the wake-up
  // finds it at its next claim (a long poll ends within MAX_CLAIM_WAIT_S).
  const onEnqueue = async (ws: string, runtimeType: string, taskId?: string): Promise<void> => {
    try {
      await db.publish({ kind: 'task_available', workspace_id: ws, runtime_name: runtimeType, ...(taskId === undefined ? {} : { task_id: taskId }) });
    } catch (e) {
      log(`agentd-platform: could not announce task ${taskId ?? ''} to the claimers: ${message(e)}`);
    }
  };
  // Never fails the cancel either: the daemon's status poll finds what a lost notice did not say.
  const onEnded = async (ws: string, daemonId: string, taskId: string, status: string): Promise<void> => {
    try {
      await db.publish({ kind: 'task_ended', workspace_id: ws, daemon_id: daemonId, task_id: taskId, status });
    } catch (e) {
      log(`agentd-platform: could not tell daemon ${daemonId} that task ${taskId} is ${status}: ${message(e)}`);
    }
  };
  const tasks = new Tasks(db, agents, onEnqueue, onEnded, outputFiles);
  const enrolment = new Enrolment(db, config.installTokenTtlMs, async (t, ws, daemonId) => {
    await tasks.abandonTasksOf(t, ws, daemonId);
  });
  const daemons = new Daemons(db, config.offlineAfterMs, log);
  const app: App = {
    config,
    db,
    defaultWorkspaceId,
    enrolment,
    daemons,
    agents,
    tasks,
    revocation: new Revocation(db, enrolment, daemons, tasks, (ws, runtime) => onEnqueue(ws, runtime)),
    publicUrl: () => publicUrl,
  };
  sockets = new DaemonSockets(app, log);
  // The sweeps run on one replica at a time (db.exclusive), never overlapping here.
  // The claim lease sweep (see Tasks.requeueExpiredClaims): requeued tasks wake claimers.
  const leaseTimer =
    config.claimLeaseMs > 0
      ? sweepEvery(log, 'claim lease sweep', Math.min(5000, Math.max(100, Math.floor(config.claimLeaseMs / 4))), async () => {
          const rows = await db.exclusive('claim-lease-sweep', (t) => app.tasks.requeueExpiredClaims(t, Date.now() - config.claimLeaseMs));
          for (const t of rows ?? []) {
            log(`agentd-platform: task ${t.id} was claimed but not started within ${config.claimLeaseMs} ms (nor prepare-leased); queued again`);
            await onEnqueue(t.workspace_id, t.runtime_name, t.id);
          }
        })
      : undefined;
  // The ephemeral sweep: machines of an autoscaling group that went away without an
  // uninstall are revoked and deregistered after ephemeralOfflineMs, not listed for days.
  const ephemeralTimer =
    config.ephemeralOfflineMs > 0
      ? sweepEvery(log, 'ephemeral sweep', Math.min(30_000, Math.max(100, Math.floor(config.ephemeralOfflineMs / 4))), async () => {
          const out = await db.exclusive('ephemeral-sweep', (t) => app.revocation.expireEphemeral(t, config.ephemeralOfflineMs));
          if (!out) return;
          for (const d of out.gone) {
            log(`agentd-platform: ephemeral daemon ${d.daemon_id} (workspace ${d.workspace_id}) offline for ${config.ephemeralOfflineMs} ms: revoked and deregistered`);
          }
          await app.revocation.wake(out.requeued);
        })
      : undefined;
  const router = new Router();
  mountRoutes(router, app, waiters);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let path: string;
    let query: URLSearchParams;
    try {
      const u = new URL(req.url ?? '/', 'http://platform.invalid');
      path = u.pathname;
      query = u.searchParams;
    } catch {
      return sendError(res, 400, 'malformed request URL');
    }
    const method = req.method ?? 'GET';
    if (path.startsWith('/api/')) {
      let m;
      try {
        m = router.match(method, path);
      } catch {
        return sendError(res, 400, 'malformed request path');
      }
      if (m === null) return sendError(res, 404, 'not found');
      if ('methodNotAllowed' in m) return sendError(res, 405, 'method not allowed');
      if ('emptyParam' in m) return sendError(res, 400, `${m.emptyParam === 'ws' ? 'workspace' : m.emptyParam} id is required`);
      const out = await m.handler({ req, res, params: m.params, query });
      // A service call that was not awaited would be sent as {}: fail loudly instead.
      if (out && isThenable(out[1])) throw new Error(`the handler of ${method} ${path} answered with an unawaited promise`);
      if (out) sendJson(res, out[0], out[1]);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') return sendError(res, 405, 'method not allowed');
    if (path === '/healthz') return sendJson(res, 200, { ok: true });
    if (path === '/install.sh') return sendInstallScript(req, res, config.installScript, publicUrl);
    if (path.startsWith('/download/')) return sendFile(req, res, safeJoin(config.artifactsDir, path.slice('/download/'.length)));
    if (existsSync(config.webDir)) return sendFile(req, res, webPath(config.webDir, path), 'no-cache', WEB_SECURITY_HEADERS);
    return sendError(res, 404, 'not found');
  }

  const server = createServer((req, res) => {
    if (config.logRequests) {
      const started = performance.now();
      res.once('finish', () => {
        const path = (req.url ?? '').split('?')[0];
        // The source a daemon request named (X-Workspace-ID / X-Daemon-ID): ids, never a secret.
        const src = claimedSource(req);
        const from = src.workspace_id || src.daemon_id ? ` ws=${logSafe(src.workspace_id)} daemon=${logSafe(src.daemon_id)}` : '';
        info(`${req.method} ${path} ${res.statusCode} ${(performance.now() - started).toFixed(1)}ms${from}`);
      });
    }
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return sendError(res, err.status, err.error);
      // Never echo request data: messages here come from our code or SQLite, never a token.
      log(`agentd-platform: internal error on ${req.method} ${(req.url ?? '').split('?')[0]}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      sendError(res, 500, 'internal error');
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    let u: URL;
    try {
      u = new URL(req.url ?? '/', 'http://platform.invalid');
    } catch {
      return void socket.destroy();
    }
    if (u.pathname !== WS_PATH || req.method !== 'GET') {
      return void socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 21\r\nconnection: close\r\n\r\n{"error":"not found"}');
    }
    sockets.handleUpgrade(req, socket, head, u.searchParams).catch((err: unknown) => {
      log(`agentd-platform: internal error on WebSocket upgrade: ${message(err)}`);
      socket.destroy();
    });
  });
  // Long polls hold a request ≤ 25 s; keep idle keep-alive sockets a little longer than
  // undici's 4 s default so the client, not the server, closes them (no reset races).
  server.keepAliveTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  if (!publicUrl) publicUrl = url;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      waiters.close();
      sockets.close();
      if (leaseTimer) clearInterval(leaseTimer);
      if (ephemeralTimer) clearInterval(ephemeralTimer);
      const force = setTimeout(() => server.closeAllConnections(), 2000);
      force.unref();
      // Keep-alive sockets whose last request (e.g. a woken long poll) ends after
      // close() began become idle later; sweep them so close() does not wait for them.
      const sweep = setInterval(() => server.closeIdleConnections(), 25);
      server.close(() => {
        clearTimeout(force);
        clearInterval(sweep);
        void (async () => {
          try {
            await app.daemons.close(); // unflushed heartbeat times
            await db.close();
          } catch (e) {
            log(`agentd-platform: closing the database failed: ${message(e)}`);
          }
          resolve();
        })();
      });
      server.closeIdleConnections();
    }));

  return { url, publicUrl, port: addr.port, defaultWorkspaceId, close };
}

/** Every `everyMs`, `job` once (a run still going when the next is due is not doubled); failures are logged. */
function sweepEvery(log: Logger, name: string, everyMs: number, job: () => Promise<void>): NodeJS.Timeout {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      job()
        .catch((e: unknown) => log(`agentd-platform: ${name} failed: ${message(e)}`))
        .finally(() => (running = false));
    }, everyMs);
    timer.unref();
    return timer;
  }

/** An id for a log line: '-' when absent, anything but a safe id character replaced. */
function logSafe(v: string | undefined): string {
  return v === undefined ? '-' : v.replace(/[^\w.:@-]/g, '?');
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isThenable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
