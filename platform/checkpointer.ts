// WAL checkpoints of the SQLite file, off the request path: a worker thread with its own
// connection copies the WAL into the database file while the serving connection (which
// has autocheckpoint off) keeps answering requests.
//
// Why: SQLite runs an automatic checkpoint inside the COMMIT that crosses 1000 WAL pages,
// on the thread that committed: the copy WAL → database and its two fsyncs stalled the
// event loop. Storing 256 MB of 64 KiB rows ran at 120 MB/s with inline checkpoints and
// 466 MB/s with none (better-sqlite3, WAL, synchronous=NORMAL, 16 KiB pages), so the
// platform stored task output at the checkpoints' pace.
//
// Durability is unchanged: a commit is in the WAL (synchronous=NORMAL: it survives a
// process crash, an OS crash may lose the last transactions) whether or not it has been
// checkpointed; a checkpoint syncs the WAL before copying and the database after.
//
// The WAL is bounded. A PASSIVE checkpoint never blocks the writer, but under a constant
// writer it never catches up either (frames are appended while it copies), and a WAL is
// only reused from its start once a checkpoint has copied all of it: PASSIVE alone let
// the file grow to the size of everything written. So the serving connection looks at
// the WAL's size after each commit (an fstat), and past `maxWalBytes` it raises HOLD:
// it starts no new write (reads go on; a write waits on a promise, the event loop stays
// free) until the worker has copied the whole WAL; the next write then starts the WAL
// over, and `journal_size_limit` trims the file back to the bound. (The worker judging
// the size after each pass instead let the WAL reach many times the bound: a pass takes
// as long as its fsyncs, and the writer goes on meanwhile.) Not SQLite's RESTART
// checkpoint: that takes the write lock from the other thread, and the serving
// connection's BEGIN IMMEDIATE then failed with SQLITE_BUSY after ~100 ms, without
// waiting out its busy timeout.
//
// A hold has a deadline (`maxHoldMs`). Another connection's open read (an operator's
// sqlite3 shell inside BEGIN, a backup tool) pins the frames written after it began: no
// pass can copy them until it ends, and a hold without a deadline stopped every write
// of the platform for as long as the reader stayed. Past the deadline the writes go on,
// the WAL grows past its bound (as it did before there was a bound), one line says why,
// and no new hold starts until a pass copies past the pinned frames (the read ended). While held, a pass
// that did not finish is retried after a growing pause (1 → 100 ms), not back to back
// (that spun a core for as long as the reader stayed).
//
// The serving connection tells the worker that it wrote through a SharedArrayBuffer
// (an atomic add, and a futex wake only when the worker sleeps with nothing to do), so a
// request pays nanoseconds, not a message.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface CheckpointerOptions {
  /** The database file (its WAL is `${file}-wal`). */
  file: string;
  /** A PASSIVE pass at most this often while writes come in (ms). */
  intervalMs?: number;
  /** WAL size past which writes wait for a pass to copy it whole, so the next one starts it over (bytes). */
  maxWalBytes?: number;
  /** How long writes may be held before they go on regardless (ms). */
  maxHoldMs?: number;
  /** Problems worth a line in the platform's log (never a secret). */
  log?: (line: string) => void;
}

export interface CheckpointStats {
  /** PASSIVE passes run. */
  passive: number;
  /** Times writes were held because the WAL was past its bound (each ends with the WAL copied whole). */
  holds: number;
  /** Largest WAL seen after a pass (bytes, frames × page size). */
  maxWalBytes: number;
  /** Holds given up at their deadline (a reader pinned the WAL). */
  givenUp: number;
}

// Indexes into the shared Int32Array.
const WRITES = 0; // bumped by the serving connection after each write
const SLEEPING = 1; // 1 while the worker waits with nothing to do (a write must wake it)
const STOP = 2; // set by close()
const HOLD = 3; // 1 while new writes must wait (the WAL is past its bound)
const STUCK = 4; // 1 after a hold was given up, until a pass copies the whole WAL again
const SLOTS = 5;

// The worker, as CommonJS source (a worker from a string: the bundle needs no extra file).
// It blocks in Atomics.wait between passes: it has no event loop work of its own.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const sig = new Int32Array(workerData.signal);
const { WRITES, SLEEPING, STOP, HOLD, STUCK } = workerData.slots;
const db = new Database(workerData.file);
// A checkpoint takes no lock a writer holds; this is for the WAL's own locks, held for moments.
db.pragma('busy_timeout = 10000');
const pageSize = db.pragma('page_size', { simple: true });
const stats = { passive: 0, holds: 0, maxWalBytes: 0, givenUp: 0 };
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let seen = Atomics.load(sig, WRITES);
let last = 0;
let holding = false;
let holdSince = 0;
let pause = 0;
// Frames copied when a hold was given up: a pass that copies past it means the read
// that pinned the WAL has ended (or moved on), so holds may start again.
let pinnedAt = -1;
try {
  for (;;) {
    if (Atomics.load(sig, STOP)) break;
    const held = Atomics.load(sig, HOLD) === 1;
    if (held && !holding) {
      stats.holds++;
      holdSince = Date.now();
      pause = 0;
    }
    holding = held;
    if (!held && Atomics.load(sig, WRITES) === seen) {
      // Nothing new since the last pass: sleep until a write (or close) wakes us. The
      // waker sets SLEEPING back to 0 before it notifies, so a wake that lands between
      // the checks and the wait is not lost (the wait sees 0 and returns).
      Atomics.store(sig, SLEEPING, 1);
      if (Atomics.load(sig, WRITES) === seen && !Atomics.load(sig, HOLD) && !Atomics.load(sig, STOP)) Atomics.wait(sig, SLEEPING, 1);
      Atomics.store(sig, SLEEPING, 0);
      continue;
    }
    const now = Date.now();
    if (!held && now - last < workerData.intervalMs) {
      // Woken early by a hold or close (both notify STOP's slot).
      Atomics.wait(sig, STOP, 0, workerData.intervalMs - (now - last));
      continue;
    }
    seen = Atomics.load(sig, WRITES);
    last = now;
    const r = passive.get();
    stats.passive++;
    if (r.log * pageSize > stats.maxWalBytes) stats.maxWalBytes = r.log * pageSize;
    const whole = r.busy === 0 && r.log === r.checkpointed;
    if (pinnedAt >= 0 && (whole || r.checkpointed > pinnedAt)) {
      pinnedAt = -1;
      Atomics.store(sig, STUCK, 0);
    }
    if (!held) continue;
    // Held: done once a pass copied every frame and no write came in during it (a
    // transaction begun before the hold may still have been committing).
    if (whole && Atomics.load(sig, WRITES) === seen) {
      Atomics.store(sig, HOLD, 0);
      parentPort.postMessage({ resume: true });
      continue;
    }
    if (Date.now() - holdSince >= workerData.maxHoldMs) {
      stats.givenUp++;
      pinnedAt = r.checkpointed;
      Atomics.store(sig, STUCK, 1);
      Atomics.store(sig, HOLD, 0);
      parentPort.postMessage({ resume: true, stuck: { heldMs: Date.now() - holdSince, walBytes: r.log * pageSize, copiedBytes: r.checkpointed * pageSize } });
      continue;
    }
    pause = Math.min(100, Math.max(1, pause * 2));
    Atomics.wait(sig, STOP, 0, pause);
  }
} finally {
  // Closed first: the final checkpoint is SQLite's own, when the serving connection
  // closes as the last one (it copies the WAL whole and deletes it).
  db.close();
  Atomics.store(sig, HOLD, 0);
  parentPort.postMessage({ resume: true, stats });
}
`;

export class Checkpointer {
  private readonly sig: Int32Array;
  private readonly worker: Worker;
  private readonly done: Promise<CheckpointStats | null>;
  private failure: Error | null = null;
  private held: (() => void)[] = [];
  private readonly walFile: string;
  private readonly maxWalBytes: number;
  private walFd: number | null = null;

  /** `onFailure`: the worker could not run (the caller turns inline checkpoints back on). */
  constructor(o: CheckpointerOptions, onFailure: (err: Error) => void) {
    this.sig = new Int32Array(new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
    this.walFile = `${o.file}-wal`;
    this.maxWalBytes = o.maxWalBytes ?? 64 * 1024 * 1024;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        file: o.file,
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        signal: this.sig.buffer,
        slots: { WRITES, SLEEPING, STOP, HOLD, STUCK },
        intervalMs: o.intervalMs ?? 100,
        maxHoldMs: o.maxHoldMs ?? 5000,
      },
      // Its own process.env copy is not needed; stdout/stderr go to the platform's.
      env: {},
    });
    // Not what keeps the platform alive: the server is.
    this.worker.unref();
    this.done = new Promise((resolve) => {
      let stats: CheckpointStats | null = null;
      this.worker.on('message', (m: { resume?: boolean; stats?: CheckpointStats; stuck?: { heldMs: number; walBytes: number; copiedBytes: number } }) => {
        if (m.stats) stats = m.stats;
        if (m.stuck) {
          const mb = (b: number) => (b / 1024 / 1024).toFixed(0);
          o.log?.(
            `agentd-platform: the SQLite WAL (${this.walFile}) is past its ${mb(this.maxWalBytes)} MiB bound and a checkpoint could copy only ${mb(m.stuck.copiedBytes)} of its ${mb(m.stuck.walBytes)} MiB for ${(m.stuck.heldMs / 1000).toFixed(1)} s: another connection holds a read open (an sqlite3 shell inside BEGIN, a backup). Writes go on and the WAL grows until that read ends; find it with: fuser ${this.walFile}`,
          );
        }
        if (m.resume) this.resume();
      });
      this.worker.on('error', (err) => {
        this.failure = err;
        onFailure(err);
      });
      this.worker.on('exit', () => {
        // Never leave writers waiting on a worker that is gone.
        Atomics.store(this.sig, HOLD, 0);
        this.resume();
        resolve(stats);
      });
    });
  }

  /**
   * Resolves at once unless the WAL is past its bound; then when the worker has copied it
   * whole. The serving connection awaits this before each write.
   */
  writable(): Promise<void> | undefined {
    if (Atomics.load(this.sig, HOLD) === 0) return undefined;
    return new Promise((resolve) => this.held.push(resolve));
  }

  private resume(): void {
    const waiting = this.held;
    this.held = [];
    for (const r of waiting) r();
  }

  /**
   * The serving connection committed a write: a pass will follow within intervalMs. With
   * `measure`, the WAL's size is checked against the bound too (one fstat).
   */
  wrote(measure: boolean): void {
    Atomics.add(this.sig, WRITES, 1);
    if (Atomics.compareExchange(this.sig, SLEEPING, 1, 0) === 1) Atomics.notify(this.sig, SLEEPING);
    if (measure && this.failure === null && Atomics.load(this.sig, STUCK) === 0 && this.walBytes() > this.maxWalBytes && Atomics.compareExchange(this.sig, HOLD, 0, 1) === 0) {
      Atomics.store(this.sig, SLEEPING, 0);
      Atomics.notify(this.sig, SLEEPING);
      Atomics.notify(this.sig, STOP);
    }
  }

  /** The WAL file's size (0 before it exists). Kept open: SQLite keeps one WAL file while connected. */
  private walBytes(): number {
    if (this.walFd === null) {
      try {
        this.walFd = openSync(this.walFile, 'r');
      } catch {
        return 0;
      }
    }
    return fstatSync(this.walFd).size;
  }

  /** Set when the worker failed (inline checkpoints are back on). */
  get failed(): Error | null {
    return this.failure;
  }

  /** Stops the worker and closes its connection; resolves with its counts (null if it failed). */
  async close(): Promise<CheckpointStats | null> {
    this.worker.ref(); // the final checkpoint is awaited: keep the process up until it is done
    Atomics.store(this.sig, STOP, 1);
    Atomics.store(this.sig, SLEEPING, 0);
    Atomics.notify(this.sig, SLEEPING);
    Atomics.notify(this.sig, STOP);
    const stats = await this.done;
    if (this.walFd !== null) closeSync(this.walFd);
    this.walFd = null;
    return stats;
  }
}
