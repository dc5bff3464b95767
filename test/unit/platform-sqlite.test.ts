// platform/sqlite.ts: a transaction's body awaits, yet no other request's statement runs
// inside it; and a statement on the database inside its own transaction fails with a
// clear error instead of hanging.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Database as Db } from '../../platform/sql.js';
import { openSqlite } from '../../platform/sqlite.js';
import { sqliteHere } from '../helpers/sqlite.js';


describe.skipIf(!sqliteHere)('the SQLite storage', () => {
  let dir: string;
  let db: Db;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-sqlite-'));
    db = openSqlite(dir).db;
  });
  afterEach(async () => {
    vi.useRealTimers();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A promise and the function that resolves it. */
  const latch = (): [Promise<void>, () => void] => {
    let open!: () => void;
    return [new Promise<void>((r) => (open = r)), () => open()];
  };
  const names = async () => (await db.all<{ name: string }>('SELECT name FROM workspace ORDER BY name')).map((r) => r.name);

  it("another request's statement waits for an open transaction and is not rolled back with it", async () => {
    const [bodyWaits, inside] = latch();
    const [gate, release] = latch();
    const tx = db.tx(async (t) => {
      await t.run("INSERT INTO workspace (id, name, created_at) VALUES ('w-tx', 'in-tx', 1)");
      inside();
      await gate; // the body awaits something else: other requests run meanwhile
      throw new Error('rolled back');
    });
    await bodyWaits;
    const outside = db.run("INSERT INTO workspace (id, name, created_at) VALUES ('w-out', 'outside', 2)");
    release();
    await expect(tx).rejects.toThrow('rolled back');
    await outside;
    expect(await names()).toEqual(['default', 'outside']);
  });

  it('a statement that waited for one transaction does not run inside the next one (which rolls back)', async () => {
    const [bodyWaits, inside] = latch();
    const [gate, release] = latch();
    const a = db.tx(async (t) => {
      await t.run("INSERT INTO workspace (id, name, created_at) VALUES ('w-a', 'a', 1)");
      inside();
      await gate;
    });
    await bodyWaits;
    // Queued in this order while A is open: a lone write, then transaction B, which fails.
    const lone = db.run("INSERT INTO workspace (id, name, created_at) VALUES ('w-lone', 'lone', 2)");
    const b = db.tx(async (t) => {
      await t.run("INSERT INTO workspace (id, name, created_at) VALUES ('w-b', 'b', 3)");
      throw new Error('b rolled back');
    });
    release();
    await a;
    await expect(b).rejects.toThrow('b rolled back');
    expect(await lone).toEqual({ changes: 1 });
    expect(await names()).toEqual(['a', 'default', 'lone']);
  });

  it('a statement on the database inside its own transaction fails instead of hanging', async () => {
    vi.useFakeTimers();
    const tx = db.tx(async () => {
      await db.get('SELECT 1 AS one'); // should have been t.get
    });
    const settled = expect(tx).rejects.toThrow(/inside its own transaction waits for itself/);
    await vi.advanceTimersByTimeAsync(10_000);
    await settled;
    vi.useRealTimers();
    expect(await db.get<{ one: number }>('SELECT 1 AS one')).toEqual({ one: 1 });
  });
});
