// A small fault-injecting proxy for HTTP/1.1 over TCP, put between the daemon and the
// reference platform (the daemon's platform_url points here). Loopback only.
//
// It frames requests and responses itself (Content-Length or chunked; responses may
// also run to EOF) instead of piping bytes, so a fault can hit one request on a route
// — "reset the 2nd messages POST mid-response" — and the rest of the traffic on the
// same keep-alive connection still flows. Each request is handled to the end before
// the next one on that connection is read, which matches undici's default of one
// request in flight per connection (pipelining 1).
//
// Faults:
//   drop        close the client connection on receipt; the platform never sees the request
//   delay       hold the request `ms` before forwarding it
//   reset       forward; send the response head and half of its body, then TCP RST
//   truncate    forward; send the response head and half of its body, then FIN
//   blackhole   swallow: never answer, never close (the client has to time out)
//   respond     answer with a synthesized response (500s, garbage JSON, huge bodies);
//               `forward: true` lets the platform process the request first, so the
//               client sees a failure for something that did happen (idempotency)
//   slowHeaders forward; dribble the response head one byte every `byteEveryMs`
// plus a proxy-wide blackhole(ms): every connection, old and new, goes silent for a
// while, as when a network path dies; connections silenced stay dead afterwards.
import net from 'node:net';

export type Fault =
  | { kind: 'drop' }
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' }
  | { kind: 'truncate' }
  | { kind: 'blackhole' }
  | {
      kind: 'respond';
      status: number;
      /** A string/Buffer, or `{ size }` for a generated JSON body of about that many bytes. */
      body?: string | Buffer | { size: number };
      headers?: Record<string, string>;
      /** Wait this long before the first byte of the response. */
      headerDelayMs?: number;
      /** Let the platform process the request (and discard its answer) before responding. */
      forward?: boolean;
    }
  | { kind: 'slowHeaders'; byteEveryMs: number };

export interface Rule {
  /** Which requests this rule may hit; omitted = all. `path` matches the path without query. */
  method?: string;
  path?: string | RegExp;
  fault: Fault;
  /** Hit every nth matching request (1 = all, 2 = every second one, …). Default 1. */
  every?: number;
  /** Stop after this many hits. Default unlimited. */
  times?: number;
}

export interface ProxyRequestRecord {
  method: string;
  path: string;
  fault: Fault['kind'] | 'pass';
  at: number;
}

interface RuleState {
  rule: Rule;
  seen: number;
  hits: number;
}

const CRLF2 = Buffer.from('\r\n\r\n');
/** Bounds for what the proxy buffers: it is a test tool, not a general proxy. */
const MAX_HEAD = 64 * 1024;

/** Parsed start line and headers of one HTTP message. */
interface Head {
  startLine: string;
  headers: Map<string, string>;
  headBytes: Buffer;
}

function parseHead(buf: Buffer): Head | null {
  const end = buf.indexOf(CRLF2);
  if (end < 0) {
    if (buf.length > MAX_HEAD) throw new Error('message head too large');
    return null;
  }
  const text = buf.subarray(0, end).toString('latin1');
  const lines = text.split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { startLine: lines[0] ?? '', headers, headBytes: buf.subarray(0, end + 4) };
}

/**
 * Length of a complete chunked body at the start of `buf` (through the final CRLF of
 * the trailer section), or -1 when more bytes are needed.
 */
function chunkedLength(buf: Buffer): number {
  let pos = 0;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', pos);
    if (lineEnd < 0) return -1;
    const size = Number.parseInt(buf.subarray(pos, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isFinite(size) || size < 0) throw new Error('malformed chunk size');
    pos = lineEnd + 2;
    if (size === 0) {
      // trailers end with an empty line
      for (;;) {
        const e = buf.indexOf('\r\n', pos);
        if (e < 0) return -1;
        if (e === pos) return e + 2;
        pos = e + 2;
      }
    }
    if (buf.length < pos + size + 2) return -1;
    pos += size + 2;
  }
}

/** Splits one complete message off the front of `buf`: its total byte length, or -1. */
function messageLength(buf: Buffer, head: Head, isResponse: boolean, status: number): number {
  const headLen = head.headBytes.length;
  if (isResponse && (status === 204 || status === 304 || (status >= 100 && status < 200))) return headLen;
  const te = head.headers.get('transfer-encoding');
  if (te && te.toLowerCase().includes('chunked')) {
    const n = chunkedLength(buf.subarray(headLen));
    return n < 0 ? -1 : headLen + n;
  }
  const cl = head.headers.get('content-length');
  if (cl !== undefined) {
    const n = Number(cl);
    if (!Number.isInteger(n) || n < 0) throw new Error('bad content-length');
    return buf.length >= headLen + n ? headLen + n : -1;
  }
  // A request without a length has no body; a response without one runs to EOF.
  return isResponse ? -1 : headLen;
}

/** Reads framed HTTP messages off a socket, one at a time. */
class MessageReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | null = null;

  constructor(
    private readonly sock: net.Socket,
    private readonly isResponse: boolean,
  ) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.wake();
    });
    const onEnd = (): void => {
      this.ended = true;
      this.wake();
    };
    sock.on('end', onEnd);
    sock.on('close', onEnd);
    sock.on('error', onEnd);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** The next complete message, or null when the socket ended first. */
  async next(): Promise<{ head: Head; raw: Buffer; status: number } | null> {
    for (;;) {
      const head = parseHead(this.buf);
      if (head) {
        const status = this.isResponse ? Number(head.startLine.split(' ')[1]) : 0;
        let len = messageLength(this.buf, head, this.isResponse, status);
        if (len < 0 && this.ended && this.isResponse && !head.headers.has('content-length') && !head.headers.has('transfer-encoding')) {
          len = this.buf.length; // read-to-EOF response
        }
        if (len >= 0) {
          const raw = this.buf.subarray(0, len);
          this.buf = this.buf.subarray(len);
          return { head, raw, status };
        }
      }
      if (this.ended) return null;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A JSON document of about `size` bytes that parses: `{"pad":"xxxx…"}`. */
function bigJson(size: number): Buffer {
  const pad = Math.max(0, size - 10);
  return Buffer.from(`{"pad":"${'x'.repeat(pad)}"}`);
}

function synthesize(f: Extract<Fault, { kind: 'respond' }>): Buffer {
  const body =
    f.body === undefined
      ? Buffer.from(JSON.stringify({ error: `injected ${f.status}` }))
      : typeof f.body === 'string'
        ? Buffer.from(f.body)
        : Buffer.isBuffer(f.body)
          ? f.body
          : bigJson(f.body.size);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(body.length),
    connection: 'keep-alive',
    ...f.headers,
  };
  const reason = f.status >= 500 ? 'Server Error' : f.status >= 400 ? 'Client Error' : 'OK';
  const head = `HTTP/1.1 ${f.status} ${reason}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Head plus half of the body: what a client sees when the answer is cut mid-way. */
function cutPoint(raw: Buffer, head: Head): number {
  const bodyLen = raw.length - head.headBytes.length;
  return head.headBytes.length + Math.floor(bodyLen / 2);
}

export class FaultProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Connections that went silent in a blackhole: nothing in or out until the client gives up. */
  private readonly silenced = new WeakSet<net.Socket>();
  private rules: RuleState[] = [];
  private blackholeUntil = 0;
  private closed = false;
  readonly log: ProxyRequestRecord[] = [];
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = net.createServer((s) => this.onConnection(s));
  }

  /** Starts a proxy on 127.0.0.1:<free port> in front of `target` (an http:// URL on loopback). */
  static async start(target: string): Promise<FaultProxy> {
    const u = new URL(target);
    if (u.protocol !== 'http:') throw new Error(`FaultProxy: only http:// targets (got ${u.protocol})`);
    if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') throw new Error('FaultProxy: loopback targets only');
    const p = new FaultProxy('127.0.0.1', Number(u.port || 80));
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(0, '127.0.0.1', () => resolve());
    });
    p.port = (p.server.address() as net.AddressInfo).port;
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Replaces the rule set; the first rule that hits a request decides its fault. */
  setRules(rules: Rule[]): void {
    this.rules = rules.map((rule) => ({ rule, seen: 0, hits: 0 }));
  }

  /** Back to a transparent proxy (a running blackhole window ends too). */
  clear(): void {
    this.rules = [];
    this.blackholeUntil = 0;
  }

  /** Every connection, open or new, goes silent for `ms`; the ones silenced stay dead. */
  blackhole(ms: number): void {
    this.blackholeUntil = Date.now() + ms;
    for (const s of this.sockets) this.silence(s);
  }

  get blackholed(): boolean {
    return Date.now() < this.blackholeUntil;
  }

  /** How many requests hit each fault kind (and 'pass'), optionally for one path pattern. */
  counts(path?: RegExp): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.log) {
      if (path && !path.test(r.path)) continue;
      out[r.fault] = (out[r.fault] ?? 0) + 1;
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private silence(s: net.Socket): void {
    this.silenced.add(s);
    // Keep reading (and discarding) so the client's writes don't fail: a blackhole
    // accepts packets and never answers.
    s.removeAllListeners('data');
    s.on('data', (d: Buffer) => {
      // Log what the blackhole swallowed, as far as a request line shows it.
      const m = /^([A-Z]+) (\S+) HTTP\/1/.exec(d.subarray(0, 2048).toString('latin1'));
      if (m) this.log.push({ method: m[1] ?? '', path: (m[2] ?? '').split('?')[0] ?? '', fault: 'blackhole', at: Date.now() });
    });
  }

  private pick(method: string, path: string): Fault | null {
    for (const st of this.rules) {
      const r = st.rule;
      if (r.method && r.method.toUpperCase() !== method) continue;
      if (r.path !== undefined && !(typeof r.path === 'string' ? path === r.path : r.path.test(path))) continue;
      if (r.times !== undefined && st.hits >= r.times) continue;
      st.seen++;
      if ((st.seen - 1) % (r.every ?? 1) !== 0) continue;
      st.hits++;
      return r.fault;
    }
    return null;
  }

  private onConnection(client: net.Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    this.sockets.add(client);
    client.setNoDelay(true);
    client.on('error', () => {});
    client.on('close', () => this.sockets.delete(client));
    if (this.blackholed) {
      this.silence(client);
      return;
    }
    void this.serve(client).catch(() => client.destroy());
  }

  /** One client connection: read a request, apply its fault, answer, repeat. */
  private async serve(client: net.Socket): Promise<void> {
    const reader = new MessageReader(client, false);
    let upstream: { sock: net.Socket; reader: MessageReader } | null = null;
    const dropUpstream = (): void => {
      upstream?.sock.destroy();
      upstream = null;
    };
    client.on('close', dropUpstream);
    try {
      for (;;) {
        const req = await reader.next();
        if (!req || client.destroyed || this.silenced.has(client)) return;
        const [method = '', target = ''] = req.head.startLine.split(' ');
        const path = target.split('?')[0] ?? '';
        const fault: Fault | null = this.blackholed ? { kind: 'blackhole' } : this.pick(method, path);
        this.log.push({ method, path, fault: fault?.kind ?? 'pass', at: Date.now() });

        if (fault?.kind === 'drop') {
          client.destroy();
          return;
        }
        if (fault?.kind === 'blackhole') {
          this.silence(client);
          return;
        }
        if (fault?.kind === 'respond' && !fault.forward) {
          if (fault.headerDelayMs) await sleep(fault.headerDelayMs);
          if (client.destroyed) return;
          client.write(synthesize(fault));
          continue;
        }
        if (fault?.kind === 'delay') await sleep(fault.ms);
        if (client.destroyed || this.silenced.has(client)) return;

        if (!upstream || upstream.sock.destroyed) upstream = await this.connectUpstream();
        const up: { sock: net.Socket; reader: MessageReader } = upstream;
        up.sock.write(req.raw);
        const res = await up.reader.next();
        if (!res) {
          // The platform closed without a (complete) answer: so do we.
          client.destroy();
          return;
        }
        if (this.silenced.has(client)) return; // a blackhole started while the request was in flight
        if (res.head.headers.get('connection')?.toLowerCase() === 'close') dropUpstream();

        switch (fault?.kind) {
          case 'respond':
            // forward: the platform did the work; the client sees a failure anyway.
            dropUpstream();
            if (fault.headerDelayMs) await sleep(fault.headerDelayMs);
            if (client.destroyed) return;
            client.write(synthesize(fault));
            continue;
          case 'reset': {
            const cut = cutPoint(res.raw, res.head);
            client.write(res.raw.subarray(0, cut), () => client.resetAndDestroy());
            dropUpstream();
            return;
          }
          case 'truncate': {
            const cut = cutPoint(res.raw, res.head);
            // FIN after the partial answer; a client that trusts it gets half a body.
            client.end(res.raw.subarray(0, cut));
            dropUpstream();
            return;
          }
          case 'slowHeaders': {
            const headLen = res.head.headBytes.length;
            for (let i = 0; i < headLen; i++) {
              if (client.destroyed || this.closed) return;
              client.write(res.raw.subarray(i, i + 1));
              await sleep(fault.byteEveryMs);
            }
            if (client.destroyed) return;
            client.write(res.raw.subarray(headLen));
            continue;
          }
          default:
            client.write(res.raw);
        }
        // A read-to-EOF response ends the connection.
        if (!res.head.headers.has('content-length') && !res.head.headers.has('transfer-encoding') && res.status >= 200 && res.status !== 204 && res.status !== 304) {
          client.end();
          return;
        }
      }
    } finally {
      dropUpstream();
    }
  }

  private connectUpstream(): Promise<{ sock: net.Socket; reader: MessageReader }> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.targetPort, this.targetHost);
      sock.setNoDelay(true);
      const reader = new MessageReader(sock, true);
      sock.once('connect', () => {
        sock.removeListener('error', reject);
        sock.on('error', () => {});
        resolve({ sock, reader });
      });
      sock.once('error', reject);
    });
  }
}
