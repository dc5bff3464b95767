// The embedded implementation of the storage interface (platform/sql.ts): one SQLite
// file under --data through better-sqlite3, the default, with nothing to set up.
//
// better-sqlite3 is synchronous: a statement runs to completion on the one JS thread,
// so a lone statement needs no lock. A transaction is different once its body awaits:
// another request's statement would run inside it (one connection) and commit or roll
// back with it. So a transaction holds a lock from BEGIN to COMMIT, and a statement on
// the database while one is open takes that lock in its turn and runs holding it; the
// lock is free almost always (a transaction's awaits resolve at once), so the wait
// costs nothing in the common case.
import type { Statement } from 'better-sqlite3';
import { Checkpointer, type CheckpointStats } from './checkpointer.js';
import { openSqliteFile, WAL_LIMIT_BYTES, type SqliteHandle } from './db.js';
import type { Database, Notice, OpenedDatabase, Sql, SqlParams } from './sql.js';

/**
 * How long a statement on the database waits for an open transaction before it gives
 * up. A transaction's body only awaits SQLite here, so it ends within milliseconds; one
 * still open after this long is waiting for the statement itself (a statement on the
 * database inside its own transaction: a bug), and an error beats a hang. Not an
 * AsyncLocalStorage check: that turns on promise hooks for the whole process, ~10 % of
 * the heartbeat route's throughput (bench/heartbeat-load.mjs, 3 runs each).
 */
const TURN_TIMEOUT_MS = 10_000;

export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  /** Prepared once per SQL text, with whether it only reads (asked of SQLite once). */
  private readonly statements = new Map<string, { st: Statement; reads: boolean }>();
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  private readonly subscribers: ((n: Notice) => void)[] = [];
  /** The statements of an open transaction: straight to the file, no lock (it holds it). */
  private readonly inTx: Sql;

  private readonly checkpointer: Checkpointer;
  private loneWrites = 0;

  constructor(
    private readonly raw: SqliteHandle,
    maxWalBytes: number,
    o: SqliteOptions = {},
  ) {
    this.checkpointer = new Checkpointer({ file: raw.name, maxWalBytes, ...(o.maxHoldMs === undefined ? {} : { maxHoldMs: o.maxHoldMs }), ...(o.log ? { log: o.log } : {}) }, () => {
      // No worker: SQLite's own checkpoints inside COMMIT again (slower, never unbounded).
      if (raw.open) raw.pragma('wal_autocheckpoint = 1000');
    });
    this.inTx = {
      dialect: 'sqlite',
      all: async <T>(sql: string, params?: SqlParams) => this.exec(this.statement(sql), params, 'all') as T[],
      get: async <T>(sql: string, params?: SqlParams) => this.exec(this.statement(sql), params, 'get') as T | undefined,
      run: async (sql: string, params?: SqlParams) => this.exec(this.statement(sql), params, 'run') as { changes: number },
    };
  }

  all<T>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.lone(sql, params, 'all') as Promise<T[]>;
  }

  get<T>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.lone(sql, params, 'get') as Promise<T | undefined>;
  }

  run(sql: string, params?: SqlParams): Promise<{ changes: number }> {
    return this.lone(sql, params, 'run') as Promise<{ changes: number }>;
  }

  /**
   * A statement on the database, outside any transaction. With none open it runs at
   * once (better-sqlite3 is synchronous: nothing interleaves). With one open it takes
   * the lock in its turn and runs holding it: waiting for the lock and then letting go
   * before running handed the lock to the next transaction, whose BEGIN came first, so
   * the statement ran inside that transaction and was rolled back with it (a write that
   * had answered success was lost).
   */
  private async lone(sql: string, params: SqlParams | undefined, how: 'all' | 'get' | 'run'): Promise<unknown> {
    const s = this.statement(sql);
    const held = how === 'run' || !s.reads ? this.checkpointer.writable() : undefined;
    if (held) await held;
    if (!this.busy) return this.exec(s, params, how);
    await this.acquire(TURN_TIMEOUT_MS);
    try {
      return this.exec(s, params, how);
    } finally {
      this.release();
    }
  }

  async tx<T>(fn: (t: Sql) => Promise<T>): Promise<T> {
    // Past the WAL's bound, a transaction waits before it takes the lock; once in, it
    // runs (the hold bounds the WAL, it does not need every writer stopped at once).
    const held = this.checkpointer.writable();
    if (held) await held;
    await this.acquire();
    try {
      // IMMEDIATE: the write lock at BEGIN, so a transaction never fails half-way on
      // SQLITE_BUSY upgrading a read lock.
      this.raw.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn(this.inTx);
        this.raw.exec('COMMIT');
        this.checkpointer.wrote(true);
        return out;
      } catch (e) {
        if (this.raw.inTransaction) this.raw.exec('ROLLBACK');
        throw e;
      }
    } finally {
      this.release();
    }
  }

  /** One process owns the file: every job is this process's to run. */
  exclusive<T>(_name: string, fn: (t: Sql) => Promise<T>): Promise<T | undefined> {
    return this.tx(fn);
  }

  async publish(n: Notice): Promise<void> {
    for (const fn of this.subscribers) fn(n);
  }

  subscribe(fn: (n: Notice) => void): void {
    this.subscribers.push(fn);
  }

  /**
   * Waits for the open transaction, stops the checkpointer (its connection closes), then
   * closes the serving connection: the last one, so SQLite copies the WAL into the file
   * and deletes it.
   */
  async close(): Promise<void> {
    await this.acquire();
    this.lastCheckpoints = await this.checkpointer.close();
    this.raw.close();
  }

  /** What the checkpointer did, once closed (null before, or if it failed): for tests. */
  lastCheckpoints: CheckpointStats | null = null;

  private statement(sql: string): { st: Statement; reads: boolean } {
    let s = this.statements.get(sql);
    if (!s) {
      const st = this.raw.prepare(sql);
      s = { st, reads: st.readonly };
      this.statements.set(sql, s);
    }
    return s;
  }

  /** Runs one statement now; params are positional (array) or named (object). */
  private exec({ st, reads }: { st: Statement; reads: boolean }, params: SqlParams | undefined, how: 'all' | 'get' | 'run'): unknown {
    const args = params === undefined ? [] : Array.isArray(params) ? params : [params];
    const out = how === 'run' ? { changes: st.run(...args).changes } : how === 'all' ? st.all(...args) : st.get(...args);
    // A write outside a transaction is committed now; inside one, COMMIT tells. The WAL's
    // size is looked at after every transaction and every 64th lone write (those are small:
    // a heartbeat's UPDATE), not after each (an fstat per heartbeat).
    if (!reads && !this.raw.inTransaction) this.checkpointer.wrote((++this.loneWrites & 63) === 0);
    return out;
  }

  /** The lock, in arrival order; with `timeoutMs`, an error once that has passed (and no place kept in the queue). */
  private acquire(timeoutMs?: number): Promise<void> {
    if (!this.busy) {
      this.busy = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const next = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.waiting.push(next);
      if (timeoutMs === undefined) return;
      timer = setTimeout(() => {
        const i = this.waiting.indexOf(next);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error(`a statement waited ${timeoutMs} ms for a transaction to end: a statement on the database inside its own transaction waits for itself (use the transaction handle)`));
      }, timeoutMs);
    });
  }

  /** Hands the lock to the next waiter in order, or frees it. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy = false;
  }
}

export interface SqliteOptions {
  /** The WAL's bound (platform/checkpointer.ts); tests make it small. */
  maxWalBytes?: number;
  /** How long writes may wait for the WAL to be copied before they go on (platform/checkpointer.ts). */
  maxHoldMs?: number;
  /** Problems worth a line in the platform's log. */
  log?: (line: string) => void;
}

export function openSqlite(dataDir: string, o: SqliteOptions = {}): OpenedDatabase & { db: SqliteDatabase } {
  const maxWalBytes = o.maxWalBytes ?? WAL_LIMIT_BYTES;
  const { db, defaultWorkspaceId } = openSqliteFile(dataDir, maxWalBytes);
  return { db: new SqliteDatabase(db, maxWalBytes, o), defaultWorkspaceId };
}
