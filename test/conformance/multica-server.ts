// A fake Multica server for the daemon side of the conformance suite: it answers the
// daemon routes as Multica's server does (as the reference notes on Multica's daemon
// API describe them), not as agentd's reference platform does:
//
//   - error bodies are `{"error":"…"}` with Multica's wording, which its daemon matches
//     by substring: 404 `runtime not found` / `task not found`, 401 `missing
//     authorization header` / `invalid authorization format` / `invalid daemon token`,
//     403 `daemon_id does not match token`; an unknown route is Go's plain-text
//     `404 page not found`;
//   - the claimed Task JSON has no `prompt`: agent_id, agent{…}, the context fields and
//     a fresh mat_ per claim;
//   - claims answer at once (no long poll: `wait_s` is ignored); a batch claim skips
//     unknown runtime ids; `batchClaim: false` makes the batch route missing (404) so
//     the daemon must use the per-runtime legacy claim;
//   - success bodies are Multica's: `{status:"ok"}`, the task JSON, register with
//     provider/repos/repos_version/settings, heartbeat `{status:"ok"}`;
//   - GET /api/daemon/ws upgrades to a WebSocket (RFC 6455, text frames, written here:
//     no dependency) carrying `{type, payload}` frames: `daemon:task_available` on
//     enqueue, `daemon:heartbeat_ack` for each `daemon:heartbeat` (`runtime_gone` once
//     the runtime is deleted).
//
// One extension is not Multica's: POST /api/install-tokens/exchange (mit_ → mdt_), the
// enrolment `agentd install` performs (Multica has no install tokens; its daemon uses a
// PAT). Tests drive the server through the returned object (enqueue, deleteRuntime,
// cancel, revoke) and read what the daemon sent from `requests` and the task records.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeAgent {
  id: string;
  name: string;
  instructions?: string;
  custom_env?: Record<string, string>;
  custom_args?: string[];
  model?: string;
  [k: string]: unknown;
}

export type FakeTaskStatus = 'queued' | 'dispatched' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface FakeTask {
  id: string;
  runtime_id: string;
  workspace_id: string;
  agent_id: string;
  issue_id: string;
  agent: FakeAgent;
  /** Context fields (trigger_comment_*, chat_*, autopilot_*, quick_create_*, handoff_note…). */
  context: Record<string, unknown>;
  status: FakeTaskStatus;
  auth_token: string | null;
  enqueuedAt: number;
  claimedAt: number | null;
  startCalls: number;
  prepareLeases: number;
  messages: Array<Record<string, unknown>>;
  progress: Array<{ summary: string; step: number; total: number }>;
  sessions: Array<Record<string, unknown>>;
  usage: Array<Record<string, unknown>>;
  result: Record<string, unknown> | null;
  cancelAcked: boolean;
}

export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
  status: number;
}

export interface FakeRuntime {
  id: string;
  daemon_id: string;
  name: string;
  provider: string;
  deleted: boolean;
}

export interface MulticaServerOptions {
  /** false: POST /api/daemon/tasks/claim (and /api/daemon/claim) is not a route (404 page not found). */
  batchClaim?: boolean;
  /** false: GET /api/daemon/ws is not a route. */
  webSocket?: boolean;
  /** Agent every enqueued task belongs to, unless the enqueue names one. */
  agent?: FakeAgent;
}

export interface MulticaServer {
  url: string;
  workspaceId: string;
  requests: RecordedRequest[];
  runtimes: FakeRuntime[];
  tasks: Map<string, FakeTask>;
  /** A single-use install token for `agentd install` (our extension). */
  createInstallToken(): Promise<{ token: string }>;
  /** Queues a task for the runtime of this provider (the live one) and wakes its daemon over the WebSocket. */
  enqueue(o: { provider?: string; runtimeId?: string; agent?: Partial<FakeAgent>; context?: Record<string, unknown>; agentId?: string }): FakeTask;
  /** Deletes a runtime row (the UI's delete, or the 7-day GC): its heartbeats answer 404 `runtime not found`. */
  deleteRuntime(id: string): void;
  /** Cancels a task (the UI's cancel): /status answers `cancelled`. */
  cancel(taskId: string): void;
  /** Revokes every daemon token: every call answers 401 `invalid daemon token`. */
  revokeTokens(): void;
  /** The most claim requests (batch or legacy) ever in flight at once: 1 for a daemon with one claim loop. */
  maxConcurrentClaims(): number;
  /** Open WebSocket connections (with their runtime ids). */
  sockets(): Array<{ runtimeIds: string[] }>;
  /** Closes every WebSocket connection (the server restarted, a proxy dropped it…). */
  dropSockets(): void;
  /** Stops answering heartbeat frames (acks stop; the connection stays open). */
  muteAcks(mute: boolean): void;
  waitFor<T>(what: string, pred: () => T | undefined | false | null, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

const token = (prefix: string): string => prefix + randomBytes(20).toString('hex');

export async function startMulticaServer(o: MulticaServerOptions = {}): Promise<MulticaServer> {
  const workspaceId = randomUUID();
  const installTokens = new Set<string>();
  const daemonTokens = new Map<string, { daemonId: string }>();
  const runtimes: FakeRuntime[] = [];
  const tasks = new Map<string, FakeTask>();
  const taskTokens = new Map<string, string>(); // mat_ → task id
  const requests: RecordedRequest[] = [];
  const sockets = new Set<WsConn>();
  let acksMuted = false;
  let claimsInFlight = 0;
  let maxClaims = 0;
  const defaultAgent: FakeAgent = o.agent ?? { id: randomUUID(), name: 'Conformance Agent', instructions: 'Be brief.' };

  const liveRuntime = (id: string): FakeRuntime | undefined => runtimes.find((r) => r.id === id && !r.deleted);

  function taskJson(t: FakeTask): Record<string, unknown> {
    return {
      id: t.id,
      agent_id: t.agent_id,
      runtime_id: t.runtime_id,
      issue_id: t.issue_id,
      workspace_id: t.workspace_id,
      status: t.status,
      agent: t.agent,
      ...t.context,
      ...(t.auth_token ? { auth_token: t.auth_token } : {}),
    };
  }

  /** The daemon a request speaks for (DaemonAuth), or an error answer. */
  function auth(req: IncomingMessage): { daemonId: string } | [number, unknown] {
    const h = req.headers.authorization;
    if (!h) return [401, { error: 'missing authorization header' }];
    if (!h.startsWith('Bearer ')) return [401, { error: 'invalid authorization format' }];
    const d = daemonTokens.get(h.slice(7));
    if (!d) return [401, { error: 'invalid daemon token' }];
    return d;
  }

  function claimOne(t: FakeTask): Record<string, unknown> {
    t.status = 'dispatched';
    t.claimedAt = Date.now();
    t.auth_token = token('mat_');
    taskTokens.set(t.auth_token, t.id);
    return taskJson(t);
  }

  function queuedFor(runtimeId: string): FakeTask | undefined {
    for (const t of tasks.values()) if (t.status === 'queued' && t.runtime_id === runtimeId) return t;
    return undefined;
  }

  type Answer = [number, unknown];
  async function route(req: IncomingMessage, path: string, body: unknown): Promise<Answer> {
    const m = req.method ?? 'GET';
    const b = (body ?? {}) as Record<string, unknown>;
    if (m === 'POST' && path === '/api/install-tokens/exchange') {
      const t = typeof b.token === 'string' ? b.token : '';
      if (!installTokens.delete(t)) return [401, { error: 'invalid_install_token' }];
      const mdt = token('mdt_');
      daemonTokens.set(mdt, { daemonId: String(b.daemon_id) });
      return [200, { token: mdt, workspace_id: workspaceId, daemon_id: b.daemon_id, expires_at: new Date(Date.now() + 365 * 86400_000).toISOString() }];
    }
    if (!path.startsWith('/api/daemon/')) return [404, '404 page not found'];
    const who = auth(req);
    if (Array.isArray(who)) return who;

    if (m === 'POST' && path === '/api/daemon/register') {
      if (!b.daemon_id || !b.workspace_id) return [400, { error: 'workspace_id and daemon_id are required' }];
      if (b.workspace_id !== workspaceId) return [404, { error: 'workspace not found' }];
      const sent = Array.isArray(b.runtimes) ? (b.runtimes as Array<Record<string, unknown>>) : [];
      if (sent.length === 0) return [400, { error: 'at least one runtime is required' }];
      const out = sent.map((r) => {
        const provider = String(r.type ?? '');
        const name = typeof r.name === 'string' && r.name !== '' ? r.name : `${provider} (${String(b.device_name ?? '')})`;
        let row = runtimes.find((x) => !x.deleted && x.daemon_id === b.daemon_id && x.provider === provider);
        if (!row) {
          row = { id: randomUUID(), daemon_id: String(b.daemon_id), name, provider, deleted: false };
          runtimes.push(row);
        }
        // Multica answers with `provider`, never our `type`.
        return { id: row.id, name: row.name, provider: row.provider, status: r.status === 'offline' ? 'offline' : 'online' };
      });
      return [200, { runtimes: out, repos: [], repos_version: 'v0', settings: {} }];
    }
    if (m === 'POST' && path === '/api/daemon/heartbeat') {
      if (!liveRuntime(String(b.runtime_id))) return [404, { error: 'runtime not found' }];
      return [200, { status: 'ok' }];
    }
    if (m === 'POST' && path === '/api/daemon/deregister') return [200, { status: 'ok' }];
    if (m === 'POST' && (path === '/api/daemon/tasks/claim' || path === '/api/daemon/claim')) {
      if (o.batchClaim === false) return [404, '404 page not found'];
      if (!b.daemon_id) return [400, { error: 'daemon_id is required' }];
      if (b.daemon_id !== who.daemonId) return [403, { error: 'daemon_id does not match token' }];
      const max = typeof b.max_tasks === 'number' ? b.max_tasks : 1;
      if (max < 0) return [400, { error: 'max_tasks must be >= 0' }];
      const out: Record<string, unknown>[] = [];
      for (const rid of Array.isArray(b.runtime_ids) ? (b.runtime_ids as string[]) : []) {
        const rt = liveRuntime(rid);
        if (!rt || rt.daemon_id !== who.daemonId) continue; // skipped silently, as Multica does
        for (let t = queuedFor(rid); t && out.length < Math.min(max, 32); t = queuedFor(rid)) out.push(claimOne(t));
      }
      return [200, { tasks: out }];
    }
    let mm = /^\/api\/daemon\/runtimes\/([^/]+)\/tasks\/claim$/.exec(path);
    if (m === 'POST' && mm) {
      if (!liveRuntime(mm[1]!)) return [404, { error: 'runtime not found' }];
      const t = queuedFor(mm[1]!);
      return [200, { task: t ? claimOne(t) : null }];
    }
    mm = /^\/api\/daemon\/runtimes\/([^/]+)\/recover-orphans$/.exec(path);
    if (m === 'POST' && mm) return [200, { orphaned: 0, retried: 0 }];
    mm = /^\/api\/daemon\/runtimes\/([^/]+)\/tasks\/([^/]+)\/prepare-lease$/.exec(path);
    if (m === 'POST' && mm) {
      const t = tasks.get(mm[2]!);
      if (!t || t.runtime_id !== mm[1]) return [404, { error: 'task not found' }];
      t.prepareLeases++;
      return [200, taskJson(t)];
    }
    mm = /^\/api\/daemon\/tasks\/([^/]+)\/(start|progress|messages|usage|complete|fail|cancel-ack|status|session)$/.exec(path);
    if (!mm) return [404, '404 page not found'];
    const t = tasks.get(mm[1]!);
    if (!t) return [404, { error: 'task not found' }];
    const terminal = t.status === 'completed' || t.status === 'failed' || t.status === 'cancelled';
    switch (`${m} ${mm[2]}`) {
      case 'POST start':
        t.startCalls++;
        if (t.status !== 'dispatched') return [400, { error: 'task is not in dispatched state' }];
        t.status = 'running';
        return [200, taskJson(t)];
      case 'POST progress':
        t.progress.push(b as FakeTask['progress'][number]);
        return [200, { status: 'ok' }];
      case 'POST messages':
        for (const msg of Array.isArray(b.messages) ? (b.messages as Array<Record<string, unknown>>) : []) t.messages.push(msg);
        return [200, { status: 'ok' }];
      case 'POST usage':
        for (const u of Array.isArray(b.usage) ? (b.usage as Array<Record<string, unknown>>) : []) t.usage.push(u);
        return [200, { status: 'ok' }];
      case 'POST session':
        if (!b.session_id && !b.work_dir) return [400, { error: 'session_id or work_dir is required' }];
        t.sessions.push(b);
        return [200, { status: 'ok' }];
      case 'POST complete':
      case 'POST fail':
        if (!terminal) {
          t.status = mm[2] === 'complete' ? 'completed' : 'failed';
          t.result = b;
          if (t.auth_token) taskTokens.delete(t.auth_token);
        }
        return [200, taskJson(t)];
      case 'POST cancel-ack':
        t.cancelAcked = true;
        return [200, { status: 'ok' }];
      case 'GET status':
        return [200, { status: t.status }];
      default:
        return [404, '404 page not found'];
    }
  }

  const server = createServer((req, res) => {
    const isClaim = /\/claim$/.test(req.url ?? '');
    if (isClaim) {
      claimsInFlight++;
      maxClaims = Math.max(maxClaims, claimsInFlight);
      res.once('close', () => claimsInFlight--);
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      let body: unknown = undefined;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          return answer(res, req, path, undefined, [400, { error: 'invalid request body' }]);
        }
      }
      route(req, path, body).then(
        (a) => answer(res, req, path, body, a),
        (err: unknown) => answer(res, req, path, body, [500, { error: String(err) }]),
      );
    });
  });

  function answer(res: ServerResponse, req: IncomingMessage, path: string, body: unknown, [status, payload]: [number, unknown]): void {
    requests.push({ at: Date.now(), method: req.method ?? 'GET', path, headers: req.headers, body, status });
    if (typeof payload === 'string') {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(payload + '\n');
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(payload));
  }

  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    // A refused client may reset the connection while the refusal is written (ECONNRESET
    // would otherwise be an uncaught error of the whole test run).
    socket.on('error', () => {});
    const u = new URL(req.url ?? '/', 'http://x');
    const reject = (status: number, text: string): void => {
      requests.push({ at: Date.now(), method: 'GET', path: u.pathname, headers: req.headers, body: undefined, status });
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 400 ? 'Bad Request' : 'Not Found'}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${text}`);
    };
    if (u.pathname !== '/api/daemon/ws' || o.webSocket === false) return reject(404, '404 page not found');
    const who = auth(req);
    if (Array.isArray(who)) return reject(who[0], JSON.stringify(who[1]));
    const ids = (u.searchParams.get('runtime_ids') ?? '').split(',').filter(Boolean);
    if (ids.length === 0) return reject(400, JSON.stringify({ error: 'runtime_ids is required' }));
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string') return reject(400, JSON.stringify({ error: 'not a websocket handshake' }));
    requests.push({ at: Date.now(), method: 'GET', path: u.pathname, headers: req.headers, body: { runtime_ids: ids }, status: 101 });
    const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.setNoDelay(true);
    const conn = new WsConn(socket, ids, (text) => {
      let f: { type?: unknown; payload?: { runtime_id?: unknown } };
      try {
        f = JSON.parse(text) as typeof f;
      } catch {
        return;
      }
      requests.push({ at: Date.now(), method: 'WS', path: String(f.type), headers: {}, body: f.payload, status: 0 });
      if (f.type === 'daemon:heartbeat' && !acksMuted) {
        const rid = String(f.payload?.runtime_id ?? '');
        const gone = !liveRuntime(rid);
        conn.send({ type: 'daemon:heartbeat_ack', payload: gone ? { runtime_id: rid, status: 'runtime_gone', runtime_gone: true } : { runtime_id: rid, status: 'ok', server_capabilities: [] } });
      }
    });
    sockets.add(conn);
    socket.on('close', () => sockets.delete(conn));
  });

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    workspaceId,
    requests,
    runtimes,
    tasks,
    async createInstallToken() {
      const t = token('mit_');
      installTokens.add(t);
      return { token: t };
    },
    enqueue(e) {
      const rt = e.runtimeId ? runtimes.find((r) => r.id === e.runtimeId) : runtimes.find((r) => !r.deleted && r.provider === (e.provider ?? 'claude'));
      if (!rt) throw new Error(`no runtime for ${e.runtimeId ?? e.provider ?? 'claude'}`);
      const agent = { ...defaultAgent, ...e.agent } as FakeAgent;
      const t: FakeTask = {
        id: randomUUID(),
        runtime_id: rt.id,
        workspace_id: workspaceId,
        agent_id: e.agentId ?? agent.id,
        issue_id: randomUUID(),
        agent,
        context: e.context ?? {},
        status: 'queued',
        auth_token: null,
        enqueuedAt: Date.now(),
        claimedAt: null,
        startCalls: 0,
        prepareLeases: 0,
        messages: [],
        progress: [],
        sessions: [],
        usage: [],
        result: null,
        cancelAcked: false,
      };
      tasks.set(t.id, t);
      for (const s of sockets) if (s.runtimeIds.includes(rt.id)) s.send({ type: 'daemon:task_available', payload: { runtime_id: rt.id, task_id: t.id } });
      return t;
    },
    deleteRuntime(id) {
      const r = runtimes.find((x) => x.id === id);
      if (r) r.deleted = true;
    },
    cancel(taskId) {
      const t = tasks.get(taskId);
      if (t) t.status = 'cancelled';
    },
    revokeTokens() {
      daemonTokens.clear();
      for (const s of sockets) s.close();
    },
    maxConcurrentClaims: () => maxClaims,
    sockets: () => [...sockets].map((s) => ({ runtimeIds: s.runtimeIds })),
    dropSockets() {
      for (const s of sockets) s.destroy();
    },
    muteAcks(mute) {
      acksMuted = mute;
    },
    async waitFor(what, pred, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const v = pred();
        if (v) return v;
        if (Date.now() > end) throw new Error(`fake Multica server: ${what} did not happen within ${timeoutMs} ms; last requests:\n${requests.slice(-15).map((r) => `${r.method} ${r.path} ${r.status}`).join('\n')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The server end of one WebSocket: text frames in (masked, as clients must send them) and out; ping → pong; close. */
class WsConn {
  private buf = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  constructor(
    private readonly socket: Socket,
    readonly runtimeIds: string[],
    private readonly onText: (text: string) => void,
  ) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    socket.on('error', () => {});
  }

  send(frame: unknown): void {
    this.write(0x1, Buffer.from(JSON.stringify(frame)));
  }

  close(): void {
    this.write(0x8, Buffer.from([0x03, 0xe8]));
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private write(opcode: number, payload: Buffer): void {
    if (this.socket.destroyed) return;
    const len = payload.length;
    const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : len < 65536 ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff]) : Buffer.concat([Buffer.from([0x80 | opcode, 127]), bigLen(len)]);
    this.socket.write(Buffer.concat([head, payload]));
  }

  private parse(): void {
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0]!;
      const b1 = this.buf[1]!;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      const need = off + (masked ? 4 : 0) + len;
      if (this.buf.length < need) return;
      const mask = masked ? this.buf.subarray(off, off + 4) : null;
      const data = Buffer.from(this.buf.subarray(off + (masked ? 4 : 0), need));
      if (mask) for (let i = 0; i < data.length; i++) data[i]! ^= mask[i % 4]!;
      this.buf = this.buf.subarray(need);
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 0x8) {
        this.close();
        return;
      }
      if (opcode === 0x9) {
        this.write(0xa, data);
        continue;
      }
      if (opcode === 0x1 || opcode === 0x0) {
        this.fragments.push(data);
        if (fin) {
          const text = Buffer.concat(this.fragments).toString('utf8');
          this.fragments = [];
          this.onText(text);
        }
      }
    }
  }
}

function bigLen(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
