// The built platform (dist/agentd-platform.mjs) on PostgreSQL: `--database` and
// AGENTD_PLATFORM_DATABASE, the migrations the bundle carries applied at the first start,
// two processes over one database sharing its state, a restart keeping it, and the
// refusals at start (exit code, message, next command, never the password).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from '../../platform/migrations/postgres.js';
import { PLATFORM_CMD } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../helpers/postgres.js';

const SECRET = 'pw-never-shown-42';

async function query<T>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

describe('agentd-platform serve --database: refusals at start', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-platform-pg-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const serve = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(PLATFORM_CMD[0]!, [...PLATFORM_CMD.slice(1), 'serve', '--data', join(dir, 'data'), ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });

  it('a value that is not a PostgreSQL URL: exit 78, what to pass instead, the value never shown', () => {
    const r = serve(['--database', `mysql://u:${SECRET}@127.0.0.1/x`]);
    expect(r.status).toBe(78);
    expect(r.stderr).toContain('agentd-platform: the --database URL has the scheme "mysql": expected postgres or postgresql');
    expect(r.stderr).toContain('Pass --database postgres://USER:PASSWORD@HOST:PORT/DATABASE');
    expect(r.stderr + r.stdout).not.toContain(SECRET);
    const e = serve([], { AGENTD_PLATFORM_DATABASE: `sqlite:${SECRET}` });
    expect(e.status).toBe(78);
    expect(e.stderr).toContain('AGENTD_PLATFORM_DATABASE=(hidden) is not valid: expected a PostgreSQL URL');
    expect(e.stderr + e.stdout).not.toContain(SECRET);
  });

  it('an unreachable server: exit 69, host and port, pg_isready; a password on the command line is warned about, never shown', () => {
    // Port 1 on loopback: nothing listens there.
    const r = serve(['--database', `postgres://agentd:${SECRET}@127.0.0.1:1/agentd`]);
    expect(r.status).toBe(69);
    expect(r.stderr).toContain('agentd-platform: cannot reach PostgreSQL at 127.0.0.1:1 (postgres://agentd:***@127.0.0.1:1/agentd): connect ECONNREFUSED');
    expect(r.stderr).toContain('pg_isready -h 127.0.0.1 -p 1');
    expect(r.stderr).toContain('the --database URL carries a password');
    expect(r.stderr + r.stdout).not.toContain(SECRET);
  });
});

describePostgres('agentd-platform serve --database on a real server', () => {
  let db: TestDatabase;
  const platforms: TestPlatform[] = [];
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    for (const p of platforms.splice(0)) await p.stop();
    await db.drop();
  });

  it('applies the bundled migrations at the first start and keeps its state across a restart', async () => {
    const p = await startPlatform({ database: db.url });
    platforms.push(p);
    expect(p.output()).toContain(`data in PostgreSQL ${db.url}`);
    const versions = await query<{ version: number }>(db.url, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.map((v) => Number(v.version))).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version));
    const { token } = await p.admin.createInstallToken(p.workspaceId);
    expect(token).toMatch(/^mit_/);
    await p.restart();
    const tokens = await query<{ n: string }>(db.url, 'SELECT COUNT(*) AS n FROM install_token');
    expect(tokens).toEqual([{ n: '1' }]);
    const ws = await query<{ id: string }>(db.url, 'SELECT id FROM workspace');
    expect(ws).toEqual([{ id: p.workspaceId }]);
  });

  it('two processes started together over one database: one schema, one default workspace, shared state', async () => {
    const [a, b] = await Promise.all([startPlatform({ database: db.url }), startPlatform({ database: db.url })]);
    platforms.push(a, b);
    expect(a.workspaceId).toBe(b.workspaceId);
    const { token } = await a.admin.createInstallToken(a.workspaceId);
    // A token minted through one process is exchanged through the other.
    const r = await fetch(`${b.url}/api/install-tokens/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, daemon_id: 'pg-e2e-1' }),
    });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { token: string }).token).toMatch(/^mdt_/);
  });

  it('reads the URL from AGENTD_PLATFORM_DATABASE', async () => {
    const p = await startPlatform({ env: { AGENTD_PLATFORM_DATABASE: db.url }, database: '' });
    platforms.push(p);
    expect(p.output()).toContain(`data in PostgreSQL ${db.url}`);
  });
});
