// platform/checkpointer.ts through the SQLite storage: checkpoints run on the worker's
// connection, the WAL stays bounded under a writer that never pauses, and a close leaves
// every row in the database file with no WAL behind.
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Checkpointer } from '../../platform/checkpointer.js';
import { openSqlite } from '../../platform/sqlite.js';
import { sqliteHere } from '../helpers/sqlite.js';


const ROW = 'x'.repeat(64 * 1024);

describe.skipIf(!sqliteHere)('the SQLite checkpointer', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-ckpt-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const walSize = () => (existsSync(join(dir, 'platform.db-wal')) ? statSync(join(dir, 'platform.db-wal')).size : 0);

  it('keeps the WAL bounded under a writer that never pauses, and loses no row', async () => {
    const bound = 1024 * 1024;
    const { db } = openSqlite(dir, { maxWalBytes: bound });
    await db.run('CREATE TABLE out (id INTEGER PRIMARY KEY, content TEXT NOT NULL)');
    const rows = 1024; // 64 MiB: 64 × the bound
    let maxWal = 0;
    // Back to back: each transaction's awaits are microtasks, so the checkpointer never
    // sees a quiet moment in which a PASSIVE pass alone could catch up.
    for (let i = 0; i < rows; i += 4) {
      await db.tx(async (t) => {
        for (let k = 0; k < 4; k++) await t.run('INSERT INTO out (content) VALUES (?)', [ROW]);
      });
      maxWal = Math.max(maxWal, walSize());
    }
    expect(await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM out')).toEqual({ n: rows });
    await db.close();
    const stats = db.lastCheckpoints!;
    expect(stats.passive).toBeGreaterThan(0);
    expect(stats.holds).toBeGreaterThan(0);
    // Without the hold the WAL holds everything written (64 MiB). With it, the WAL passes
    // its bound by at most the transaction that crossed it (256 KiB here) before it is
    // copied whole and started over.
    expect(maxWal).toBeLessThan(2 * bound);
  });

  it('a reader that pins the WAL does not stop the writes: the hold gives up, says why, and holds again once the WAL is copied', async () => {
    const bound = 1024 * 1024;
    const lines: string[] = [];
    const { db } = openSqlite(dir, { maxWalBytes: bound, maxHoldMs: 200, log: (l) => void lines.push(l) });
    await db.run('CREATE TABLE out (id INTEGER PRIMARY KEY, content TEXT NOT NULL)');
    await db.run('INSERT INTO out (content) VALUES (?)', ['first']);
    // An operator's sqlite3 shell inside BEGIN: its snapshot pins every frame written after it.
    const reader = new Database(join(dir, 'platform.db'));
    reader.exec('BEGIN');
    reader.prepare('SELECT COUNT(*) FROM out').get();
    const write = async (n: number) => {
      for (let i = 0; i < n; i += 4) {
        await db.tx(async (t) => {
          for (let k = 0; k < 4; k++) await t.run('INSERT INTO out (content) VALUES (?)', [ROW]);
        });
      }
    };
    await write(64); // 4 MiB past a 1 MiB bound: without the deadline this never returns
    expect(lines.join('\n')).toMatch(/another connection holds a read open/);
    reader.exec('COMMIT');
    reader.close();
    const grown = walSize();
    expect(grown).toBeGreaterThan(2 * bound); // past its bound while pinned, as before the bound existed
    // The read ended: a pass copies past the pinned frames, holds start again, and the
    // WAL is copied whole, started over and trimmed back under the bound. Writes go on
    // (with a breath for the worker) until that shows in the file's size.
    let wrote = 0;
    while (walSize() >= 2 * bound) {
      await write(4);
      wrote += 4;
      await new Promise((r) => setTimeout(r, 10));
      if (wrote > 4096) throw new Error(`the WAL never came back under its bound (${walSize()} bytes after ${wrote} more rows)`);
    }
    await db.close();
    const stats = db.lastCheckpoints!;
    expect(stats.givenUp).toBeGreaterThanOrEqual(1);
    expect(stats.holds).toBeGreaterThan(stats.givenUp);
  }, 60_000);

  it('on close, every row is in the database file and the WAL is gone', async () => {
    const { db } = openSqlite(dir);
    await db.run('CREATE TABLE out (id INTEGER PRIMARY KEY, content TEXT NOT NULL)');
    for (let i = 0; i < 40; i++) await db.run('INSERT INTO out (content) VALUES (?)', [ROW]);
    expect(walSize()).toBeGreaterThan(0);
    await db.close();
    expect(existsSync(join(dir, 'platform.db-wal'))).toBe(false);
    // Read-only, without the WAL: the rows are in the main file.
    const raw = new Database(join(dir, 'platform.db'), { readonly: true });
    try {
      expect(raw.prepare('SELECT COUNT(*) AS n, SUM(length(content)) AS bytes FROM out').get()).toEqual({ n: 40, bytes: 40 * ROW.length });
    } finally {
      raw.close();
    }
  });

  it('the serving connection runs no checkpoint of its own while the worker does', async () => {
    const { db } = openSqlite(dir);
    expect(await db.get('PRAGMA wal_autocheckpoint')).toEqual({ wal_autocheckpoint: 0 });
    await db.close();
  });

  it('reports a worker that cannot open the file, so the caller can checkpoint inline again', async () => {
    const failures: Error[] = [];
    const c = new Checkpointer({ file: join(dir, 'missing', 'x.db') }, (e) => failures.push(e));
    expect(await c.close()).toBeNull();
    expect(failures).toHaveLength(1);
    expect(c.failed?.message).toMatch(/directory does not exist|unable to open/);
  });
});
