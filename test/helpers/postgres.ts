// PostgreSQL for tests: the cluster's URL (AGENTD_TEST_POSTGRES_URL, or the throwaway
// cluster test/setup/postgres.ts names, started here by the first test that needs it)
// and a fresh database per test.
//
//   describePostgres('the thing', () => {
//     let t: TestDatabase;
//     beforeEach(async () => (t = await createTestDatabase()));
//     afterEach(() => t.drop());
//   });
//
// Where no PostgreSQL server binary exists the suites skip, saying why once; with
// AGENTD_REQUIRE_POSTGRES=1 (CI) that skip is a failing test instead.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, it } from 'vitest';
import { ROOT } from './bin.js';

const SCRIPT = join(ROOT, 'scripts', 'test-postgres.sh');

/** Why PostgreSQL tests cannot run here, or undefined when they can. Decided once, synchronously (describe.skipIf needs it at collection). */
export const POSTGRES_UNAVAILABLE: string | undefined = (() => {
  if (process.env.AGENTD_TEST_POSTGRES_URL) return undefined;
  if (!process.env.AGENTD_TEST_POSTGRES_DIR) return 'no AGENTD_TEST_POSTGRES_URL and no cluster directory (run through vitest, whose global setup names one)';
  try {
    execFileSync('bash', [SCRIPT, 'bindir'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'no PostgreSQL server binaries found (Debian: apt-get install postgresql), and AGENTD_TEST_POSTGRES_URL is unset';
  }
})();

let told = false;

/** describe() for suites that need PostgreSQL: skipped (with the reason, once) where there is none; a failure when AGENTD_REQUIRE_POSTGRES=1. */
export function describePostgres(name: string, fn: () => void): void {
  if (POSTGRES_UNAVAILABLE === undefined) {
    describe(name, fn);
    return;
  }
  if (process.env.AGENTD_REQUIRE_POSTGRES === '1') {
    describe(name, () => {
      it('needs PostgreSQL (AGENTD_REQUIRE_POSTGRES=1)', () => {
        throw new Error(`PostgreSQL tests must run here but cannot: ${POSTGRES_UNAVAILABLE}`);
      });
    });
    return;
  }
  if (!told) {
    told = true;
    process.stderr.write(`PostgreSQL tests skipped: ${POSTGRES_UNAVAILABLE}\n`);
  }
  describe.skip(name, fn);
}

let clusterUrl: Promise<string> | undefined;

/** The cluster's URL (its `postgres` database), starting the run's throwaway cluster on first use. */
export function postgresUrl(): Promise<string> {
  clusterUrl ??= startOnce();
  return clusterUrl;
}

async function startOnce(): Promise<string> {
  const given = process.env.AGENTD_TEST_POSTGRES_URL;
  if (given) return given;
  const dir = process.env.AGENTD_TEST_POSTGRES_DIR;
  if (!dir) throw new Error(`PostgreSQL is not available: ${POSTGRES_UNAVAILABLE}`);
  // Test files run in several workers: the first to create the lock directory starts the
  // cluster, the others wait for its URL (or its failure).
  const urlFile = join(dir, 'url');
  const lock = join(dir, 'start.lock');
  const failed = join(lock, 'failed');
  mkdirSync(dir, { recursive: true });
  let mine = false;
  try {
    mkdirSync(lock);
    mine = true;
  } catch {
    // another worker is starting it
  }
  if (mine) {
    try {
      const { stdout } = await promisify(execFile)('bash', [SCRIPT, 'start', dir]);
      return stdout.trim();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      writeFileSync(failed, why);
      throw new Error(`cannot start the test PostgreSQL cluster: ${why}`);
    }
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (existsSync(urlFile)) return readFileSync(urlFile, 'utf8').trim();
    if (existsSync(failed)) throw new Error(`cannot start the test PostgreSQL cluster: ${readFileSync(failed, 'utf8')}`);
    if (Date.now() > deadline) throw new Error(`the test PostgreSQL cluster in ${dir} did not start within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface TestDatabase {
  /** A URL for the new database. */
  url: string;
  name: string;
  /** Drops it (closing any connection still open to it). */
  drop(): Promise<void>;
}

/** `url` with its database (path) replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: await postgresUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh, empty database on the test cluster: agentd_t_<random>. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `agentd_t_${randomBytes(6).toString('hex')}`;
  await admin(async (c) => {
    // Two CREATE DATABASEs at once may find template1 busy; that passes.
    for (let attempt = 1; ; attempt++) {
      try {
        await c.query(`CREATE DATABASE ${name}`);
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== '55006' || attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  });
  const base = await postgresUrl();
  return {
    url: withDatabase(base, name),
    name,
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}
