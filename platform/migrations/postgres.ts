// The PostgreSQL migrations, in order. Each file is a numbered SQL file beside this one,
// embedded as text by the bundler (scripts/esbuild-node.mjs: `.sql` loads as text; the
// test runner's config does the same), so dist/agentd-platform.mjs carries its schema
// and needs no folder next to it. A migration, once released, is never edited: a later
// change is a new number. test/unit/platform-postgres.test.ts checks this list against
// the folder.
import m0001 from './postgres/0001_initial.sql';
import m0002 from './postgres/0002_task_output_files.sql';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  { version: 1, name: '0001_initial', sql: m0001 },
  { version: 2, name: '0002_task_output_files', sql: m0002 },
];
