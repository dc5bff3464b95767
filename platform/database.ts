// Which storage the platform runs on: SQLite under the data directory (the default,
// embedded, nothing to set up) or PostgreSQL at --database (several replicas over one
// database). The PostgreSQL driver is loaded only when asked for, so a SQLite start
// never pays for it.
//
// The storage also decides where raw task output lives: in files beside an embedded
// database (task-output-files.ts), in the rows on PostgreSQL (replicas share no disk).
import { join } from 'node:path';
import type { OpenedDatabase } from './sql.js';
import { openSqlite } from './sqlite.js';
import { TaskOutputFiles } from './task-output-files.js';

export interface DatabaseChoice {
  /** The state directory: SQLite's platform.db lives there. */
  dataDir: string;
  /** A postgres:// URL; absent: SQLite. */
  database?: string;
}

/** `log` gets the storage's problems: PostgreSQL's listener, SQLite's checkpoints (never a secret). */
export async function openDatabase(c: DatabaseChoice, log: (line: string) => void): Promise<OpenedDatabase & { outputFiles: TaskOutputFiles | null }> {
  if (c.database !== undefined) {
    const { openPostgres } = await import('./postgres.js');
    return { ...(await openPostgres(c.database, { log })), outputFiles: null };
  }
  const outputFiles = new TaskOutputFiles(join(c.dataDir, 'task-output'));
  return { ...openSqlite(c.dataDir, { log }), outputFiles };
}
