// The bytes of raw task output on an embedded (SQLite) platform: one file per task,
// `<data>/task-output/<task id>`, beside the database. The database keeps each
// message's row (task, seq, type) with its byte range in the file (content_at,
// content_len) and the task's committed end (task.output_bytes).
//
// Why not in the rows: SQLite writes a row's bytes twice (to the WAL, then a checkpoint
// copies them into the database file, with its fsyncs), and binding them as text cost
// more again. 256 MB of 64 KiB chunks took 0.78–1.0 s of CPU as TEXT rows without any
// checkpoint, 0.64 s as BLOBs, and 0.14 s written to a file (better-sqlite3, WAL,
// synchronous=NORMAL, 16 KiB pages); in the platform the inserts were ~45 % of its CPU
// for a task flooding output (bench/tasks.mjs profile). PostgreSQL replicas share no
// disk, so there the bytes stay in the rows.
//
// Crash safety without an fsync per batch: a batch is written at the task's committed
// end, then its rows and the new end are committed in the same transaction. A crash in
// between leaves bytes past the committed end, which the next batch overwrites; no row
// ever points at bytes that were not written first. Durability is the database's: with
// synchronous=NORMAL an OS crash may lose the last commits, and the page cache may lose
// the file's last bytes the same way (a short read gives what is there).
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, writevSync } from 'node:fs';
import { join } from 'node:path';

/** Task ids are UUIDs; anything else never becomes a path. */
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

export class TaskOutputFiles {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The platform's data directory is ours (main.ts); this one must be a directory of
    // ours too, not a link somebody left there.
    const st = lstatSync(dir);
    if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new Error(`${dir} belongs to uid ${st.uid}, not to this process`);
  }

  private path(taskId: string): string {
    if (!SAFE_ID.test(taskId)) throw new Error(`not a task id: ${JSON.stringify(taskId.slice(0, 40))}`);
    return join(this.dir, taskId);
  }

  /** Writes `parts` one after the other from byte `at` of the task's file (created 0600 if new). */
  write(taskId: string, at: number, parts: readonly Buffer[]): void {
    const fd = openSync(this.path(taskId), constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      let pos = at;
      let rest = parts.filter((p) => p.length > 0);
      while (rest.length > 0) {
        let n = writevSync(fd, rest, pos);
        pos += n;
        // A short write: go on from where it stopped.
        while (rest.length > 0 && n >= (rest[0] as Buffer).length) n -= (rest.shift() as Buffer).length;
        if (n > 0) rest[0] = (rest[0] as Buffer).subarray(n);
      }
    } finally {
      closeSync(fd);
    }
  }

  /** The bytes of each range of the task's file; a range past its end gives what is there. */
  read(taskId: string, ranges: readonly { at: number; len: number }[]): Buffer[] {
    if (ranges.length === 0) return [];
    let fd: number;
    try {
      fd = openSync(this.path(taskId), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return ranges.map(() => Buffer.alloc(0));
      throw e;
    }
    try {
      const size = fstatSync(fd).size;
      return ranges.map(({ at, len }) => {
        const n = Math.max(0, Math.min(len, size - at));
        const buf = Buffer.allocUnsafe(n);
        let got = 0;
        while (got < n) {
          const r = readSync(fd, buf, got, n - got, at + got);
          if (r === 0) break;
          got += r;
        }
        return buf.subarray(0, got);
      });
    } finally {
      closeSync(fd);
    }
  }
}
