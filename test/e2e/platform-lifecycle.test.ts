// The credential lifecycle on the real platform, spoken over the wire directly (raw
// fetch, no PlatformClient): revoke a whole workspace, the connection payload, the
// identity headers, revocation ending tasks, the daemon's own revoke, fleet tokens and
// ephemeral daemons.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { enrolRaw, rawCall, registerRaw, startPlatform, type TestPlatform } from '../helpers/platform.js';

const MDT_RE = /^mdt_[0-9a-f]{40}$/;
let p: TestPlatform;
beforeAll(async () => {
  // A public URL with trailing slashes: no payload may contain `//install.sh`.
  p = await startPlatform({ args: ['--public-url', 'https://platform.example/base//', '--log-requests', '--claim-lease', '0'] });
});
afterAll(async () => {
  await p?.stop();
});

/** Raw call with the identity headers a daemon sends. */
async function asDaemon(token: string, path: string, source: { ws?: string; daemon?: string }, body: unknown = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(p.url + path, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      ...(source.ws !== undefined ? { 'x-workspace-id': source.ws } : {}),
      ...(source.daemon !== undefined ? { 'x-daemon-id': source.daemon } : {}),
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const until = async <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** Claims every queued task for this runtime (no long poll). */
async function claimAll(token: string, runtimeId: string, daemon: string): Promise<{ id: string }[]> {
  const r = await rawCall(p, token, 'POST', '/api/daemon/tasks/claim', { daemon_id: daemon, runtime_ids: [runtimeId], max_tasks: 32, wait_s: 0 });
  expect(r.status).toBe(200);
  return r.json.tasks as { id: string }[];
}

describe('connection payload (one builder: install token, rotate, connection info)', () => {
  it('install-token creation: trimmed URL, the mit_ in the one-liner, snippets from the same values', async () => {
    const t = await p.admin.createInstallToken(p.workspaceId);
    expect(t.platform_url).toBe('https://platform.example/base');
    expect(t.workspace_id).toBe(p.workspaceId);
    expect(t.daemon_id).toBe('');
    expect(t.snippets.one_liner).toBe(`curl -fsSL https://platform.example/base/install.sh | AGENTD_INSTALL_TOKEN=${t.token} sh`);
    expect(t.snippets.env).toContain(`AGENTD_WORKSPACE_ID=${p.workspaceId}`);
    for (const s of Object.values(t.snippets)) expect(s.replace('https://', '')).not.toContain('//');
    expect(Object.keys(t.snippets).sort()).toEqual(['credentials_set', 'env', 'one_liner']);
  });

  it('rotate shows the new token once, in the payload and its snippets; connection info blanks it', async () => {
    await registerRaw(p, 'conn-d1');
    const rot = await p.admin.rotateDaemon(p.workspaceId, 'conn-d1');
    expect(rot.token).toMatch(MDT_RE);
    expect(rot.daemon_id).toBe('conn-d1');
    expect(rot.platform_url).toBe('https://platform.example/base');
    expect(rot.snippets.credentials_set).toContain(`'${rot.token}'`);
    expect(rot.snippets.env).toContain(`AGENTD_DAEMON_TOKEN=${rot.token}`);
    expect(rot.snippets.env).toContain('AGENTD_DAEMON_ID=conn-d1');
    const info = await p.admin.connection(p.workspaceId, 'conn-d1');
    expect(info.token).toBe('');
    expect(JSON.stringify(info)).not.toContain(rot.token);
    // The same shape, the same values: only the token differs.
    expect(Object.keys(info).sort()).toEqual(Object.keys(rot).filter((k) => !k.startsWith('tasks_')).sort());
    expect(info.snippets.one_liner).toBe(rot.snippets.one_liner);
    expect(info.snippets.one_liner).toBe('curl -fsSL https://platform.example/base/install.sh | sh');
    expect(info.snippets.credentials_set).toContain("'mdt_…'");
  });

  it('unknown daemon 404, empty id 400 (connection and rotate)', async () => {
    const ws = `/api/workspaces/${p.workspaceId}`;
    for (const [method, suffix] of [['GET', 'connection'], ['POST', 'rotate']] as const) {
      const unknown = await rawCall(p, p.adminToken, method, `${ws}/daemons/nope/${suffix}`);
      expect(unknown).toEqual({ status: 404, json: { error: 'daemon not found' } });
      const empty = await rawCall(p, p.adminToken, method, `${ws}/daemons//${suffix}`);
      expect(empty).toEqual({ status: 400, json: { error: 'daemon id is required' } });
    }
    expect(await rawCall(p, p.adminToken, 'GET', '/api/workspaces//daemons/x/connection')).toEqual({ status: 400, json: { error: 'workspace id is required' } });
  });
});

describe('POST /api/workspaces/{ws}/revoke-tokens', () => {
  it('revokes every live credential in one call, then answers revoked 0; tokens stop working', async () => {
    // A workspace of its own would need a second workspace; use fresh daemons and count them.
    const before = (await p.admin.listDaemons(p.workspaceId)).filter((d) => !d.revoked).length;
    const a = await registerRaw(p, 'all-a');
    const b = await registerRaw(p, 'all-b');
    const r1 = await p.admin.revokeAllDaemons(p.workspaceId);
    expect(r1.revoked).toBe(before + 2);
    const r2 = await p.admin.revokeAllDaemons(p.workspaceId);
    expect(r2).toEqual({ revoked: 0, tasks_failed: 0, tasks_requeued: 0 });
    for (const t of [a.token, b.token]) expect((await rawCall(p, t, 'POST', '/api/daemon/heartbeat', { runtime_id: a.runtimeIds.command })).status).toBe(401);
    expect((await p.admin.listDaemons(p.workspaceId)).every((d) => d.revoked)).toBe(true);
  });

  it('unknown workspace 404, empty id 400, no admin token 401', async () => {
    expect(await rawCall(p, p.adminToken, 'POST', '/api/workspaces/nope/revoke-tokens')).toEqual({ status: 404, json: { error: 'workspace not found' } });
    expect(await rawCall(p, p.adminToken, 'POST', '/api/workspaces//revoke-tokens')).toEqual({ status: 400, json: { error: 'workspace id is required' } });
    expect((await rawCall(p, 'adm_wrong', 'POST', `/api/workspaces/${p.workspaceId}/revoke-tokens`)).status).toBe(401);
  });

  it('a database error is 500 {error}, and nothing was revoked', async () => {
    const live = await registerRaw(p, 'all-dberr');
    const revoke = () => rawCall(p, p.adminToken, 'POST', `/api/workspaces/${p.workspaceId}/revoke-tokens`);
    if (p.database) {
      // PostgreSQL waits for a lock as long as it takes, so the error is made otherwise:
      // the table the revocation writes is gone for the call.
      const c = new pg.Client({ connectionString: p.database });
      await c.connect();
      await c.query('ALTER TABLE daemon_token RENAME TO daemon_token_away');
      try {
        const r = await revoke();
        expect(r.status).toBe(500);
        expect(r.json.error).toMatch(/^database error \(42P01\): nothing was revoked; call again/);
      } finally {
        await c.query('ALTER TABLE daemon_token_away RENAME TO daemon_token');
        await c.end();
      }
    } else {
      // Another connection holds the write lock longer than the platform's busy_timeout (5 s).
      const db = new Database(join(p.dataDir, 'platform.db'));
      db.prepare('BEGIN EXCLUSIVE').run();
      try {
        const r = await revoke();
        expect(r.status).toBe(500);
        expect(r.json.error).toMatch(/^database error \(SQLITE_BUSY\): nothing was revoked; call again/);
      } finally {
        db.prepare('ROLLBACK').run();
        db.close();
      }
    }
    expect((await rawCall(p, live.token, 'POST', '/api/daemon/heartbeat', { runtime_id: live.runtimeIds.command })).status).toBe(200);
  }, 30_000);
});

describe('revocation ends the daemon\'s work on the platform at once', () => {
  async function busyDaemon(id: string): Promise<{ token: string; running: string; claimed: string }> {
    const d = await registerRaw(p, id, [`rt-${id}`]);
    const running = (await p.admin.enqueueTask(p.workspaceId, { runtime: `rt-${id}`, prompt: 'x' })).id;
    const claimed = (await p.admin.enqueueTask(p.workspaceId, { runtime: `rt-${id}`, prompt: 'y' })).id;
    expect((await claimAll(d.token, d.runtimeIds[`rt-${id}`]!, id)).map((t) => t.id).sort()).toEqual([running, claimed].sort());
    expect((await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${running}/start`)).status).toBe(200);
    return { token: d.token, running, claimed };
  }
  async function expectEnded(b: { running: string; claimed: string }): Promise<void> {
    const run = await p.admin.getTask(p.workspaceId, b.running);
    expect(run.status).toBe('failed');
    expect(run.failure_reason).toBe('runtime_offline');
    expect(run.error).toMatch(/lost its credential/);
    const cl = await p.admin.getTask(p.workspaceId, b.claimed);
    expect(cl.status).toBe('queued');
    expect(cl.daemon_id).toBeNull();
  }

  it('revoke one daemon', async () => {
    const b = await busyDaemon('end-one');
    expect(await p.admin.revokeDaemon(p.workspaceId, 'end-one')).toEqual({ ok: true, tasks_failed: 1, tasks_requeued: 1 });
    await expectEnded(b);
  });

  it('rotate', async () => {
    const b = await busyDaemon('end-rot');
    const r = await p.admin.rotateDaemon(p.workspaceId, 'end-rot');
    expect([r.tasks_failed, r.tasks_requeued]).toEqual([1, 1]);
    await expectEnded(b);
    // The new credential authenticates (404: an unknown runtime, not 401).
    expect((await rawCall(p, r.token, 'POST', '/api/daemon/heartbeat', { runtime_id: 'x' })).status).toBe(404);
  });

  it('revoke all', async () => {
    const b = await busyDaemon('end-all');
    const r = await p.admin.revokeAllDaemons(p.workspaceId);
    expect(r.revoked).toBeGreaterThanOrEqual(1);
    expect(r.tasks_failed).toBeGreaterThanOrEqual(1);
    await expectEnded(b);
  });

  it("the daemon's own revoke (POST /api/daemon/revoke, what agentd uninstall calls)", async () => {
    const b = await busyDaemon('end-self');
    const r = await asDaemon(b.token, '/api/daemon/revoke', { ws: p.workspaceId, daemon: 'end-self' });
    expect(r).toEqual({ status: 200, json: { ok: true, tasks_failed: 1, tasks_requeued: 1 } });
    await expectEnded(b);
    // The credential is gone: 401, not a 404 of a deregistered daemon.
    expect((await asDaemon(b.token, '/api/daemon/revoke', {})).status).toBe(401);
    expect((await rawCall(p, b.token, 'POST', '/api/daemon/register', { runtimes: [] })).status).toBe(401);
    const d = (await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === 'end-self');
    expect(d).toMatchObject({ revoked: true, deregistered: true, online: false });
  });
});

describe('identity headers: X-Workspace-ID and X-Daemon-ID', () => {
  it('match: 200; mismatch: 403; absent: accepted; recorded in the request log', async () => {
    const d = await registerRaw(p, 'hdr-d1');
    const hb = { runtime_id: d.runtimeIds.command };
    expect((await asDaemon(d.token, '/api/daemon/heartbeat', { ws: p.workspaceId, daemon: 'hdr-d1' }, hb)).status).toBe(200);
    expect(await asDaemon(d.token, '/api/daemon/heartbeat', { ws: 'other-ws', daemon: 'hdr-d1' }, hb)).toEqual({ status: 403, json: { error: 'X-Workspace-ID does not match the daemon token' } });
    expect(await asDaemon(d.token, '/api/daemon/heartbeat', { ws: p.workspaceId, daemon: 'someone-else' }, hb)).toEqual({ status: 403, json: { error: 'X-Daemon-ID does not match the daemon token' } });
    expect((await asDaemon(d.token, '/api/daemon/heartbeat', {}, hb)).status).toBe(200);
    await until('the request log line', async () => (p.output().includes(`POST /api/daemon/heartbeat 200`) && p.output().includes(`ws=${p.workspaceId} daemon=hdr-d1`) ? true : undefined));
    expect(p.output()).toMatch(new RegExp(`POST /api/daemon/heartbeat 403 [\\d.]+ms ws=other-ws daemon=hdr-d1`));
    expect(p.output()).not.toMatch(/m[dia]t_[0-9a-f]{40}/);
  });
});

describe('fleet tokens: {"uses": N, "ttl_s": S}', () => {
  it('defaults: one use, 900 s', async () => {
    const t = await p.admin.createInstallToken(p.workspaceId);
    expect([t.uses, t.uses_left, t.ephemeral]).toEqual([1, 1, false]);
    expect(Date.parse(t.expires_at) - Date.parse(t.created_at)).toBe(900_000);
  });

  it('bounded: uses 1-1000, ttl_s 1-604800', async () => {
    const ws = `/api/workspaces/${p.workspaceId}/install-tokens`;
    for (const bad of [{ uses: 0 }, { uses: 1001 }, { uses: 1.5 }, { ttl_s: 0 }, { ttl_s: 604_801 }, { uses: '3' }, { ephemeral: 'yes' }]) {
      const r = await rawCall(p, p.adminToken, 'POST', ws, bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
    }
    const t = await p.admin.createInstallToken(p.workspaceId, { uses: 1000, ttl_s: 604_800 });
    expect(Date.parse(t.expires_at) - Date.parse(t.created_at)).toBe(604_800_000);
  });

  it('N concurrent exchanges of an N-use token: exactly N succeed; the list shows uses left', async () => {
    const n = 5;
    const t = await p.admin.createInstallToken(p.workspaceId, { uses: n, ttl_s: 600 });
    expect((await p.admin.listInstallTokens(p.workspaceId)).find((x) => x.id === t.id)).toMatchObject({ uses: n, uses_left: n });
    expect(JSON.stringify(await p.admin.listInstallTokens(p.workspaceId))).not.toMatch(/mit_[0-9a-f]{40}/);
    const tries = 2 * n;
    const answers = await Promise.all(
      Array.from({ length: tries }, (_, i) => rawCall(p, undefined, 'POST', '/api/install-tokens/exchange', { token: t.token, daemon_id: `fleet-${i}` })),
    );
    const ok = answers.filter((a) => a.status === 200);
    expect(ok).toHaveLength(n);
    expect(new Set(ok.map((a) => a.json.token)).size).toBe(n);
    for (const a of answers.filter((x) => x.status !== 200)) expect(a).toEqual({ status: 401, json: { error: 'install_token_already_used' } });
    // Used up: no longer listed as able to enrol.
    expect((await p.admin.listInstallTokens(p.workspaceId)).find((x) => x.id === t.id)).toBeUndefined();
  });

  it('exactly N concurrent exchanges of an N-use token all succeed; the next one is refused', async () => {
    const n = 4;
    const t = await p.admin.createInstallToken(p.workspaceId, { uses: n });
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => rawCall(p, undefined, 'POST', '/api/install-tokens/exchange', { token: t.token, daemon_id: `exact-${i}` })));
    expect(answers.map((a) => a.status)).toEqual(Array(n).fill(200));
    expect(await rawCall(p, undefined, 'POST', '/api/install-tokens/exchange', { token: t.token, daemon_id: 'exact-late' })).toEqual({ status: 401, json: { error: 'install_token_already_used' } });
  });

  it('uses left count down one exchange at a time', async () => {
    const t = await p.admin.createInstallToken(p.workspaceId, { uses: 3 });
    await rawCall(p, undefined, 'POST', '/api/install-tokens/exchange', { token: t.token, daemon_id: 'count-1' });
    expect((await p.admin.listInstallTokens(p.workspaceId)).find((x) => x.id === t.id)?.uses_left).toBe(2);
  });
});

describe('ephemeral daemons', () => {
  let q: TestPlatform;
  beforeAll(async () => {
    q = await startPlatform({ args: ['--ephemeral-offline-after', '1s', '--offline-after', '1s'] });
  });
  afterAll(async () => {
    await q?.stop();
  });

  it('an ephemeral daemon (token flag or exchange flag) silent for the offline time is revoked and deregistered; others stay', async () => {
    const eph = await q.admin.createInstallToken(q.workspaceId, { ephemeral: true });
    expect(eph.ephemeral).toBe(true);
    const byToken = await rawCall(q, undefined, 'POST', '/api/install-tokens/exchange', { token: eph.token, daemon_id: 'eph-token' });
    expect(byToken.json.ephemeral).toBe(true);
    const plain = await q.admin.createInstallToken(q.workspaceId);
    const byFlag = await rawCall(q, undefined, 'POST', '/api/install-tokens/exchange', { token: plain.token, daemon_id: 'eph-flag', ephemeral: true });
    expect(byFlag.json.ephemeral).toBe(true);
    const keep = await enrolRaw(q, 'not-ephemeral');
    for (const [tok, id] of [
      [byToken.json.token, 'eph-token'],
      [byFlag.json.token, 'eph-flag'],
      [keep, 'not-ephemeral'],
    ] as const) {
      const r = await rawCall(q, tok, 'POST', '/api/daemon/register', { daemon_id: id, runtimes: [{ name: 'command' }] });
      expect(r.status).toBe(200);
    }
    const gone = await until('the ephemeral daemons to be removed', async () => {
      const list = await q.admin.listDaemons(q.workspaceId);
      const e = list.filter((d) => d.ephemeral);
      return e.length === 2 && e.every((d) => d.revoked && d.deregistered) ? list : undefined;
    });
    expect(gone.find((d) => d.daemon_id === 'not-ephemeral')).toMatchObject({ revoked: false });
    expect(gone.find((d) => d.daemon_id === 'not-ephemeral')?.ephemeral).toBeUndefined();
    expect((await rawCall(q, byToken.json.token, 'POST', '/api/daemon/register', { runtimes: [] })).status).toBe(401);
    expect(q.output()).toMatch(/ephemeral daemon eph-(token|flag) \(workspace [^)]+\) offline for 1000 ms: revoked and deregistered/);
  });
});
