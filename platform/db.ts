// The embedded database's schema: one SQLite file under --data, opened with
// better-sqlite3 (platform/sqlite.ts wraps it in the storage interface). The statements
// that must be atomic against concurrent requests (token exchange, task claim) are
// single UPDATE … RETURNING statements. PostgreSQL's schema is the same tables, in
// platform/migrations/postgres/.
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';

export type SqliteHandle = Database.Database;

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workspace (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS install_token (
  id           TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspace(id),
  token_hash   TEXT NOT NULL UNIQUE,          -- SHA-256 hex; the token itself is never stored
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  used_at      INTEGER,                        -- the last exchange that consumed a use
  used_by      TEXT,                           -- daemon_id of that exchange
  uses         INTEGER NOT NULL DEFAULT 1,     -- how many machines it may enrol (fleet tokens: > 1)
  uses_left    INTEGER NOT NULL DEFAULT 1,
  ephemeral    INTEGER NOT NULL DEFAULT 0      -- daemons it enrols are removed after a time offline
);
CREATE TABLE IF NOT EXISTS daemon (
  workspace_id      TEXT NOT NULL REFERENCES workspace(id),
  daemon_id         TEXT NOT NULL,
  device_name       TEXT NOT NULL,
  cli_version       TEXT,
  os                TEXT,
  device_json       TEXT,
  enrolled_at       INTEGER NOT NULL,
  registered_at     INTEGER,
  deregistered_at   INTEGER,
  last_heartbeat_at INTEGER,
  ephemeral         INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, daemon_id)
);
CREATE TABLE IF NOT EXISTS daemon_token (
  id           TEXT PRIMARY KEY,
  token_hash   TEXT NOT NULL UNIQUE,
  workspace_id TEXT NOT NULL,
  daemon_id    TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  revoked_at   INTEGER
);
CREATE INDEX IF NOT EXISTS daemon_token_by_daemon ON daemon_token (workspace_id, daemon_id);
-- What each exchange did to a daemon id, for the operator: enrolled (new id), re-enrolled
-- (proved the current credential, or the id was revoked), refused (daemon_id_in_use).
CREATE TABLE IF NOT EXISTS enrolment_event (
  workspace_id     TEXT NOT NULL,
  daemon_id        TEXT NOT NULL,
  kind             TEXT NOT NULL,
  install_token_id TEXT,
  at               INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS enrolment_event_by_daemon ON enrolment_event (workspace_id, daemon_id, at);
CREATE TABLE IF NOT EXISTS runtime (
  id                TEXT PRIMARY KEY,
  workspace_id      TEXT NOT NULL,
  daemon_id         TEXT NOT NULL,
  name              TEXT NOT NULL,
  type              TEXT NOT NULL,
  version           TEXT NOT NULL,
  status            TEXT NOT NULL,
  registered_at     INTEGER NOT NULL,
  deregistered_at   INTEGER,
  last_heartbeat_at INTEGER,
  UNIQUE (workspace_id, daemon_id, name)
);
CREATE TABLE IF NOT EXISTS task (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT, -- queue order
  id             TEXT NOT NULL UNIQUE,
  workspace_id   TEXT NOT NULL,
  runtime_name   TEXT NOT NULL,
  prompt         TEXT NOT NULL,
  timeout_s      INTEGER,
  status         TEXT NOT NULL,
  failure_reason TEXT,
  error          TEXT,
  output         TEXT,
  session_id     TEXT,
  work_dir       TEXT,
  progress_json  TEXT,
  daemon_id      TEXT,
  runtime_id     TEXT,
  created_at     INTEGER NOT NULL,
  claimed_at     INTEGER,
  started_at     INTEGER,
  finished_at    INTEGER,
  cancel_acked_at INTEGER,
  message_count  INTEGER NOT NULL DEFAULT 0,   -- rows in task_message (kept by the insert)
  output_bytes   INTEGER NOT NULL DEFAULT 0    -- committed end of the task's output file (task-output-files.ts)
);
CREATE INDEX IF NOT EXISTS task_queue ON task (workspace_id, status, runtime_name, seq);
CREATE INDEX IF NOT EXISTS task_by_runtime ON task (runtime_id, status);
-- A rowid table with a unique (task_id, seq) index, not WITHOUT ROWID: a message is a
-- chunk of up to 64 KiB of output, and large rows in a WITHOUT ROWID b-tree are copied
-- around as the tree splits (measured: 256 MB of 64 KiB chunks stored at 58 MB/s that
-- way, 126 MB/s this way with 16 KiB pages). A database created before keeps its
-- WITHOUT ROWID table; every statement works on both.
CREATE TABLE IF NOT EXISTS task_message (
  task_id     TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  type        TEXT NOT NULL,
  content     TEXT,
  tool        TEXT,
  input_json  TEXT,
  output_json TEXT,
  received_at INTEGER NOT NULL,
  content_at  INTEGER,  -- raw output: the content is bytes [content_at, +content_len) of the task's output file
  content_len INTEGER,
  UNIQUE (task_id, seq)
);
CREATE TABLE IF NOT EXISTS task_token (
  token_hash TEXT PRIMARY KEY,
  task_id    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS task_token_by_task ON task_token (task_id);
CREATE TABLE IF NOT EXISTS agent (
  id               TEXT PRIMARY KEY,
  workspace_id     TEXT NOT NULL REFERENCES workspace(id),
  name             TEXT NOT NULL,
  provider         TEXT NOT NULL,              -- the runtime type its tasks go to
  instructions     TEXT NOT NULL,
  model            TEXT,
  custom_env_json  TEXT NOT NULL,
  custom_args_json TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  UNIQUE (workspace_id, name)
);
CREATE TABLE IF NOT EXISTS task_usage (
  task_id            TEXT NOT NULL,
  provider           TEXT,
  model              TEXT,
  input_tokens       INTEGER NOT NULL,
  output_tokens      INTEGER NOT NULL,
  cache_read_tokens  INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL,
  cost_usd_ticks     INTEGER,
  received_at        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS task_usage_by_task ON task_usage (task_id);
`;

/**
 * Columns added after the first release: CREATE TABLE IF NOT EXISTS leaves an older
 * file's tables as they were, so each is added here when missing. A token minted before
 * use counts existed keeps its single use (uses_left 0 once used).
 */
const ADDED_COLUMNS: readonly { table: string; column: string; ddl: string; backfill?: string }[] = [
  { table: 'install_token', column: 'uses', ddl: 'uses INTEGER NOT NULL DEFAULT 1' },
  {
    table: 'install_token',
    column: 'uses_left',
    ddl: 'uses_left INTEGER NOT NULL DEFAULT 1',
    backfill: 'UPDATE install_token SET uses_left = 0 WHERE used_at IS NOT NULL',
  },
  { table: 'install_token', column: 'ephemeral', ddl: 'ephemeral INTEGER NOT NULL DEFAULT 0' },
  { table: 'daemon', column: 'ephemeral', ddl: 'ephemeral INTEGER NOT NULL DEFAULT 0' },
  // Replaces a COUNT(*) over the task's messages on every task read (a 1 GB transcript
  // made each read of the task scan it).
  {
    table: 'task',
    column: 'message_count',
    ddl: 'message_count INTEGER NOT NULL DEFAULT 0',
    backfill: 'UPDATE task SET message_count = (SELECT COUNT(*) FROM task_message m WHERE m.task_id = task.id)',
  },
  // Agent tasks (Multica-shaped); NULL for prompt tasks.
  { table: 'task', column: 'agent_id', ddl: 'agent_id TEXT' },
  { table: 'task', column: 'chat_session_id', ddl: 'chat_session_id TEXT' },
  { table: 'task', column: 'chat_message', ddl: 'chat_message TEXT' },
  // prepare-lease: a claimed task is kept at least until then.
  { table: 'task', column: 'lease_until', ddl: 'lease_until INTEGER' },
  // wait-local-directory.
  { table: 'task', column: 'wait_reason', ddl: 'wait_reason TEXT' },
  // Raw task output in files beside the database (task-output-files.ts).
  { table: 'task', column: 'output_bytes', ddl: 'output_bytes INTEGER NOT NULL DEFAULT 0' },
  { table: 'task_message', column: 'content_at', ddl: 'content_at INTEGER' },
  { table: 'task_message', column: 'content_len', ddl: 'content_len INTEGER' },
];

function migrate(db: SqliteHandle): void {
  for (const c of ADDED_COLUMNS) {
    const cols = db.prepare(`SELECT name FROM pragma_table_info('${c.table}')`).all() as { name: string }[];
    if (cols.some((x) => x.name === c.column)) continue;
    db.transaction(() => {
      db.exec(`ALTER TABLE ${c.table} ADD COLUMN ${c.ddl}`);
      if (c.backfill) db.exec(c.backfill);
    })();
  }
  // The chat-session gc-check looks tasks up by session.
  db.exec('CREATE INDEX IF NOT EXISTS task_by_chat_session ON task (chat_session_id)');
}

/** The WAL's bound: past it the checkpointer makes the next writer start the WAL over. */
export const WAL_LIMIT_BYTES = 64 * 1024 * 1024;

export interface OpenedSqliteFile {
  db: SqliteHandle;
  /** The workspace created on first start (the oldest one). */
  defaultWorkspaceId: string;
}

export function openSqliteFile(dataDir: string, walLimitBytes = WAL_LIMIT_BYTES): OpenedSqliteFile {
  const db = new Database(join(dataDir, 'platform.db'));
  // Takes effect only for a new database (before its first table): 16 KiB pages hold a
  // 64 KiB output chunk in 4 overflow pages instead of 16.
  db.pragma('page_size = 16384');
  db.pragma('journal_mode = WAL');
  // WAL + NORMAL: durable across a process crash (what tests and restarts exercise);
  // only an OS crash may lose the last transactions.
  db.pragma('synchronous = NORMAL');
  // Checkpoints run on a worker thread with its own connection (platform/checkpointer.ts),
  // not inside the COMMIT that crosses 1000 WAL pages; openSqlite turns this back on if
  // that worker cannot run. The size limit trims a WAL that grew past the checkpointer's
  // bound when it starts over.
  db.pragma('wal_autocheckpoint = 0');
  db.pragma(`journal_size_limit = ${walLimitBytes}`);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);
  migrate(db);
  db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));

  const first = db.prepare('SELECT id FROM workspace ORDER BY created_at, id LIMIT 1').get() as { id: string } | undefined;
  let defaultWorkspaceId = first?.id;
  if (!defaultWorkspaceId) {
    defaultWorkspaceId = randomUUID();
    db.prepare('INSERT INTO workspace (id, name, created_at) VALUES (?, ?, ?)').run(defaultWorkspaceId, 'default', Date.now());
  }
  return { db, defaultWorkspaceId };
}
