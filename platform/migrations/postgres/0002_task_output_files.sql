-- The columns an embedded (SQLite) platform uses for raw task output kept in files
-- (platform/task-output-files.ts). PostgreSQL replicas share no disk, so they keep the
-- bytes in task_message.content and these stay at their defaults; they exist so that
-- both schemas answer the same statements.
ALTER TABLE task ADD COLUMN output_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_message ADD COLUMN content_at BIGINT;
ALTER TABLE task_message ADD COLUMN content_len BIGINT;
