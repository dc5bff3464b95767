// GET /api/daemon/ws?runtime_ids=a,b — the control channel a Multica daemon keeps open
// (Multica's daemon/wakeup.go is the client side). Frames are `{type, payload}`:
//   server → daemon  daemon:task_available {runtime_id, task_id}  when a task is queued for
//                    one of the connection's runtimes (the daemon claims at once, instead of
//                    at its next 30 s poll)
//                    daemon:heartbeat_ack {status:"ok"|"runtime_gone", runtime_id, …,
//                    server_capabilities:["agentd-task-status-push"]}
//                    agentd:task_status {task_id, status}  when an operator cancels a task
//                    the connection's daemon holds (agentd's frame: the daemon stops it at
//                    once; a Multica daemon ignores it and finds it at its next status poll)
//   daemon → server  daemon:heartbeat {runtime_id}  (recorded as an HTTP heartbeat is)
// Same auth as every daemon route (Bearer mdt_), looked up again before every frame the
// platform sends or acts on, so a revoked credential closes the socket at its next frame.
//
// The server side uses the `ws` package: node:http only hands over the upgraded socket,
// and undici's WebSocket is a client. Only the platform loads this module.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { HeartbeatRequest } from '../api/types.js';
import { CAPABILITY_TASK_STATUS_PUSH, ControlFrameSchema, HEARTBEAT, HEARTBEAT_ACK, TASK_AVAILABLE, TASK_STATUS } from '../api/control-frames.js';
import type { PlatformHeartbeatAck } from '../api/multica.js';
import type { App } from './app.js';
import type { ClientIdentity } from './daemons.js';
import type { DaemonIdentity } from './enrolment.js';
import { HttpError, bearer, header } from './http.js';
import { Value } from '@sinclair/typebox/value';

export const WS_PATH = '/api/daemon/ws';
/** A control frame is small; Multica's daemon never sends more than a heartbeat or an RPC. */
const MAX_FRAME_BYTES = 64 * 1024;
/** Pings find dead peers (a daemon that vanished without a close frame). */
const PING_EVERY_MS = 30_000;
const MAX_RUNTIME_IDS = 64;
/**
 * Open sockets one daemon may hold. A daemon keeps one; a few more cover reconnects while
 * a dropped socket has not been noticed yet (up to one ping interval). Beyond that a
 * leaked or hostile credential would only be holding memory.
 */
export const MAX_SOCKETS_PER_DAEMON = 8;
/** 1008 policy violation: the credential was revoked while connected. */
const CLOSE_REVOKED = 1008;
/** What every heartbeat ack announces (daemon:heartbeat_ack's server_capabilities). */
const CAPABILITIES = [CAPABILITY_TASK_STATUS_PUSH];

interface Conn {
  socket: WebSocket;
  token: string;
  who: DaemonIdentity;
  runtimeIds: readonly string[];
  client: ClientIdentity;
  alive: boolean;
}

export class DaemonSockets {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  private readonly conns = new Set<Conn>();
  private readonly pinger: NodeJS.Timeout;

  constructor(
    private readonly app: App,
    private readonly log: (line: string) => void,
  ) {
    this.pinger = setInterval(() => {
      for (const c of this.conns) {
        if (!c.alive) {
          c.socket.terminate();
          continue;
        }
        c.alive = false;
        c.socket.ping();
      }
    }, PING_EVERY_MS);
    this.pinger.unref();
  }

  get size(): number {
    return this.conns.size;
  }

  /** node:http's 'upgrade' event for WS_PATH: authenticate, check the runtimes, then switch protocols. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams): Promise<void> {
    const token = bearer(req);
    const who = token === undefined ? undefined : await this.app.enrolment.authenticateDaemon(token);
    if (!who || token === undefined) return refuse(socket, 401, 'invalid or revoked daemon token');
    const ids = parseRuntimeIds(query);
    if (ids.length === 0) return refuse(socket, 400, 'runtime_ids is required');
    if (ids.length > MAX_RUNTIME_IDS) return refuse(socket, 400, `at most ${MAX_RUNTIME_IDS} runtime_ids`);
    for (const id of ids) {
      try {
        await this.app.daemons.requireOwnedRuntime(who, id);
      } catch (e) {
        if (e instanceof HttpError) return refuse(socket, e.status, e.error);
        throw e;
      }
    }
    // Only open sockets count: one whose close handshake has begun is on its way out.
    if (socket.destroyed) return; // the client left while we asked the database
    const held = [...this.conns].filter((c) => c.socket.readyState === c.socket.OPEN && c.who.workspace_id === who.workspace_id && c.who.daemon_id === who.daemon_id).length;
    if (held >= MAX_SOCKETS_PER_DAEMON) return refuse(socket, 429, `at most ${MAX_SOCKETS_PER_DAEMON} WebSocket connections per daemon`);
    const client: ClientIdentity = { version: header(req, 'x-client-version'), os: header(req, 'x-client-os', 20) };
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach({ socket: ws, token, who, runtimeIds: ids, client, alive: true }));
  }

  private attach(c: Conn): void {
    this.conns.add(c);
    c.socket.on('pong', () => (c.alive = true));
    c.socket.on('message', (data, isBinary) => {
      c.alive = true;
      if (isBinary) return;
      this.onFrame(c, data.toString()).catch((e: unknown) => this.log(`agentd-platform: WebSocket frame failed: ${e instanceof Error ? e.message : String(e)}`));
    });
    c.socket.on('close', () => this.conns.delete(c));
    c.socket.on('error', () => this.conns.delete(c));
  }

  /** The credential still holds; otherwise the socket is closed and false returned. */
  private async stillAuthorised(c: Conn): Promise<boolean> {
    if (await this.app.enrolment.authenticateDaemon(c.token)) return true;
    this.closeRevoked(c);
    return false;
  }

  private closeRevoked(c: Conn): void {
    c.socket.close(CLOSE_REVOKED, 'invalid or revoked daemon token');
    this.conns.delete(c);
  }

  private async onFrame(c: Conn, text: string): Promise<void> {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return; // not JSON: ignored, as Multica's hub ignores frames it cannot read
    }
    if (!Value.Check(ControlFrameSchema, frame) || frame.type !== HEARTBEAT) return;
    if (!Value.Check(HeartbeatRequest, frame.payload)) {
      await this.stillAuthorised(c); // ignored, but a revoked credential still closes the socket
      return;
    }
    const runtimeId = frame.payload.runtime_id;
    // The credential and the runtime in one lookup, as the HTTP heartbeat route does.
    const found = await this.app.enrolment.authenticateDaemonRuntime(c.token, runtimeId);
    if (!found) return this.closeRevoked(c);
    let ack: PlatformHeartbeatAck;
    try {
      const hb = this.app.daemons.heartbeatSeen(c.who, runtimeId, found.runtime, c.client);
      ack = { status: 'ok', runtime_id: runtimeId, runtime_status: hb.runtime_status, server_capabilities: CAPABILITIES };
    } catch (e) {
      if (!(e instanceof HttpError) || e.status !== 404) {
        this.log(`agentd-platform: WebSocket heartbeat failed: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      ack = { status: 'runtime_gone', runtime_id: runtimeId, runtime_gone: true, server_capabilities: CAPABILITIES };
    }
    send(c.socket, HEARTBEAT_ACK, ack);
  }

  /** A task for `runtimeType` was queued in `workspaceId`: tell every connection with a live runtime of that type. */
  async taskAvailable(workspaceId: string, runtimeType: string, taskId?: string): Promise<void> {
    for (const c of [...this.conns]) {
      if (c.who.workspace_id !== workspaceId) continue;
      // Resolved now, not at connect: a runtime retired since then gets nothing.
      const runtimeId = (await this.app.daemons.liveRuntimeMap(c.who, c.runtimeIds)).get(runtimeType);
      if (runtimeId === undefined || !(await this.stillAuthorised(c))) continue;
      send(c.socket, TASK_AVAILABLE, { runtime_id: runtimeId, task_id: taskId });
    }
  }

  /** A task that `daemonId` holds ended on the platform's side: tell that daemon's connections. */
  async taskEnded(workspaceId: string, daemonId: string, taskId: string, status: string): Promise<void> {
    for (const c of [...this.conns]) {
      if (c.who.workspace_id !== workspaceId || c.who.daemon_id !== daemonId) continue;
      if (!(await this.stillAuthorised(c))) continue;
      send(c.socket, TASK_STATUS, { task_id: taskId, status });
    }
  }

  /** Server shutdown: a close frame to every daemon, and the socket dropped soon after (ws would wait 30 s for a silent peer). */
  close(): void {
    clearInterval(this.pinger);
    const sockets = [...this.conns].map((c) => c.socket);
    this.conns.clear();
    for (const s of sockets) s.close(1001, 'server shutting down');
    if (sockets.length > 0) setTimeout(() => sockets.forEach((s) => s.terminate()), 250).unref();
    this.wss.close();
  }
}

function send(ws: WebSocket, type: string, payload: unknown): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type, payload }));
}

/** runtime_ids=a,b (and runtime_id=a, as Multica also reads), trimmed and de-duplicated. */
function parseRuntimeIds(q: URLSearchParams): string[] {
  const out = new Set<string>();
  for (const raw of [...q.getAll('runtime_id'), ...q.getAll('runtime_ids')]) {
    for (const part of raw.split(',')) {
      const id = part.trim();
      if (id) out.add(id);
    }
  }
  return [...out];
}

/** Answers the upgrade request with a plain JSON error, as the HTTP routes do. */
function refuse(socket: Duplex, status: number, error: string): void {
  const body = JSON.stringify({ error });
  const reason = ({ 401: 'Unauthorized', 404: 'Not Found', 429: 'Too Many Requests' } as Record<number, string>)[status] ?? 'Bad Request';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
  );
}
