// Streams one task's messages to the platform: numbered (seq per task, strictly
// increasing), batched (≤ maxBatchBytes or flushMs), posted up to maxInFlight batches at
// a time and each retried with the SAME seqs until the platform takes it (the Multica daemon drops a
// batch that fails; a resend here is idempotent by seq). Nothing is dropped unless the
// platform says the task can never take messages again (final 4xx: task gone/finished).
//
// Raw text output (the `bytes` of a text adapter's chunks) goes to a platform that takes
// it (`postRaw`, our platform) as bytes, framed (api/output-frames.ts), and is never
// turned into JSON; everything else, and everything to a Multica server, is JSON. A
// platform replica without the raw route (a rolling upgrade) turns the stream to JSON
// for good: the refused batch is queued again as JSON, same seqs.
//
// Raw bytes are copied, as they are pushed, into an arena: a buffer that becomes one
// request body, its head line written in the room left before the bytes when it is
// sent, and that is reused once the platform took it. Why: a chunk is only valid while
// it is pushed (the text chunker reuses its buffer, chunks.ts says why), and a body per
// batch is garbage outside the JS heap (the JSON bodies' slots below, same reason).
//
// Memory is bounded: when unsent messages exceed highWaterBytes the producer is told to
// pause (the runner stops reading the child's pipes, so the child blocks on write) and
// to resume below lowWaterBytes.
import { RAW_BATCH_BYTES, encodeOutputBody, headBytesFor, outputHeadLine } from '../../api/output-frames.js';
import type { TaskMessage } from '../../api/types.js';
import type { OutMessage } from './adapters/types.js';
import { jsonStringLatin1 } from './json-text.js';
import { utf8Boundary } from './lines.js';
import { Backoff, sleep } from './timing.js';

export interface OutputStreamOptions {
  /**
   * Sends one batch: `body` is the request body, {"messages":[…]}. Each message is turned
   * into JSON once, when it is queued, and only the JSON is kept: that is its exact size
   * on the wire, and the text is not held twice (serialising a chunk a second time cost
   * as much as the rest of the daemon's work on it).
   */
  post: (body: Buffer, signal: AbortSignal) => Promise<void>;
  /** Sends a run of raw text messages, framed (api/output-frames.ts); absent: all is JSON. */
  postRaw?: (body: Buffer, signal: AbortSignal) => Promise<void>;
  /** True when postRaw's route is not there: the stream turns to JSON for good. */
  isRawUnsupported?: (err: unknown) => boolean;
  /** True for errors that no retry can fix (the task is gone or finished): drop and stop. */
  isFinal?: (err: unknown) => boolean;
  /** Called on each failed attempt that will be retried (logging). */
  onRetry?: (err: unknown, failures: number) => void;
  /** Posts wait for this first (e.g. the task's `start` call). */
  ready?: Promise<unknown>;
  maxBatchBytes?: number;
  /** Largest raw body (head line included): one arena. */
  maxRawBatchBytes?: number;
  maxBatchCount?: number;
  flushMs?: number;
  /**
   * Batches posted at once. Two: the platform reads the next batch while it stores one,
   * instead of idling for a round trip between batches. Seqs make the order in which
   * they are taken irrelevant (the platform stores by seq; a resend is ignored).
   */
  maxInFlight?: number;
  highWaterBytes?: number;
  lowWaterBytes?: number;
  onPause?: () => void;
  onResume?: () => void;
  /**
   * Called when the stream floods (BULK_BYTES pushed within BULK_WINDOW_MS); the function
   * it returns is called once the stream has drained (nothing queued, nothing in flight)
   * or stopped. The daemon's is core/gc-mode.ts's holdThroughputGc.
   */
  onBulk?: () => () => void;
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

/** Output bytes pushed within BULK_WINDOW_MS that make a stream a flood (onBulk). */
const BULK_BYTES = 4 * 1024 * 1024;
const BULK_WINDOW_MS = 1000;

/** Accounting overhead of one queued message object beyond its content (memory, not wire). */
const MSG_OVERHEAD = 96;

/** One raw request body being filled: [RAW_HEAD_ROOM, RAW_HEAD_ROOM + used) holds the bytes. */
interface Arena {
  buf: Buffer;
  used: number;
  /** Head line bytes its parts need at most (headBytesFor). */
  headBytes: number;
  count: number;
  /** When its first message came (its flush timer runs from then). */
  firstAt: number;
}

/** Room before an arena's bytes for its head line (~27 bytes a part: ~600 parts). */
const RAW_HEAD_ROOM = 16 * 1024;

interface Queued {
  seq: number;
  type: string;
  /** The message as JSON, as it goes on the wire ('' while it is kept as `bytes`). */
  json: string;
  /** `json` holds the UTF-8 bytes one per char (raw output, see json-text.ts), not UTF-16 text. */
  latin1: boolean;
  /** Raw text output sent framed, not as JSON (null: the message is `json`): a view of `arena`. */
  bytes: Buffer | null;
  arena: Arena | null;
  /** Its size in a batch body (JSON with its comma, or bytes plus its head entry at most). */
  wire: number;
  mem: number;
}

export class OutputStream {
  private readonly o: Required<Omit<OutputStreamOptions, 'ready' | 'isFinal' | 'onRetry' | 'onPause' | 'onResume' | 'postRaw' | 'isRawUnsupported' | 'onBulk'>> &
    OutputStreamOptions;
  private queue: Queued[] = [];
  private head = 0;
  private seq = 0;
  private memBytes = 0; // queued + in flight
  private queuedWire = 0; // queued only
  private firstQueuedAt = 0;
  private paused = false;
  private closing = false;
  private deadReason: unknown = null;
  private wakeFn: (() => void) | null = null;
  private readonly abort = new AbortController();
  private readonly loop: Promise<void>;
  /**
   * Request bodies, reused: one Buffer per batch in flight, allocated once. A new 1 MiB
   * body per batch (with every message's own Buffer) is garbage outside the JS heap,
   * which V8 collects only after ~64 MB of it: the flooding daemon's RSS grew by that.
   */
  private readonly slots: Buffer[] = [];
  /** Raw text output goes framed (postRaw given and not refused yet). */
  private raw: boolean;
  /** The arena raw messages are copied into now (null: the next one starts a new arena). */
  private filling: Arena | null = null;
  /** Arena buffers the platform is done with, for the next arenas. */
  private readonly spareArenas: Buffer[] = [];
  /** Bytes of raw output an arena holds: a request body, and a quarter of the memory bound at most. */
  private readonly arenaBytes: number;
  /** Bytes pushed since `bulkSince` (the flood check), and onBulk's release while it holds. */
  private bulkBytes = 0;
  private bulkSince = Date.now();
  private bulkRelease: (() => void) | null = null;
  sentMessages = 0;
  sentBytes = 0;
  droppedMessages = 0;

  constructor(o: OutputStreamOptions) {
    this.o = {
      // Under the platform's 1 MiB body limit (sizes are exact: the JSON as sent).
      maxBatchBytes: 1024 * 1024 - 16 * 1024,
      maxRawBatchBytes: RAW_BATCH_BYTES,
      maxBatchCount: 2000,
      flushMs: 250,
      maxInFlight: 2,
      highWaterBytes: 4 * 1024 * 1024,
      lowWaterBytes: 1024 * 1024,
      backoffBaseMs: 250,
      backoffCapMs: 10_000,
      ...o,
    };
    this.raw = o.postRaw !== undefined;
    this.arenaBytes = Math.max(64 * 1024, Math.min(this.o.maxRawBatchBytes - RAW_HEAD_ROOM, Math.floor(this.o.highWaterBytes / 4)));
    this.loop = this.run();
  }

  /** Raw text output is sent as bytes (false: as JSON, always or since a replica refused it). */
  get rawOutput(): boolean {
    return this.raw;
  }

  /** Seq of the last message numbered so far (0: none). */
  get lastSeq(): number {
    return this.seq;
  }

  /** Bytes held in memory waiting to be sent (approximate). */
  get pendingBytes(): number {
    return this.memBytes;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Set when the platform refused the task's messages for good. */
  get dead(): unknown {
    return this.deadReason;
  }

  push(m: OutMessage): void {
    if (this.closing || this.deadReason !== null) {
      if (this.deadReason !== null) this.droppedMessages++;
      return;
    }
    for (const piece of this.fit(m)) {
      // (A chunk larger than an arena, which the text chunker never makes, goes as JSON.)
      const rawPiece = this.raw && piece.bytes !== undefined && piece.bytes.length <= this.arenaBytes;
      // An arena's messages stay one run of the queue (it is sent as one body).
      if (!rawPiece) this.filling = null;
      const q = rawPiece ? this.rawQueued(++this.seq, piece.type, piece.bytes as Buffer) : toQueued(++this.seq, piece);
      if (this.head === this.queue.length) this.firstQueuedAt = Date.now();
      this.queue.push(q);
      this.memBytes += q.mem;
      this.queuedWire += q.wire;
      this.bulkBytes += q.wire;
    }
    if (this.bulkRelease === null && this.o.onBulk) this.checkBulk(this.o.onBulk);
    if (!this.paused && this.memBytes > this.o.highWaterBytes) {
      this.paused = true;
      this.o.onPause?.();
    }
    if (this.headBatchFull()) this.wake();
    else if (this.queue.length - this.head === 1) this.wake(); // start the flush timer
  }

  /**
   * Send everything queued, then stop. Resolves when all is sent, the platform refused
   * the task for good, or `signal` aborted (what is left is then given up).
   */
  async close(signal?: AbortSignal): Promise<void> {
    this.closing = true;
    if (signal) {
      if (signal.aborted) this.abort.abort(signal.reason);
      else signal.addEventListener('abort', () => this.abort.abort(signal.reason), { once: true });
    }
    this.wake();
    await this.loop;
  }

  /** Give up at once (nothing more will be sent). */
  destroy(): void {
    this.closing = true;
    this.abort.abort(new Error('output stream destroyed'));
    this.wake();
  }

  private wake(): void {
    const w = this.wakeFn;
    this.wakeFn = null;
    w?.();
  }

  private wait(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      let t: NodeJS.Timeout | null = null;
      this.wakeFn = () => {
        if (t) clearTimeout(t);
        resolve();
      };
      if (ms !== null) {
        t = setTimeout(() => {
          this.wakeFn = null;
          resolve();
        }, ms);
      }
    });
  }

  private async run(): Promise<void> {
    let readyDone = this.o.ready === undefined;
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      if (this.abort.signal.aborted || this.deadReason !== null) break;
      const waiting = this.queue.length - this.head;
      if (waiting === 0) {
        // Closing: done once nothing is in flight (a batch refused as raw comes back as JSON).
        if (this.closing && inFlight.size === 0) break;
        if (this.closing) await Promise.race(inFlight);
        else await this.wait(null);
        continue;
      }
      if (inFlight.size >= this.o.maxInFlight) {
        await Promise.race(inFlight);
        continue;
      }
      const headArena = (this.queue[this.head] as Queued).arena;
      if (!this.closing && !this.headBatchFull()) {
        // A filling arena's own age: the queue's is "overdue" once a batch was taken from
        // it, which would send the next arena as soon as a request slot frees, however
        // little it holds.
        const age = Date.now() - (headArena !== null ? headArena.firstAt : this.firstQueuedAt);
        if (age < this.o.flushMs) {
          await this.wait(this.o.flushMs - age);
          continue;
        }
      }
      if (!readyDone) {
        try {
          await this.o.ready;
        } catch {
          // the caller handles a failed start; posting will tell us if the task is gone
        }
        readyDone = true;
      }
      const sending: Promise<void> = this.send(this.take()).finally(() => {
        inFlight.delete(sending);
        // The last answer of a drained stream: the loop waits for a push, so the flood
        // ends here (a batch refused as raw is queued again before this runs).
        if (inFlight.size === 0 && this.head === this.queue.length) this.endBulk();
      });
      inFlight.add(sending);
    }
    await Promise.all(inFlight);
    this.endBulk();
    // Stopped for good: drop what is left and never leave the producer paused.
    this.droppedMessages += this.queue.length - this.head;
    this.queue = [];
    this.head = 0;
    this.filling = null;
    this.memBytes = 0;
    this.queuedWire = 0;
    this.maybeResume();
  }

  /**
   * The batch at the head of the queue need not wait for its flush time: a raw one once
   * its arena is full (a new one was started after it), a JSON one by its queued size or
   * count. (Judged by the queued size, arenas of 2 MiB went at 1 MiB: 253 bodies for
   * 256 MB against a platform that answers at once, now 132.)
   */
  private headBatchFull(): boolean {
    if (this.head === this.queue.length) return false;
    const arena = (this.queue[this.head] as Queued).arena;
    return arena !== null ? arena !== this.filling : this.queuedWire >= this.o.maxBatchBytes || this.queue.length - this.head >= this.o.maxBatchCount;
  }

  /** Posts one batch until it is taken, the task is gone for good, or the stream is aborted. Never throws. */
  private async send(batch: Queued[]): Promise<void> {
    const backoff = new Backoff({ baseMs: this.o.backoffBaseMs, capMs: this.o.backoffCapMs });
    const arena = (batch[0] as Queued).arena;
    const raw = arena !== null;
    // A raw batch's body is its arena; a JSON one is written into a reused slot.
    const slot = raw ? null : (this.slots.pop() ?? Buffer.allocUnsafe(this.o.maxBatchBytes + 64));
    const body = raw ? arenaBody(arena, batch) : batchBody(batch, slot as Buffer);
    for (;;) {
      if (this.abort.signal.aborted || this.deadReason !== null) {
        this.droppedMessages += batch.length;
        if (slot) this.slots.push(slot);
        if (arena) this.releaseArena(arena);
        return;
      }
      try {
        await (raw ? this.o.postRaw! : this.o.post)(body, this.abort.signal);
        break;
      } catch (err) {
        if (this.abort.signal.aborted) continue;
        if (raw && this.o.isRawUnsupported?.(err)) {
          this.turnToJson(batch);
          return;
        }
        if (this.o.isFinal?.(err)) {
          this.deadReason = err;
          this.wake();
          continue;
        }
        this.o.onRetry?.(err, backoff.failures + 1);
        await sleep(backoff.next(), this.abort.signal).catch(() => {});
      }
    }
    for (const q of batch) {
      this.memBytes -= q.mem;
      this.sentBytes += q.wire;
    }
    this.sentMessages += batch.length;
    // The request is over: nothing reads the body any more.
    if (slot) this.slots.push(slot);
    if (arena) this.releaseArena(arena);
    this.maybeResume();
  }

  /**
   * The platform has no raw route: every message kept as bytes becomes JSON, and the
   * refused batch goes back into the queue in seq order (batches are cut again by JSON
   * size, which escaping can make up to 6 times larger). In seq order, not at the front:
   * with two raw batches in flight both are refused, and the one refused second went out
   * before everything queued ahead of it (test/unit/tasks-output.test.ts). Batches
   * in flight together may still arrive in either order; the platform keeps them by seq.
   */
  private turnToJson(refused: Queued[]): void {
    this.raw = false;
    this.filling = null;
    const rest = this.queue.slice(this.head);
    const arenas = new Set<Arena>();
    for (const q of [...refused, ...rest]) if (q.arena) arenas.add(q.arena);
    for (const q of rest) this.queuedWire += this.jsonify(q);
    for (const q of refused) {
      this.jsonify(q);
      this.queuedWire += q.wire; // take() counted it out of the queue
    }
    // Their bytes are in the JSON now; no raw batch of theirs is in flight. No arena is
    // used again: the spares go too.
    for (const a of arenas) this.releaseArena(a);
    this.spareArenas.length = 0;
    this.queue = [...refused, ...rest].sort((a, b) => a.seq - b.seq);
    this.head = 0;
    this.firstQueuedAt = Date.now() - this.o.flushMs;
    this.wake();
  }

  /** Turns a raw message into its JSON form; returns how much its wire size grew. */
  private jsonify(q: Queued): number {
    if (q.bytes === null) return 0;
    const j = toQueued(q.seq, { type: q.type, bytes: q.bytes });
    const grew = j.wire - q.wire;
    this.memBytes += j.mem - q.mem;
    Object.assign(q, j);
    return grew;
  }

  /** One raw message, its bytes copied into the filling arena (a new one when it is full). */
  private rawQueued(seq: number, type: string, bytes: Buffer): Queued {
    const head = headBytesFor(type);
    let a = this.filling;
    if (a === null || a.used + bytes.length > this.arenaBytes || a.headBytes + head > RAW_HEAD_ROOM - 64 || a.count >= this.o.maxBatchCount) {
      const buf = this.spareArenas.pop() ?? Buffer.allocUnsafe(RAW_HEAD_ROOM + this.arenaBytes);
      // The whole arena counts against the memory bound, however little it holds.
      this.memBytes += buf.length;
      a = this.filling = { buf, used: 0, headBytes: 0, count: 0, firstAt: Date.now() };
    }
    const at = RAW_HEAD_ROOM + a.used;
    bytes.copy(a.buf, at);
    a.used += bytes.length;
    a.headBytes += head;
    a.count++;
    return { seq, type, json: '', latin1: false, bytes: a.buf.subarray(at, at + bytes.length), arena: a, wire: bytes.length + head, mem: MSG_OVERHEAD };
  }

  private releaseArena(a: Arena): void {
    if (this.filling === a) this.filling = null;
    this.memBytes -= a.buf.length;
    // Enough spares that a steady stream never allocates one: a 1 MiB arena that lived
    // through a minor GC is only freed by a full one.
    if (this.raw && this.spareArenas.length <= this.o.maxInFlight) this.spareArenas.push(a.buf);
  }

  private take(): Queued[] {
    const batch: Queued[] = [];
    let bytes = 0;
    const arena = (this.queue[this.head] as Queued).arena;
    // A raw batch is one arena, whole (its size was bounded as it filled): it is sealed.
    if (arena !== null && this.filling === arena) this.filling = null;
    while (this.head < this.queue.length && batch.length < this.o.maxBatchCount) {
      const q = this.queue[this.head] as Queued;
      if (q.arena !== arena) break;
      if (arena === null && batch.length > 0 && bytes + q.wire > this.o.maxBatchBytes) break;
      batch.push(q);
      bytes += q.wire;
      this.head++;
    }
    this.queuedWire -= bytes;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else {
      if (this.head > 4096 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.firstQueuedAt = Date.now() - this.o.flushMs; // the rest is overdue already
    }
    return batch;
  }

  /** A flood: BULK_BYTES pushed within a window of BULK_WINDOW_MS, which starts again once it has passed. */
  private checkBulk(onBulk: () => () => void): void {
    const now = Date.now();
    const windowPassed = now - this.bulkSince > BULK_WINDOW_MS;
    if (!windowPassed && this.bulkBytes < BULK_BYTES) return;
    if (!windowPassed) this.bulkRelease = onBulk();
    this.bulkBytes = 0;
    this.bulkSince = now;
  }

  /** Drained or stopped: the flood is over (a new one is judged afresh). */
  private endBulk(): void {
    this.bulkRelease?.();
    this.bulkRelease = null;
    this.bulkBytes = 0;
    this.bulkSince = Date.now();
  }

  private maybeResume(): void {
    if (this.paused && this.memBytes <= this.o.lowWaterBytes) {
      this.paused = false;
      this.o.onResume?.();
    }
  }

  /** Split a message whose content is larger than a batch; truncate huge structured fields. */
  private fit(m: OutMessage): OutMessage[] {
    const max = this.o.maxBatchBytes - 1024;
    // Raw bytes that fit (the chunker's 64 KiB chunks; JSON escaping can make them up to
    // 6 times larger) stay bytes until serialised; anything larger is fitted as text.
    if (m.bytes !== undefined) {
      if (m.bytes.length * 6 <= max / 2) return [m];
      const { bytes, ...rest } = m;
      return this.fit({ ...rest, content: bytes.toString('utf8') });
    }
    let msg = m;
    for (const key of ['input', 'output'] as const) {
      if (msg[key] === undefined) continue;
      const json = JSON.stringify(msg[key]) ?? '';
      if (json.length > max / 2) {
        const buf = Buffer.from(json);
        if (buf.length > max / 2) {
          const cut = utf8Boundary(buf, Math.floor(max / 2));
          msg = { ...msg, [key]: `${buf.subarray(0, cut).toString('utf8')}… [truncated ${buf.length - cut} bytes]` };
        }
      }
    }
    const content = msg.content;
    if (content === undefined || content.length <= max / 4) return [msg];
    const buf = Buffer.from(content);
    if (buf.length <= max / 2) return [msg];
    const out: OutMessage[] = [];
    let rest = buf;
    const piece = Math.floor(max / 2);
    let first = true;
    while (rest.length > 0) {
      const cut = utf8Boundary(rest, piece);
      const part = rest.subarray(0, cut).toString('utf8');
      out.push(first ? { ...msg, content: part } : { type: msg.type, content: part });
      first = false;
      rest = rest.subarray(cut);
    }
    return out;
  }
}

/** An arena's request body: its head line written just before its bytes. */
function arenaBody(a: Arena, batch: readonly Queued[]): Buffer {
  const head = Buffer.from(outputHeadLine((batch[0] as Queued).seq, batch as readonly { type: string; bytes: Buffer }[]));
  const last = batch[batch.length - 1] as Queued;
  const end = (last.bytes as Buffer).byteOffset - a.buf.byteOffset + (last.bytes as Buffer).length;
  // Types with characters JSON escapes could outgrow the room: build the body apart.
  if (head.length > RAW_HEAD_ROOM) return encodeOutputBody((batch[0] as Queued).seq, batch as readonly { type: string; bytes: Buffer }[]);
  head.copy(a.buf, RAW_HEAD_ROOM - head.length);
  return a.buf.subarray(RAW_HEAD_ROOM - head.length, end);
}

/** One numbered message as the JSON that goes on the wire, with its exact size (plus its comma). */
function toQueued(seq: number, m: OutMessage): Queued {
  if (m.bytes !== undefined) {
    const content = jsonStringLatin1(m.bytes);
    if (content !== null) {
      const json = `{"seq":${seq},"type":${JSON.stringify(m.type)},"content":${content}}`;
      return { seq, type: m.type, json, latin1: true, bytes: null, arena: null, wire: json.length + 1, mem: json.length + 1 + MSG_OVERHEAD };
    }
  }
  const { bytes, ...rest } = m;
  const msg: TaskMessage = bytes !== undefined ? { seq, type: m.type, content: bytes.toString('utf8') } : { seq, ...rest };
  const json = JSON.stringify(msg);
  const wire = Buffer.byteLength(json) + 1;
  return { seq, type: m.type, json, latin1: false, bytes: null, arena: null, wire, mem: wire + MSG_OVERHEAD };
}

const OPEN = Buffer.from('{"messages":[');
const CLOSE = Buffer.from(']}');

/** {"messages":[m1,m2,…]} from the queued JSON of each message, written into `into` (a view of it). */
function batchBody(batch: Queued[], into: Buffer): Buffer {
  let n = 0;
  let need = OPEN.length + CLOSE.length;
  for (const q of batch) need += q.wire;
  // A batch holds at least one message, which may be larger than a slot (a huge event).
  const out = need - 1 <= into.length ? into : Buffer.allocUnsafe(need - 1);
  n += OPEN.copy(out, n);
  batch.forEach((q, i) => {
    if (i > 0) out[n++] = 0x2c; // ,
    n += out.write(q.json, n, q.latin1 ? 'latin1' : 'utf8');
  });
  n += CLOSE.copy(out, n);
  return out.subarray(0, n);
}
