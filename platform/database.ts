// Which storage the platform runs on: SQLite under the data directory (the default,
// embedded, nothing to set up) or PostgreSQL at --database (several replicas over one
// database). The PostgreSQL driver is loaded only when asked for, so a SQLite start
// never pays for it.
import type { OpenedDatabase } from './sql.js';
import { openSqlite } from './sqlite.js';

export interface DatabaseChoice {
  /** The state directory: SQLite's platform.db lives there. */
  dataDir: string;
  /** A postgres:// URL; absent: SQLite. */
  database?: string;
}

/** `log` gets the storage's problems: PostgreSQL's listener, SQLite's checkpoints (never a secret). */
export async function openDatabase(c: DatabaseChoice, log: (line: string) => void): Promise<OpenedDatabase> {
  if (c.database !== undefined) {
    const { openPostgres } = await import('./postgres.js');
    return openPostgres(c.database, { log });
  }
  return openSqlite(c.dataDir, { log });
}
