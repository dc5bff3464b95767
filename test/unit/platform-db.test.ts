// platform/db.ts on a data dir written by the first release (task table without the
// agent, lease and wait columns): opening it adds them, and the old rows still read and
// claim as before.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agents } from '../../platform/agents.js';
import { openSqlite } from '../../platform/sqlite.js';
import { Tasks } from '../../platform/tasks.js';
import { sqliteHere } from '../helpers/sqlite.js';

const FIRST_RELEASE_TASK_TABLE = `CREATE TABLE task (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, workspace_id TEXT NOT NULL,
  runtime_name TEXT NOT NULL, prompt TEXT NOT NULL, timeout_s INTEGER, status TEXT NOT NULL,
  failure_reason TEXT, error TEXT, output TEXT, session_id TEXT, work_dir TEXT, progress_json TEXT,
  daemon_id TEXT, runtime_id TEXT, created_at INTEGER NOT NULL, claimed_at INTEGER, started_at INTEGER,
  finished_at INTEGER, cancel_acked_at INTEGER)`;

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});


describe.skipIf(!sqliteHere)('platform database', () => {
  it('adds the new task columns to a first-release database and keeps its rows', async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-platform-db-'));
    const old = new Database(join(dir, 'platform.db'));
    old.exec(FIRST_RELEASE_TASK_TABLE);
    old.prepare(`INSERT INTO task (id, workspace_id, runtime_name, prompt, status, created_at) VALUES ('t1', 'ws1', 'command', 'echo old', 'queued', 1)`).run();
    old.close();

    const { db } = openSqlite(dir);
    try {
      const cols = (await db.all<{ name: string }>('SELECT name FROM pragma_table_info(?)', ['task'])).map((c) => c.name);
      expect(cols).toEqual(expect.arrayContaining(['agent_id', 'chat_session_id', 'chat_message', 'lease_until', 'wait_reason']));
      const tasks = new Tasks(db, new Agents(db), async () => {});
      expect(await tasks.get('ws1', 't1')).toMatchObject({ id: 't1', prompt: 'echo old', status: 'queued', agent_id: null, chat_message: null, usage: null });
      const [t] = await tasks.claim({ workspace_id: 'ws1', daemon_id: 'd1' }, new Map([['command', 'rt1']]), 1);
      expect(t).toMatchObject({ id: 't1', prompt: 'echo old', runtime_id: 'rt1' });
      expect(t).not.toHaveProperty('agent_id');
    } finally {
      await db.close();
    }
    // Opening again is a no-op (the columns are there).
    await openSqlite(dir).db.close();
  });
});
