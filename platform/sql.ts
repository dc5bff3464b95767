// The platform's storage interface: the services (enrolment, daemons, tasks, agents,
// revocation) speak SQL through it and never name a driver. Two implementations:
// SQLite (platform/sqlite.ts: embedded, the default) and PostgreSQL
// (platform/postgres.ts: several replicas over one database).
//
// SQL is written once, in the common subset of both dialects, with `?` placeholders
// (positional) or `@name` placeholders (one object argument). Where the dialects must
// differ (a row lock, a scalar max), the statement asks `dialect`, so the difference is
// visible at the one place it matters.
//
// Every call is async because PostgreSQL is a network peer; SQLite answers at once.

export type SqlValue = string | number | null;
export type SqlParams = readonly SqlValue[] | Readonly<Record<string, SqlValue>>;

export type Dialect = 'sqlite' | 'postgres';

/** Statements, on the database itself or inside one transaction. */
export interface Sql {
  readonly dialect: Dialect;
  all<T>(sql: string, params?: SqlParams): Promise<T[]>;
  get<T>(sql: string, params?: SqlParams): Promise<T | undefined>;
  /** `changes`: rows the statement inserted, updated or deleted. */
  run(sql: string, params?: SqlParams): Promise<{ changes: number }>;
}

/** A wake-up published to every replica (PostgreSQL NOTIFY; in-process on SQLite). */
export type Notice = TaskAvailableNotice | TaskEndedNotice;

/** A task was queued: claimers of that runtime type wake. */
export interface TaskAvailableNotice {
  kind: 'task_available';
  workspace_id: string;
  runtime_name: string;
  task_id?: string;
}

/** A claimed or running task ended on the platform's side (an operator cancel): its daemon is told. */
export interface TaskEndedNotice {
  kind: 'task_ended';
  workspace_id: string;
  daemon_id: string;
  task_id: string;
  status: string;
}

export interface Database extends Sql {
  /**
   * Runs `fn` in one transaction on one connection: every statement of `fn` goes through
   * `t`, none through the database, and other callers' statements never interleave.
   * Committed when `fn` resolves, rolled back when it throws (the error is rethrown).
   * A serialization failure or deadlock (PostgreSQL) retries `fn` from the start, so
   * `fn` must not have side effects outside `t`.
   */
  tx<T>(fn: (t: Sql) => Promise<T>): Promise<T>;
  /** Publishes `n` to every replica, this one included, once `publish` resolves. */
  publish(n: Notice): Promise<void>;
  /** Every notice any replica publishes from now on (this one's included). */
  subscribe(fn: (n: Notice) => void): void;
  /**
   * Runs `fn` only if no other replica is running the job of the same `name` now
   * (PostgreSQL: a session advisory lock; SQLite: one process, always). Answers
   * undefined when another replica holds it: sweeps run once, not once per replica.
   */
  exclusive<T>(name: string, fn: (t: Sql) => Promise<T>): Promise<T | undefined>;
  close(): Promise<void>;
}

export interface OpenedDatabase {
  db: Database;
  /** The workspace created on first start (the oldest one). */
  defaultWorkspaceId: string;
}

/**
 * `?` and `@name` placeholders as PostgreSQL's `$1…$n`, with the argument order for
 * `@name`. No statement of ours has a `?` or `@` inside a string literal; one that did
 * would be rewritten here, so none may.
 */
export function numberedPlaceholders(sql: string): { text: string; names: readonly string[] | undefined } {
  if (sql.includes('@')) {
    const names: string[] = [];
    const text = sql.replace(/@([A-Za-z_]\w*)/g, (_m, name: string) => {
      let i = names.indexOf(name);
      if (i < 0) i = names.push(name) - 1;
      return `$${i + 1}`;
    });
    return { text, names };
  }
  let n = 0;
  return { text: sql.replace(/\?/g, () => `$${++n}`), names: undefined };
}

/** A UNIQUE or PRIMARY KEY constraint refused the write (SQLite's or PostgreSQL's code). */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
