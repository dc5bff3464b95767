-- The platform's schema on PostgreSQL: the tables and columns of the SQLite schema
-- (platform/db.ts, its added columns included), with the same names, so the services'
-- SQL runs on both. Every integer is BIGINT: SQLite's INTEGER holds 64 bits, and the
-- timestamps are milliseconds since the epoch. Applied once, in a transaction, under
-- the migration lock (platform/postgres.ts).
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE workspace (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE install_token (
  id           TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspace(id),
  token_hash   TEXT NOT NULL UNIQUE,          -- SHA-256 hex; the token itself is never stored
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT NOT NULL,
  used_at      BIGINT,                         -- the last exchange that consumed a use
  used_by      TEXT,                           -- daemon_id of that exchange
  uses         BIGINT NOT NULL DEFAULT 1,      -- how many machines it may enrol (fleet tokens: > 1)
  uses_left    BIGINT NOT NULL DEFAULT 1,
  ephemeral    BIGINT NOT NULL DEFAULT 0       -- daemons it enrols are removed after a time offline
);
CREATE TABLE daemon (
  workspace_id      TEXT NOT NULL REFERENCES workspace(id),
  daemon_id         TEXT NOT NULL,
  device_name       TEXT NOT NULL,
  cli_version       TEXT,
  os                TEXT,
  device_json       TEXT,
  enrolled_at       BIGINT NOT NULL,
  registered_at     BIGINT,
  deregistered_at   BIGINT,
  last_heartbeat_at BIGINT,
  ephemeral         BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, daemon_id)
);
CREATE TABLE daemon_token (
  id           TEXT PRIMARY KEY,
  token_hash   TEXT NOT NULL UNIQUE,
  workspace_id TEXT NOT NULL,
  daemon_id    TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT NOT NULL,
  revoked_at   BIGINT
);
CREATE INDEX daemon_token_by_daemon ON daemon_token (workspace_id, daemon_id);
-- What each exchange did to a daemon id, for the operator: enrolled (new id), re-enrolled
-- (proved the current credential, or the id was revoked), refused (daemon_id_in_use).
CREATE TABLE enrolment_event (
  workspace_id     TEXT NOT NULL,
  daemon_id        TEXT NOT NULL,
  kind             TEXT NOT NULL,
  install_token_id TEXT,
  at               BIGINT NOT NULL
);
CREATE INDEX enrolment_event_by_daemon ON enrolment_event (workspace_id, daemon_id, at);
CREATE TABLE runtime (
  id                TEXT PRIMARY KEY,
  workspace_id      TEXT NOT NULL,
  daemon_id         TEXT NOT NULL,
  name              TEXT NOT NULL,
  type              TEXT NOT NULL,
  version           TEXT NOT NULL,
  status            TEXT NOT NULL,
  registered_at     BIGINT NOT NULL,
  deregistered_at   BIGINT,
  last_heartbeat_at BIGINT,
  UNIQUE (workspace_id, daemon_id, name)
);
CREATE TABLE task (
  seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- queue order
  id              TEXT NOT NULL UNIQUE,
  workspace_id    TEXT NOT NULL,
  runtime_name    TEXT NOT NULL,
  prompt          TEXT NOT NULL,
  timeout_s       BIGINT,
  status          TEXT NOT NULL,
  failure_reason  TEXT,
  error           TEXT,
  output          TEXT,
  session_id      TEXT,
  work_dir        TEXT,
  progress_json   TEXT,
  daemon_id       TEXT,
  runtime_id      TEXT,
  created_at      BIGINT NOT NULL,
  claimed_at      BIGINT,
  started_at      BIGINT,
  finished_at     BIGINT,
  cancel_acked_at BIGINT,
  message_count   BIGINT NOT NULL DEFAULT 0,   -- rows in task_message (kept by the insert)
  agent_id        TEXT,                        -- agent tasks (Multica-shaped); NULL for prompt tasks
  chat_session_id TEXT,
  chat_message    TEXT,
  lease_until     BIGINT,                      -- prepare-lease: a claimed task is kept at least until then
  wait_reason     TEXT                         -- wait-local-directory
);
CREATE INDEX task_queue ON task (workspace_id, status, runtime_name, seq);
CREATE INDEX task_by_runtime ON task (runtime_id, status);
-- The chat-session gc-check looks tasks up by session.
CREATE INDEX task_by_chat_session ON task (chat_session_id);
CREATE TABLE task_message (
  task_id     TEXT NOT NULL,
  seq         BIGINT NOT NULL,
  type        TEXT NOT NULL,
  content     TEXT,
  tool        TEXT,
  input_json  TEXT,
  output_json TEXT,
  received_at BIGINT NOT NULL,
  UNIQUE (task_id, seq)
);
CREATE TABLE task_token (
  token_hash TEXT PRIMARY KEY,
  task_id    TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX task_token_by_task ON task_token (task_id);
CREATE TABLE agent (
  id               TEXT PRIMARY KEY,
  workspace_id     TEXT NOT NULL REFERENCES workspace(id),
  name             TEXT NOT NULL,
  provider         TEXT NOT NULL,              -- the runtime type its tasks go to
  instructions     TEXT NOT NULL,
  model            TEXT,
  custom_env_json  TEXT NOT NULL,
  custom_args_json TEXT NOT NULL,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL,
  UNIQUE (workspace_id, name)
);
CREATE TABLE task_usage (
  task_id            TEXT NOT NULL,
  provider           TEXT,
  model              TEXT,
  input_tokens       BIGINT NOT NULL,
  output_tokens      BIGINT NOT NULL,
  cache_read_tokens  BIGINT NOT NULL,
  cache_write_tokens BIGINT NOT NULL,
  cost_usd_ticks     BIGINT,
  received_at        BIGINT NOT NULL
);
CREATE INDEX task_usage_by_task ON task_usage (task_id);
