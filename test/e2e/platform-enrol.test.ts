// Enrolment against the real platform process: docs/protocol.md exchange contract.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAEMON_TOKEN_RE, INSTALL_TOKEN_RE } from '../../api/types.js';
import { AdminApiError } from '../../platform/admin-client.js';
import { rawCall, registerRaw, startPlatform, type TestPlatform } from '../helpers/platform.js';

async function exchange(p: TestPlatform, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${p.url}/api/install-tokens/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function daemonCall(p: TestPlatform, token: string, path: string, body: unknown): Promise<number> {
  const res = await fetch(`${p.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('platform enrolment', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startPlatform();
  });
  afterAll(async () => {
    await p?.stop();
  });

  it('lists the default workspace and rejects a missing or wrong admin token', async () => {
    const ws = await p.admin.listWorkspaces();
    expect(ws.map((w) => w.id)).toContain(p.workspaceId);
    const noAuth = await fetch(`${p.url}/api/workspaces`);
    expect(noAuth.status).toBe(401);
    expect(await noAuth.json()).toEqual({ error: 'admin token required' });
    const wrong = await fetch(`${p.url}/api/workspaces`, { headers: { authorization: `Bearer ${p.adminToken}x` } });
    expect(wrong.status).toBe(401);
  });

  it('mints an install token and exchanges it once for a daemon token', async () => {
    const created = await p.admin.createInstallToken(p.workspaceId);
    expect(created.token).toMatch(INSTALL_TOKEN_RE);
    expect(created.workspace_id).toBe(p.workspaceId);
    const ttl = Date.parse(created.expires_at) - Date.parse(created.created_at);
    expect(ttl).toBe(15 * 60_000);

    const ok = await exchange(p, { token: created.token, daemon_id: 'd-happy' });
    expect(ok.status).toBe(200);
    expect(ok.json.token).toMatch(DAEMON_TOKEN_RE);
    expect(ok.json).toMatchObject({ workspace_id: p.workspaceId, daemon_id: 'd-happy' });
    expect(Date.parse(ok.json.expires_at as string)).toBeGreaterThan(Date.now() + 50 * 365 * 86_400_000);

    const again = await exchange(p, { token: created.token, daemon_id: 'd-happy' });
    expect(again).toEqual({ status: 401, json: { error: 'install_token_already_used' } });
  });

  it('answers each error code of the contract', async () => {
    expect(await exchange(p, { token: 'abc', daemon_id: 'd' })).toEqual({ status: 400, json: { error: 'invalid_install_token' } });
    expect(await exchange(p, { token: 'mdt_' + 'a'.repeat(40), daemon_id: 'd' })).toEqual({ status: 400, json: { error: 'invalid_install_token' } });
    const fresh = await p.admin.createInstallToken(p.workspaceId);
    expect(await exchange(p, { token: fresh.token })).toEqual({ status: 400, json: { error: 'daemon_id is required' } });
    expect(await exchange(p, { token: fresh.token, daemon_id: '  ' })).toEqual({ status: 400, json: { error: 'daemon_id is required' } });
    expect(await exchange(p, { token: 'mit_' + '0'.repeat(40), daemon_id: 'd' })).toEqual({ status: 401, json: { error: 'invalid_install_token' } });
    expect(await exchange(p, '{not json')).toEqual({ status: 400, json: { error: 'request body is not valid JSON' } });
    // The failed attempts above did not burn the fresh token.
    expect((await exchange(p, { token: fresh.token, daemon_id: 'd-fresh' })).status).toBe(200);
  });

  it('caps request bodies at 1 MiB', async () => {
    const res = await fetch(`${p.url}/api/install-tokens/exchange`, { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toMatch(/larger than/);
  });

  it('lets exactly one of 20 concurrent exchanges of one token succeed', async () => {
    const { token } = await p.admin.createInstallToken(p.workspaceId);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(p, { token, daemon_id: `d-race-${i}` })));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    const rest = results.filter((r) => r.status !== 200);
    expect(rest.every((r) => r.status === 401 && r.json.error === 'install_token_already_used')).toBe(true);
  });

  it('a second install token cannot take over an enrolled daemon id: 409 daemon_id_in_use, token unspent, operator told', async () => {
    const a = await exchange(p, { token: (await p.admin.createInstallToken(p.workspaceId)).token, daemon_id: 'd-re' });
    const reg = { workspace_id: p.workspaceId, daemon_id: 'd-re', device_name: 'box', cli_version: '1', runtimes: [] };
    expect(await daemonCall(p, a.json.token as string, '/api/daemon/register', reg)).toBe(200);

    // The attacker read d-re from the victim's /status and holds a fresh install token.
    const stolen = (await p.admin.createInstallToken(p.workspaceId)).token;
    expect(await exchange(p, { token: stolen, daemon_id: 'd-re' })).toEqual({ status: 409, json: { error: 'daemon_id_in_use' } });
    // A wrong proof is no proof: another daemon's live credential, or garbage.
    const other = await exchange(p, { token: (await p.admin.createInstallToken(p.workspaceId)).token, daemon_id: 'd-other' });
    expect(await exchange(p, { token: stolen, daemon_id: 'd-re', current_token: other.json.token })).toEqual({ status: 409, json: { error: 'daemon_id_in_use' } });
    expect(await exchange(p, { token: stolen, daemon_id: 'd-re', current_token: 'mdt_' + '0'.repeat(40) })).toEqual({ status: 409, json: { error: 'daemon_id_in_use' } });
    expect(await exchange(p, { token: stolen, daemon_id: 'd-re', current_token: 5 })).toEqual({ status: 400, json: { error: 'current_token must be a string' } });
    // The victim keeps its identity and credential.
    expect(await daemonCall(p, a.json.token as string, '/api/daemon/register', reg)).toBe(200);
    // The operator sees the refused attempts.
    const listed = (await p.admin.listDaemons(p.workspaceId)).find((d) => d.daemon_id === 'd-re')!;
    expect(listed.refused_enrolments).toBe(3);
    expect(listed.last_refused_enrolment_at).toEqual(expect.any(String));
    expect(listed.reenrolled_at).toBeNull();
    // The refused exchanges did not spend the token: it enrols a new identity.
    const fresh = await exchange(p, { token: stolen, daemon_id: 'd-attacker' });
    expect(fresh.status).toBe(200);
    expect(fresh.json.daemon_id).toBe('d-attacker');
  });

  it('re-enrolling with proof of the current credential (agentd install --force) replaces it', async () => {
    const a = await exchange(p, { token: (await p.admin.createInstallToken(p.workspaceId)).token, daemon_id: 'd-force' });
    const reg = { workspace_id: p.workspaceId, daemon_id: 'd-force', device_name: 'box', cli_version: '1', runtimes: [] };
    const b = await exchange(p, { token: (await p.admin.createInstallToken(p.workspaceId)).token, daemon_id: 'd-force', current_token: a.json.token });
    expect(b.status).toBe(200);
    expect(await daemonCall(p, a.json.token as string, '/api/daemon/register', reg)).toBe(401);
    expect(await daemonCall(p, b.json.token as string, '/api/daemon/register', reg)).toBe(200);
    const listed = (await p.admin.listDaemons(p.workspaceId)).find((d) => d.daemon_id === 'd-force')!;
    expect(listed.reenrolled_at).toEqual(expect.any(String));
    expect(listed.refused_enrolments).toBe(0);
  });

  it('a daemon id whose credential the operator revoked may be enrolled again without proof, inheriting none of its unfinished tasks', async () => {
    const rt = `rt-revoked-${process.pid}`;
    const a = await registerRaw(p, 'd-revoked', [rt]);
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'x' });
    const claimed = await rawCall(p, a.token, 'POST', '/api/daemon/tasks/claim', { daemon_id: 'd-revoked', runtime_ids: [a.runtimeIds[rt]], max_tasks: 1 });
    expect(claimed.json.tasks[0].id).toBe(id);
    const mat = claimed.json.tasks[0].auth_token as string;
    expect((await rawCall(p, a.token, 'POST', `/api/daemon/tasks/${id}/start`)).status).toBe(200);
    await p.admin.revokeDaemon(p.workspaceId, 'd-revoked');

    const b = await exchange(p, { token: (await p.admin.createInstallToken(p.workspaceId)).token, daemon_id: 'd-revoked' });
    expect(b.status).toBe(200);
    const reg = { workspace_id: p.workspaceId, daemon_id: 'd-revoked', device_name: 'box', cli_version: '1', runtimes: [] };
    expect(await daemonCall(p, a.token, '/api/daemon/register', reg)).toBe(401);
    expect(await daemonCall(p, b.json.token as string, '/api/daemon/register', reg)).toBe(200);
    // The old machine's running task is over, its mat_ dead; the new holder cannot complete it.
    // (It ended at the revocation itself, runtime_offline, before the re-enrolment.)
    const t = await p.admin.getTask(p.workspaceId, id);
    expect(t).toMatchObject({ status: 'failed', failure_reason: 'runtime_offline' });
    expect(t.error).toContain('lost its credential');
    expect((await rawCall(p, mat, 'GET', `/api/daemon/tasks/${id}/status`)).status).toBe(401);
    expect(await daemonCall(p, b.json.token as string, `/api/daemon/tasks/${id}/complete`, { output: 'forged' })).toBe(200); // terminal: a no-op
    expect((await p.admin.getTask(p.workspaceId, id)).output).toBeNull();
  });

  it('answers 404 for an unknown workspace', async () => {
    await expect(p.admin.createInstallToken('nope')).rejects.toMatchObject({ status: 404, error: 'workspace not found' } satisfies Partial<AdminApiError>);
  });

  it('never logs an install or daemon token', () => {
    expect(p.output()).not.toMatch(/mit_[0-9a-f]{8}|mdt_[0-9a-f]{8}|mat_[0-9a-f]{8}/);
  });
});

describe('platform enrolment: expiry and restart', () => {
  it('refuses an expired install token with invalid_install_token', async () => {
    const p = await startPlatform({ args: ['--install-token-ttl', '1ms'] });
    try {
      const { token } = await p.admin.createInstallToken(p.workspaceId);
      await new Promise((r) => setTimeout(r, 5));
      expect(await exchange(p, { token, daemon_id: 'd-exp' })).toEqual({ status: 401, json: { error: 'invalid_install_token' } });
    } finally {
      await p.stop();
    }
  });

  it('--log-requests logs method, path and status, never a token or a query string', async () => {
    const p = await startPlatform({ args: ['--log-requests'] });
    try {
      const { token } = await p.admin.createInstallToken(p.workspaceId);
      const ok = await exchange(p, { token, daemon_id: 'd-log' });
      await fetch(`${p.url}/api/workspaces?secret=${token}`, { headers: { authorization: `Bearer ${ok.json.token as string}` } });
      await new Promise((r) => setTimeout(r, 100));
      expect(p.output()).toMatch(/^POST \/api\/install-tokens\/exchange 200 [\d.]+ms$/m);
      expect(p.output()).toMatch(/^GET \/api\/workspaces 401 /m);
      expect(p.output()).not.toContain(token);
      expect(p.output()).not.toContain(ok.json.token as string);
    } finally {
      await p.stop();
    }
  });

  it('keeps tokens, workspaces and the admin token across a restart on the same port', async () => {
    const p = await startPlatform();
    try {
      const { token } = await p.admin.createInstallToken(p.workspaceId);
      const spare = await p.admin.createInstallToken(p.workspaceId);
      const ok = await exchange(p, { token, daemon_id: 'd-keep' });
      const port = p.port;
      await p.restart();
      expect(p.port).toBe(port);
      expect((await p.admin.listWorkspaces()).map((w) => w.id)).toEqual([p.workspaceId]);
      expect(await exchange(p, { token, daemon_id: 'd-keep' })).toEqual({ status: 401, json: { error: 'install_token_already_used' } });
      const reg = { workspace_id: p.workspaceId, daemon_id: 'd-keep', device_name: 'box', cli_version: '1', runtimes: [] };
      expect(await daemonCall(p, ok.json.token as string, '/api/daemon/register', reg)).toBe(200);
      expect((await exchange(p, { token: spare.token, daemon_id: 'd-spare' })).status).toBe(200);
      // The generated admin token is printed once, on the start that generated it.
      expect(p.output().split(p.adminToken).length - 1).toBe(1);
    } finally {
      await p.stop();
    }
  });
});
