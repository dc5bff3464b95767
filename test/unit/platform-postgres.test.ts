// platform/postgres.ts against a real PostgreSQL server (the run's throwaway cluster, or
// AGENTD_TEST_POSTGRES_URL), a fresh database per test: migrations under two replicas
// starting at once, placeholders, transactions, notices between two Database objects
// (two replicas), run-once jobs, numbers, and the errors a person reads.
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentdError, ConfigError } from '../../core/errors.js';
import { POSTGRES_MIGRATIONS } from '../../platform/migrations/postgres.js';
import { redactUrl } from '../../platform/database-url.js';
import { connectError, openPostgres } from '../../platform/postgres.js';
import type { Database, Notice, OpenedDatabase } from '../../platform/sql.js';
import { ROOT } from '../helpers/bin.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../helpers/postgres.js';

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const notice = (task_id: string): Notice => ({ kind: 'task_available', workspace_id: 'ws', runtime_name: 'command', task_id });

describe('the PostgreSQL migrations', () => {
  it('lists every numbered file of platform/migrations/postgres/, in order, once', () => {
    const files = readdirSync(join(ROOT, 'platform', 'migrations', 'postgres'))
      .filter((f) => f.endsWith('.sql'))
      .sort();
    expect(files.every((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))).toBe(true);
    expect(POSTGRES_MIGRATIONS.map((m) => `${m.name}.sql`)).toEqual(files);
    expect(POSTGRES_MIGRATIONS.map((m) => m.version)).toEqual(files.map((f) => Number(f.slice(0, 4))));
    expect(POSTGRES_MIGRATIONS.every((m) => /\b(CREATE|ALTER) TABLE\b/.test(m.sql))).toBe(true);
  });
});

describe('openPostgres errors', () => {
  const secret = 'hunter2-s3cret';
  const shown = (e: unknown): string => {
    const err = e as AgentdError;
    return `${err.message}\n${err.hint ?? ''}\n${err.stack ?? ''}`;
  };

  it('refuses a malformed URL without echoing it', async () => {
    for (const url of [`not a url ${secret}`, `mysql://u:${secret}@127.0.0.1/x`, `postgres://u:${secret}@/x`]) {
      const e = await openPostgres(url).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConfigError);
      expect(shown(e)).not.toContain(secret);
      expect((e as ConfigError).hint).toMatch(/--database postgres:\/\/USER:PASSWORD@HOST:PORT\/DATABASE/);
    }
  });

  it('says the server cannot be reached, names the next command, and hides the password', async () => {
    const port = await freePort(); // nothing listens there
    const e = await openPostgres(`postgres://agentd:${secret}@127.0.0.1:${port}/agentd`).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AgentdError);
    const err = e as AgentdError;
    expect(err.code).toBe('AGENTD_DATABASE_UNAVAILABLE');
    expect(err.exitCode).toBe(69);
    expect(err.message).toContain(`cannot reach PostgreSQL at 127.0.0.1:${port}`);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).toContain('postgres://agentd:***@127.0.0.1');
    expect(err.hint).toBe(`Check that the server is up and reachable from here: pg_isready -h 127.0.0.1 -p ${port}`);
    expect(shown(e)).not.toContain(secret);
  });

  // The test cluster trusts every local login, so a refused one is made here: the error
  // pg gives for a wrong password, and a server that quotes the password back.
  it('says a login was refused, with the psql to try, and scrubs the password from the server’s words', () => {
    const url = new URL(`postgres://agentd:${secret}@db.internal:5433/fleet`);
    const refused = Object.assign(new Error(`password authentication failed for user "agentd" (tried ${secret})`), { code: '28P01' });
    const e = connectError(refused, url, secret);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe('PostgreSQL at db.internal:5433 refused user agentd: password authentication failed for user "agentd" (tried ***)');
    expect(e.hint).toBe(`Check the user and password in --database, then try them with: psql "postgres://agentd@db.internal:5433/fleet" -c 'SELECT 1'`);
    expect(shown(e)).not.toContain(secret);
  });

  it('redacts a URL for display', () => {
    expect(redactUrl(`postgres://u:${secret}@db:5433/x?sslmode=require`)).toBe('postgres://u:***@db:5433/x?sslmode=require');
    expect(redactUrl('postgres://u@db/x')).toBe('postgres://u@db/x');
    expect(redactUrl(`::${secret}`)).toBe('(not a URL)');
  });
});

describePostgres('openPostgres on a real server', () => {
  let t: TestDatabase;
  const opened: OpenedDatabase[] = [];
  const open = async (url = t.url, log?: (l: string) => void): Promise<Database> => {
    const o = await openPostgres(url, log ? { log } : {});
    opened.push(o);
    return o.db;
  };
  beforeEach(async () => {
    t = await createTestDatabase();
  });
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.db.close();
    await t.drop();
  });

  it('applies the migrations once when two replicas open the new database at the same moment', async () => {
    const [a, b] = await Promise.all([openPostgres(t.url), openPostgres(t.url)]);
    opened.push(a, b);
    expect(a.defaultWorkspaceId).toBe(b.defaultWorkspaceId);
    const rows = await a.db.all<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
    expect(rows).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    expect(await a.db.all('SELECT id, name FROM workspace')).toEqual([{ id: a.defaultWorkspaceId, name: 'default' }]);
    // A third start later finds everything done and the same workspace.
    const c = await openPostgres(t.url);
    opened.push(c);
    expect(c.defaultWorkspaceId).toBe(a.defaultWorkspaceId);
    expect(await c.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM schema_migrations')).toEqual({ n: POSTGRES_MIGRATIONS.length });
  });

  it('has every column the SQLite schema has, under the same names', async () => {
    const db = await open();
    const cols = await db.all<{ table_name: string; column_name: string }>(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name IN ('task', 'install_token', 'daemon')",
    );
    const of = (table: string) => cols.filter((c) => c.table_name === table).map((c) => c.column_name);
    expect(of('task')).toEqual(expect.arrayContaining(['seq', 'message_count', 'agent_id', 'chat_session_id', 'chat_message', 'lease_until', 'wait_reason']));
    expect(of('install_token')).toEqual(expect.arrayContaining(['uses', 'uses_left', 'ephemeral']));
    expect(of('daemon')).toContain('ephemeral');
    const idx = await db.all<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'task' ORDER BY indexname");
    expect(idx.map((i) => i.indexname)).toEqual(expect.arrayContaining(['task_by_chat_session', 'task_queue', 'task_by_runtime']));
  });

  it('refuses a database a newer platform migrated', async () => {
    const db = await open();
    await db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future', 0)");
    const e = await openPostgres(t.url).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(/migrated by a newer agentd-platform \(schema version 9999/);
  });

  it('says which database is missing and how to create it', async () => {
    const u = new URL(t.url);
    u.pathname = '/agentd_no_such_db';
    const e = await openPostgres(u.toString()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toContain('has no database agentd_no_such_db');
    expect((e as ConfigError).hint).toMatch(/^Create it \(createdb -h 127\.0\.0\.1 -p \d+ -U postgres agentd_no_such_db\)/);
  });

  it('says what to grant when the user may not create the tables', async () => {
    const role = `agentd_nopriv_${t.name.slice(-6)}`;
    const su = new pg.Client({ connectionString: t.url });
    await su.connect();
    try {
      await su.query(`CREATE ROLE ${role} LOGIN`);
      const u = new URL(t.url);
      u.username = role;
      const e = await openPostgres(u.toString()).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).message).toBe(`PostgreSQL user ${role} may not create the platform's tables in database ${t.name}: permission denied for schema public`);
      expect((e as ConfigError).hint).toContain(`ALTER DATABASE "${t.name}" OWNER TO "${role}"`);
    } finally {
      await su.query(`DROP ROLE IF EXISTS ${role}`);
      await su.end();
    }
  });

  it('translates ? and @name placeholders, the same name used twice', async () => {
    const db = await open();
    expect(db.dialect).toBe('postgres');
    await db.run('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT, n BIGINT)');
    expect(await db.run('INSERT INTO kv (k, v, n) VALUES (?, ?, ?)', ['a', 'x', 1])).toEqual({ changes: 1 });
    expect(await db.run('INSERT INTO kv (k, v, n) VALUES (@k, @v, @n)', { k: 'b', v: 'y', n: 2 })).toEqual({ changes: 1 });
    expect(await db.get('SELECT k, v FROM kv WHERE k = @k OR v = @k ORDER BY k', { k: 'b' })).toEqual({ k: 'b', v: 'y' });
    expect(await db.all('SELECT k FROM kv WHERE n >= ? ORDER BY k', [1])).toEqual([{ k: 'a' }, { k: 'b' }]);
    expect(await db.run('UPDATE kv SET n = n + 1')).toEqual({ changes: 2 });
    expect(await db.get('SELECT k FROM kv WHERE k = ?', ['zz'])).toBeUndefined();
    await expect(db.get('SELECT k FROM kv WHERE k = @k', {})).rejects.toThrow(/no value for @k/);
  });

  it('parses INT8 and NUMERIC answers as numbers on its own pool, leaving pg’s global parsers alone', async () => {
    const db = await open();
    const at = 1_764_590_400_123; // a millisecond timestamp, past 2^32
    await db.run('INSERT INTO workspace (id, name, created_at) VALUES (?, ?, ?)', ['w2', 'two', at]);
    expect(await db.get('SELECT created_at FROM workspace WHERE id = ?', ['w2'])).toEqual({ created_at: at });
    expect(await db.get('SELECT COUNT(*) AS n, SUM(created_at) AS s, MAX(created_at) AS m FROM workspace WHERE id = ?', ['w2'])).toEqual({ n: 1, s: at, m: at });
    const plain = new pg.Client({ connectionString: t.url });
    await plain.connect();
    try {
      expect((await plain.query('SELECT COUNT(*) AS n FROM workspace')).rows[0].n).toBe('2');
    } finally {
      await plain.end();
    }
  });

  it('answers booleans as 1 and 0, as SQLite does, and stores a NUL character as U+FFFD instead of failing', async () => {
    const db = await open();
    expect(await db.get('SELECT 1 = 1 AS yes, 1 = 2 AS no, EXISTS (SELECT 1 FROM workspace) AS found, NULL = 1 AS unknown')).toEqual({ yes: 1, no: 0, found: 1, unknown: null });
    await db.run('CREATE TABLE out (k TEXT PRIMARY KEY, v TEXT)');
    await db.run('INSERT INTO out (k, v) VALUES (?, ?)', ['a', 'x\u0000y']);
    await db.run('INSERT INTO out (k, v) VALUES (@k, @v)', { k: 'b', v: '\u0000' });
    expect(await db.all('SELECT v FROM out ORDER BY k')).toEqual([{ v: 'x\uFFFDy' }, { v: '\uFFFD' }]);
  });

  it('tx commits when fn resolves and rolls back (rethrowing) when it throws', async () => {
    const db = await open();
    await db.run('CREATE TABLE kv (k TEXT PRIMARY KEY)');
    expect(await db.tx(async (x) => (await x.run('INSERT INTO kv (k) VALUES (?)', ['kept'])).changes)).toBe(1);
    const boom = new Error('boom');
    await expect(
      db.tx(async (x) => {
        await x.run('INSERT INTO kv (k) VALUES (?)', ['dropped']);
        expect(await x.get('SELECT k FROM kv WHERE k = ?', ['dropped'])).toEqual({ k: 'dropped' });
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await db.all('SELECT k FROM kv ORDER BY k')).toEqual([{ k: 'kept' }]);
    // A statement failing inside rolls back the statements before it.
    await expect(db.tx(async (x) => {
      await x.run('INSERT INTO kv (k) VALUES (?)', ['x']);
      await x.run('INSERT INTO kv (k) VALUES (?)', ['kept']);
    })).rejects.toMatchObject({ code: '23505' });
    expect(await db.all('SELECT k FROM kv ORDER BY k')).toEqual([{ k: 'kept' }]);
  });

  it('tx refuses a statement on a transaction that has ended', async () => {
    const db = await open();
    let leaked!: Parameters<Parameters<Database['tx']>[0]>[0];
    await db.tx(async (x) => {
      leaked = x;
    });
    await expect(leaked.get('SELECT 1 AS one')).rejects.toThrow(/already ended/);
  });

  it('tx refuses a statement on the database itself inside the transaction (it would wait on the transaction’s own locks)', async () => {
    const db = await open();
    await db.run('CREATE TABLE kv (k TEXT PRIMARY KEY)');
    await expect(
      db.tx(async (x) => {
        await x.run('INSERT INTO kv (k) VALUES (?)', ['a']);
        await db.get('SELECT k FROM kv');
      }),
    ).rejects.toThrow(/inside one of its transactions would run outside it: use the transaction handle/);
    expect(await db.all('SELECT k FROM kv')).toEqual([]);
    // Work the transaction started but that outlives it is not inside it any more.
    let later!: Promise<unknown>;
    await db.tx(async () => {
      later = new Promise((r) => setTimeout(r, 1)).then(() => db.get('SELECT COUNT(*) AS n FROM kv'));
    });
    expect(await later).toEqual({ n: 0 });
  });

  it('tx runs fn again after a serialization failure, so both of two colliding serializable read-modify-writes land', async () => {
    const [a, b] = [await open(), await open()];
    await a.run('CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)');
    await a.run('INSERT INTO counter (id, n) VALUES (1, 0)');
    let reads = 0;
    let calls = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((r) => (bothRead = r));
    const bump = (db: Database) =>
      db.tx(async (x) => {
        const first = ++calls <= 2;
        await x.run('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE');
        const { n } = (await x.get<{ n: number }>('SELECT n FROM counter WHERE id = 1'))!;
        // The first attempts both read before either writes: one of them must lose.
        if (first && ++reads === 2) bothRead();
        if (first) await barrier;
        await x.run('UPDATE counter SET n = ? WHERE id = 1', [n + 1]);
      });
    await Promise.all([bump(a), bump(b)]);
    expect(await a.get('SELECT n FROM counter WHERE id = 1')).toEqual({ n: 2 });
    expect(calls).toBe(3);
  });

  it('tx runs fn again after a deadlock: both transactions land', async () => {
    const [a, b] = [await open(), await open()];
    await a.run('CREATE TABLE lk (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)');
    await a.run('INSERT INTO lk (id, n) VALUES (1, 0), (2, 0)');
    let calls = 0;
    let locked = 0;
    let bothLocked!: () => void;
    const barrier = new Promise<void>((r) => (bothLocked = r));
    // Opposite lock orders: each first attempt holds one row and asks for the other.
    const cross = (db: Database, first: number, second: number) =>
      db.tx(async (x) => {
        const firstAttempt = ++calls <= 2;
        await x.run('UPDATE lk SET n = n + 1 WHERE id = ?', [first]);
        if (firstAttempt && ++locked === 2) bothLocked();
        if (firstAttempt) await barrier;
        await x.run('UPDATE lk SET n = n + 1 WHERE id = ?', [second]);
      });
    await Promise.all([cross(a, 1, 2), cross(b, 2, 1)]);
    expect(await a.all('SELECT id, n FROM lk ORDER BY id')).toEqual([
      { id: 1, n: 2 },
      { id: 2, n: 2 },
    ]);
    expect(calls).toBe(3);
  });

  it('delivers a notice published on one replica to the other, and to its own subscribers once', async () => {
    const [a, b] = [await open(), await open()];
    const gotA: Notice[] = [];
    const gotB: Notice[] = [];
    a.subscribe((n) => gotA.push(n));
    b.subscribe((n) => gotB.push(n));
    await a.publish(notice('t1'));
    expect(gotA).toEqual([notice('t1')]); // at once, not through the server
    await until('b hears a', () => gotB.length === 1);
    expect(gotB).toEqual([notice('t1')]);
    // Notices reach a listener in commit order: once a hears b's, its own would have come back too.
    await b.publish(notice('t2'));
    await until('a hears b', () => gotA.length === 2);
    expect(gotA).toEqual([notice('t1'), notice('t2')]);
    expect(gotB).toEqual([notice('t1'), notice('t2')]);
  });

  it('reconnects its listener when the server drops it, and hears the other replicas again', async () => {
    const lines: string[] = [];
    const a = await open(t.url, (l) => lines.push(l));
    const b = await open(t.url, () => undefined);
    const got: Notice[] = [];
    a.subscribe((n) => got.push(n));
    const killed = await b.all<{ ok: boolean }>(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN agentd_notice' AND pid <> pg_backend_pid()",
    );
    expect(killed.length).toBe(2); // a's listener and b's
    await until('a reconnects', () => lines.some((l) => l.includes('connected again')));
    expect(lines[0]).toMatch(/notice listener lost its connection/);
    // b's listener reconnects too; a hears b's notices again either way (a LISTENs).
    await b.publish(notice('after'));
    await until('a hears b after the drop', () => got.length === 1);
    expect(got).toEqual([notice('after')]);
  });

  it('exclusive runs a job on one replica at a time: the other answers undefined without running it', async () => {
    const [a, b] = [await open(), await open()];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const first = a.exclusive('sweep', async (x) => {
      entered();
      await held;
      return (await x.get<{ one: number }>('SELECT 1 AS one'))!.one;
    });
    await inside;
    let ran = false;
    expect(await b.exclusive('sweep', async () => (ran = true))).toBeUndefined();
    expect(ran).toBe(false);
    // Another job's name is not held.
    expect(await b.exclusive('other', async () => 'other ran')).toBe('other ran');
    release();
    expect(await first).toBe(1);
    expect(await b.exclusive('sweep', async () => 'b ran')).toBe('b ran');
  });

  it('close ends the pool and the listener: no connection to the database remains', async () => {
    const db = await open();
    await db.get('SELECT 1');
    const count = async () => {
      const c = new pg.Client({ connectionString: t.url });
      await c.connect();
      try {
        const r = await c.query('SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
        return r.rows[0].n as number;
      } finally {
        await c.end();
      }
    };
    expect(await count()).toBeGreaterThanOrEqual(2);
    opened.splice(0);
    await db.close();
    await until('connections gone', async () => (await count()) === 0);
    await expect(db.get('SELECT 1')).rejects.toThrow();
  });
});
