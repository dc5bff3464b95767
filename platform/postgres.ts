// The platform's storage on PostgreSQL (platform/sql.ts's Database), for several
// replicas over one database: a pg.Pool for statements and transactions, one dedicated
// connection that LISTENs for the other replicas' notices, advisory locks for run-once
// jobs and for the migrations, which run at open (platform/migrations/postgres/).
//
// A connection string may carry a password: no message, log line or error this module
// writes contains the URL as given; `redactUrl` is what it shows instead.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { AgentdError, ConfigError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { POSTGRES_MIGRATIONS, type Migration } from './migrations/postgres.js';
import { parsePostgresUrl, redactUrl, urlParts } from './database-url.js';
import { numberedPlaceholders, type Database, type Notice, type OpenedDatabase, type Sql, type SqlParams, type SqlValue } from './sql.js';

/** The one NOTIFY channel every replica LISTENs on. */
export const NOTICE_CHANNEL = 'agentd_notice';

/**
 * First key of every advisory lock this module takes (the two-key form), so agentd's
 * locks never meet another application's in the same database. 'agtd' as an int4.
 */
const LOCK_CLASS = 0x61677464;
/** Second key of the migration lock; a job's is hashtext(its name), which may be any int4. */
const MIGRATION_LOCK_NAME = 'agentd:migrations';

/** A transaction that lost a serialization race or a deadlock is run again, this often in all. */
const TX_ATTEMPTS = 5;
/** serialization_failure, deadlock_detected: the transaction did nothing and may be retried. */
const RETRYABLE = new Set(['40001', '40P01']);

/** Placeholder translations kept per SQL text; cleared if dynamic SQL ever fills it. */
const PLACEHOLDER_CACHE_MAX = 2000;

// Answers as SQLite gives them (platform/sql.ts's SqlValue: string, number or null), on
// this pool's connections only, not by changing pg's global parsers:
// - our integers are BIGINT (ms timestamps, counts) and COUNT/SUM answer INT8/NUMERIC,
//   which pg hands back as strings by default (they may exceed 2^53); every value we
//   store is a JS number to begin with, so they are parsed back to numbers;
// - a comparison or EXISTS answers a boolean, where SQLite answers 1 or 0.
const BOOL_OID = 16;
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const toNumber = (v: string): number => Number(v);
const toBit = (v: string): number => (v === 't' ? 1 : 0);
const getTypeParser = ((oid: number, format?: 'text' | 'binary') =>
  oid === INT8_OID || oid === NUMERIC_OID ? toNumber : oid === BOOL_OID ? toBit : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser;

/**
 * PostgreSQL's text cannot hold U+0000 (SQLite's can): a task's output may carry one, and
 * storing it must not fail, so it is stored as U+FFFD, the character that already stands
 * for bytes that were not text.
 */
function storable(v: SqlValue): SqlValue {
  return typeof v === 'string' && v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v;
}

export interface PostgresOptions {
  /** Problems worth an operator's attention (the listener dropped, an idle connection died). Never given a secret. */
  log?: (line: string) => void;
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /** How long to wait for a connection to the server (default 10 s). */
  connectTimeoutMs?: number;
}

/** pg's and the socket's failures at connect, as a message a person can act on; never the password. */
export function connectError(e: unknown, url: URL, password: string): AgentdError {
  const d = urlParts(url);
  const code = (e as { code?: string }).code ?? '';
  let cause = e instanceof Error ? e.message : String(e);
  if (password.length > 0) cause = cause.split(password).join('***');
  // Class 28: invalid authorization (a wrong password, no pg_hba.conf entry for this host).
  if (code.startsWith('28')) {
    return new ConfigError('database', `PostgreSQL at ${d.host}:${d.port} refused user ${d.user}: ${cause}`, `Check the user and password in --database, then try them with: psql "${redactUrl(url.toString()).replace(':***@', '@')}" -c 'SELECT 1'`, e);
  }
  if (code === '3D000') {
    return new ConfigError('database', `PostgreSQL at ${d.host}:${d.port} has no database ${d.database}`, `Create it (createdb -h ${d.host} -p ${d.port} -U ${d.user} ${d.database}) or name another in --database.`, e);
  }
  return new AgentdError(`cannot reach PostgreSQL at ${d.host}:${d.port} (${d.safe}): ${cause}`, {
    code: 'AGENTD_DATABASE_UNAVAILABLE',
    exitCode: EXIT.UNAVAILABLE,
    hint: `Check that the server is up and reachable from here: pg_isready -h ${d.host} -p ${d.port}`,
    cause: e,
  });
}

/**
 * A migration the database refused. Since PostgreSQL 15 only a database's owner may create
 * tables in its public schema, so a user made for the platform but not owning the
 * database is the common case: the hint says what to grant.
 */
function migrateError(e: unknown, url: URL): unknown {
  if ((e as { code?: string }).code !== '42501') return e;
  const d = urlParts(url);
  return new ConfigError(
    'database',
    `PostgreSQL user ${d.user} may not create the platform's tables in database ${d.database}: ${e instanceof Error ? e.message : String(e)}`,
    `As a superuser, make it the owner (psql -h ${d.host} -p ${d.port} -d ${d.database} -c 'ALTER DATABASE "${d.database}" OWNER TO "${d.user}"') or grant CREATE ON SCHEMA public TO "${d.user}".`,
    e,
  );
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * The transaction the running code is inside. A statement on the database there would
 * run on another connection, outside the transaction, and wait forever for a row lock
 * the transaction holds while the transaction waits for it: it is refused instead, as
 * platform/sqlite.ts refuses it.
 */
const insideTx = new AsyncLocalStorage<{ pool: pg.Pool; open: boolean }>();

class Statements implements Sql {
  readonly dialect = 'postgres' as const;
  private cache = new Map<string, ReturnType<typeof numberedPlaceholders>>();

  constructor(private readonly target: () => Queryable) {}

  protected bind(sql: string, params: SqlParams | undefined): { text: string; values: SqlValue[] } {
    let c = this.cache.get(sql);
    if (!c) {
      if (this.cache.size >= PLACEHOLDER_CACHE_MAX) this.cache.clear();
      c = numberedPlaceholders(sql);
      this.cache.set(sql, c);
    }
    if (params === undefined) return { text: c.text, values: [] };
    if (Array.isArray(params)) {
      if (c.names) throw new Error(`a statement with @name placeholders was given positional parameters: ${sql.slice(0, 80)}`);
      return { text: c.text, values: (params as readonly SqlValue[]).map(storable) };
    }
    const named = params as Readonly<Record<string, SqlValue>>;
    if (!c.names) throw new Error(`a statement with ? placeholders was given named parameters: ${sql.slice(0, 80)}`);
    return {
      text: c.text,
      values: c.names.map((n) => {
        if (!(n in named)) throw new Error(`no value for @${n} in: ${sql.slice(0, 80)}`);
        return storable(named[n]!);
      }),
    };
  }

  /** Shares one placeholder cache with the transactions' statement objects. */
  withTarget(target: () => Queryable): Statements {
    const s = new Statements(target);
    s.cache = this.cache;
    return s;
  }

  async all<T>(sql: string, params?: SqlParams): Promise<T[]> {
    const { text, values } = this.bind(sql, params);
    return (await this.target().query(text, values)).rows as T[];
  }

  async get<T>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async run(sql: string, params?: SqlParams): Promise<{ changes: number }> {
    const { text, values } = this.bind(sql, params);
    return { changes: (await this.target().query(text, values)).rowCount ?? 0 };
  }
}

function isNotice(x: unknown): x is Notice {
  const n = x as Record<string, unknown> | null;
  if (typeof n !== 'object' || n === null || typeof n.workspace_id !== 'string') return false;
  if (n.kind === 'task_available') return typeof n.runtime_name === 'string' && (n.task_id === undefined || typeof n.task_id === 'string');
  if (n.kind === 'task_ended') return typeof n.daemon_id === 'string' && typeof n.task_id === 'string' && typeof n.status === 'string';
  return false;
}

class PostgresDatabase extends Statements implements Database {
  /** Tells this replica's own notices (delivered at once) from the others' (via LISTEN). */
  private readonly replica = randomUUID();
  private readonly subscribers: ((n: Notice) => void)[] = [];
  private listener: pg.Client | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly clientConfig: pg.ClientConfig,
    private readonly log: (line: string) => void,
  ) {
    super(() => {
      const inside = insideTx.getStore();
      if (inside?.open && inside.pool === pool) {
        throw new Error('a statement on the database inside one of its transactions would run outside it: use the transaction handle');
      }
      return pool;
    });
  }

  /** One transaction attempt after another on one connection, until one commits or fails for good. */
  private async transaction<T>(body: (client: pg.PoolClient, t: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      const state = { pool: this.pool, open: true };
      const t = this.withTarget(() => {
        if (!state.open) throw new Error('a statement ran on a transaction that has already ended');
        return client;
      });
      try {
        // READ COMMITTED, PostgreSQL's default: each statement sees what was committed
        // before it began, and a claim's FOR UPDATE SKIP LOCKED passes over the rows
        // another replica is claiming instead of failing. (Under SERIALIZABLE concurrent
        // claims fail with 40001 more often than retries absorb.) What must not race is
        // one statement, a row lock or a unique constraint; a transaction that needs
        // more may start with SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, and a lost
        // race or a deadlock is retried below.
        await client.query('BEGIN');
        const out = await insideTx.run(state, () => body(client, t));
        state.open = false;
        await client.query('COMMIT');
        return out;
      } catch (e) {
        state.open = false;
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          // The connection is gone or unusable: the pool must not hand it out again.
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
        const code = (e as { code?: string }).code;
        if (code === undefined || !RETRYABLE.has(code) || attempt >= TX_ATTEMPTS) throw e;
      } finally {
        client.release(broken);
      }
      // Spread the retries of transactions that collided so they do not collide again.
      await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
    }
  }

  tx<T>(fn: (t: Sql) => Promise<T>): Promise<T> {
    return this.transaction((_client, t) => fn(t));
  }

  async exclusive<T>(name: string, fn: (t: Sql) => Promise<T>): Promise<T | undefined> {
    const held = Symbol('held');
    // The lock lives as long as the transaction: a replica that dies mid-job drops it.
    const out = await this.transaction(async (client, t) => {
      const r = await client.query<{ ok: number }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS ok', [LOCK_CLASS, `agentd:job:${name}`]);
      if (r.rows[0]?.ok !== 1) return held;
      return fn(t);
    });
    return out === held ? undefined : (out as T);
  }

  async publish(n: Notice): Promise<void> {
    // This replica's own subscribers hear it at once, even while the listener reconnects
    // or the NOTIFY fails (its claimers and sockets need no round trip to be told).
    this.deliver(n);
    await this.pool.query('SELECT pg_notify($1, $2)', [NOTICE_CHANNEL, JSON.stringify({ r: this.replica, n })]);
  }

  subscribe(fn: (n: Notice) => void): void {
    this.subscribers.push(fn);
  }

  private deliver(n: Notice): void {
    for (const fn of this.subscribers) {
      try {
        fn(n);
      } catch (e) {
        this.log(`agentd-platform: a notice subscriber failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  /** Connects the listening client; resolves once it LISTENs. */
  async listen(): Promise<void> {
    const client = new pg.Client(this.clientConfig);
    // Only a connection that was listening reconnects from here; a failure to connect
    // is the caller's (openPostgres, or the reconnect loop).
    let live = false;
    let dropped = false;
    const drop = (why: string) => {
      if (dropped) return;
      dropped = true;
      if (this.listener === client) this.listener = undefined;
      void client.end().catch(() => undefined);
      if (this.closed || !live) return;
      this.log(`agentd-platform: the PostgreSQL notice listener lost its connection (${why}); reconnecting. Wake-ups from other replicas are late until it is back (claims still poll).`);
      this.scheduleReconnect(1);
    };
    client.on('error', (e) => drop(e.message));
    client.on('end', () => drop('connection closed'));
    client.on('notification', (m) => {
      if (m.channel !== NOTICE_CHANNEL || m.payload === undefined) return;
      let msg: { r?: unknown; n?: unknown };
      try {
        msg = JSON.parse(m.payload) as { r?: unknown; n?: unknown };
      } catch {
        return;
      }
      if (msg.r === this.replica || !isNotice(msg.n)) return;
      this.deliver(msg.n);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTICE_CHANNEL}`);
    } catch (e) {
      dropped = true;
      await client.end().catch(() => undefined);
      throw e;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    live = true;
    this.listener = client;
  }

  private scheduleReconnect(attempt: number): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = Math.min(5000, 100 * 2 ** (attempt - 1));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.listen().then(
        () => this.log('agentd-platform: the PostgreSQL notice listener is connected again'),
        (e: unknown) => {
          const code = (e as { code?: string }).code;
          this.log(`agentd-platform: the PostgreSQL notice listener cannot reconnect yet${code ? ` (${code})` : ''}; trying again`);
          this.scheduleReconnect(attempt + 1);
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const l = this.listener;
    this.listener = undefined;
    await l?.end().catch(() => undefined);
    await this.pool.end();
  }
}

/** Applies the migrations not yet recorded, and finds or creates the default workspace, under one lock. */
async function migrate(client: pg.ClientBase, migrations: readonly Migration[]): Promise<string> {
  await client.query('BEGIN');
  try {
    // Two replicas starting together: the second waits here until the first committed,
    // then finds every migration recorded and the workspace made.
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, MIGRATION_LOCK_NAME]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => Number(r.version)));
    const known = new Set(migrations.map((m) => m.version));
    const newer = [...done].filter((v) => !known.has(v));
    if (newer.length > 0) {
      throw new ConfigError(
        'database',
        `the database was migrated by a newer agentd-platform (schema version ${Math.max(...newer)}; this one knows up to ${Math.max(0, ...known)})`,
        'Run the newer agentd-platform against this database, or point --database at another one.',
      );
    }
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
    }
    const first = await client.query<{ id: string }>('SELECT id FROM workspace ORDER BY created_at, id LIMIT 1');
    let id = first.rows[0]?.id;
    if (!id) {
      id = randomUUID();
      await client.query('INSERT INTO workspace (id, name, created_at) VALUES ($1, $2, $3)', [id, 'default', Date.now()]);
    }
    await client.query('COMMIT');
    return id;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/**
 * Opens the database at `url` (postgres://USER:PASSWORD@HOST:PORT/DATABASE), applies the
 * migrations it lacks and starts listening for the other replicas' notices. Throws a
 * ConfigError for a malformed URL, a refused login or a missing database, and an
 * AgentdError (exit 69) when the server cannot be reached; none contains the password.
 */
export async function openPostgres(url: string, o: PostgresOptions = {}, migrations: readonly Migration[] = POSTGRES_MIGRATIONS): Promise<OpenedDatabase> {
  const parsed = parsePostgresUrl(url);
  const password = decodeURIComponent(parsed.password);
  const log = o.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const clientConfig: pg.ClientConfig = {
    connectionString: url,
    connectionTimeoutMillis: o.connectTimeoutMs ?? 10_000,
    types: { getTypeParser },
    application_name: 'agentd-platform',
    keepAlive: true,
  };
  const pool = new pg.Pool({ ...clientConfig, max: o.maxConnections ?? 10 });
  // An idle connection the server dropped (restart, failover) is an 'error' event on the
  // pool; unhandled it would end the process. The pool replaces it on the next query.
  pool.on('error', (e) => log(`agentd-platform: an idle PostgreSQL connection failed (${(e as { code?: string }).code ?? e.message.split(password || '\0').join('***')}); it is replaced on next use`));
  let db: PostgresDatabase | undefined;
  try {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      throw connectError(e, parsed, password);
    }
    let defaultWorkspaceId: string;
    try {
      defaultWorkspaceId = await migrate(client, migrations);
    } catch (e) {
      throw migrateError(e, parsed);
    } finally {
      client.release();
    }
    db = new PostgresDatabase(pool, clientConfig, log);
    try {
      await db.listen();
    } catch (e) {
      throw connectError(e, parsed, password);
    }
    return { db, defaultWorkspaceId };
  } catch (e) {
    if (db) await db.close().catch(() => undefined);
    else await pool.end().catch(() => undefined);
    throw e;
  }
}
