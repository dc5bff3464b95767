// Daemon and operator routes against the real platform process: register, heartbeat,
// deregister, revoke (no cache window), rotate, connection info, the daemon list.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAEMON_TOKEN_RE } from '../../api/types.js';
import { enrolRaw, rawCall, registerRaw, startPlatform, type TestPlatform } from '../helpers/platform.js';

describe('platform daemon routes', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startPlatform({ args: ['--offline-after', '2s'] });
  });
  afterAll(async () => {
    await p?.stop();
  });

  it('register returns stable runtime ids for the same daemon and runtime name', async () => {
    const token = await enrolRaw(p, 'd-stable');
    const body = (runtimes: string[]) => ({
      workspace_id: p.workspaceId,
      daemon_id: 'd-stable',
      device_name: 'box-1',
      cli_version: '0.1.0',
      runtimes: runtimes.map((name) => ({ name, type: name, version: '1', status: 'online' })),
    });
    const a = await rawCall(p, token, 'POST', '/api/daemon/register', body(['command', 'claude']));
    expect(a.status).toBe(200);
    expect(a.json.runtimes.map((r: { name: string }) => r.name)).toEqual(['command', 'claude']);
    const b = await rawCall(p, token, 'POST', '/api/daemon/register', body(['claude', 'command']));
    const ids = (x: typeof a) => Object.fromEntries(x.json.runtimes.map((r: { name: string; id: string }) => [r.name, r.id]));
    expect(ids(b)).toEqual(ids(a));
    // A different daemon gets different ids for the same names.
    const other = await registerRaw(p, 'd-other', ['command']);
    expect(other.runtimeIds.command).not.toBe(ids(a).command);
  });

  it('register refuses a workspace or daemon id other than the token’s', async () => {
    const token = await enrolRaw(p, 'd-mismatch');
    const r = await rawCall(p, token, 'POST', '/api/daemon/register', { workspace_id: 'other', daemon_id: 'd-mismatch', device_name: 'x', cli_version: '1', runtimes: [] });
    // Multica answers another workspace than the token's as not found.
    expect(r).toEqual({ status: 404, json: { error: 'workspace not found' } });
    const r2 = await rawCall(p, token, 'POST', '/api/daemon/register', { workspace_id: p.workspaceId, daemon_id: 'someone-else', device_name: 'x', cli_version: '1', runtimes: [] });
    expect(r2.status).toBe(403);
    const r3 = await rawCall(p, token, 'POST', '/api/daemon/register', { workspace_id: p.workspaceId, daemon_id: 'd-mismatch', runtimes: 'nope' });
    expect(r3.status).toBe(400);
    expect(r3.json.error).toBe('runtimes must be an array');
  });

  it('heartbeat updates the daemon list; an unknown runtime is 404', async () => {
    const { token, runtimeIds } = await registerRaw(p, 'd-hb');
    const hb = await rawCall(p, token, 'POST', '/api/daemon/heartbeat', { runtime_id: runtimeIds.command });
    expect(hb).toEqual({ status: 200, json: { status: 'ok', runtime_id: runtimeIds.command, runtime_status: 'online' } });
    expect(await rawCall(p, token, 'POST', '/api/daemon/heartbeat', { runtime_id: 'nope' })).toEqual({ status: 404, json: { error: 'runtime not found' } });
    // Another daemon's runtime is not this daemon's to heartbeat.
    const other = await registerRaw(p, 'd-hb-other');
    expect((await rawCall(p, token, 'POST', '/api/daemon/heartbeat', { runtime_id: other.runtimeIds.command })).status).toBe(404);

    const d = (await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === 'd-hb')!;
    expect(d).toMatchObject({ device_name: 'd-hb-host', cli_version: 'test-1.2.3', os: 'linux', online: true, revoked: false, deregistered: false, running_tasks: 0 });
    expect(Date.now() - Date.parse(d.last_heartbeat_at!)).toBeLessThan(10_000);
    expect(d.runtimes.map((r) => [r.name, r.id, r.status])).toEqual([['command', runtimeIds.command, 'online']]);
  });

  it('a daemon without heartbeat for --offline-after shows offline', async () => {
    await registerRaw(p, 'd-quiet');
    const online = (await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === 'd-quiet')!;
    expect(online.online).toBe(true);
    await new Promise((r) => setTimeout(r, 2100));
    const later = (await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === 'd-quiet')!;
    expect(later.online).toBe(false);
  });

  it('deregister marks the runtimes and the daemon deregistered', async () => {
    const { token, runtimeIds } = await registerRaw(p, 'd-dereg', ['command', 'codex']);
    expect((await rawCall(p, token, 'POST', '/api/daemon/deregister', { runtime_ids: [runtimeIds.command] })).status).toBe(200);
    let d = (await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === 'd-dereg')!;
    expect(d.deregistered).toBe(false);
    expect((await rawCall(p, token, 'POST', '/api/daemon/deregister', { runtime_ids: Object.values(runtimeIds) })).status).toBe(200);
    d = (await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === 'd-dereg')!;
    expect(d).toMatchObject({ deregistered: true, online: false });
  });

  it('every daemon call needs a live mdt_', async () => {
    for (const t of [undefined, 'garbage', p.adminToken, 'mdt_' + 'f'.repeat(40)]) {
      const r = await rawCall(p, t, 'POST', '/api/daemon/heartbeat', { runtime_id: 'x' });
      expect(r).toEqual({ status: 401, json: { error: 'invalid or revoked daemon token' } });
    }
  });

  it('a heartbeat body is checked after the credential: a bad credential is 401 whatever the body', async () => {
    const { token, runtimeIds } = await registerRaw(p, 'd-hb-body');
    const post = async (t: string | undefined, body: string) => {
      const res = await fetch(p.url + '/api/daemon/heartbeat', {
        method: 'POST',
        headers: { ...(t === undefined ? {} : { authorization: `Bearer ${t}` }), 'content-type': 'application/json' },
        body,
      });
      return { status: res.status, json: (await res.json()) as unknown };
    };
    const big = JSON.stringify({ runtime_id: runtimeIds.command, pad: 'x'.repeat(100_000) });
    for (const body of ['{not json', '{}', '{"runtime_id": 7}', big]) {
      expect(await post('mdt_' + 'f'.repeat(40), body)).toEqual({ status: 401, json: { error: 'invalid or revoked daemon token' } });
      expect((await post(undefined, body)).status).toBe(401);
    }
    expect(await post(token, '{not json')).toEqual({ status: 400, json: { error: 'request body is not valid JSON' } });
    expect((await post(token, '{}')).status).toBe(400);
    expect((await post(token, big)).status).toBe(413);
    // The identity headers still have to match the credential.
    const res = await fetch(p.url + '/api/daemon/heartbeat', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-daemon-id': 'someone-else' },
      body: JSON.stringify({ runtime_id: runtimeIds.command }),
    });
    expect(res.status).toBe(403);
    expect((await post(token, JSON.stringify({ runtime_id: runtimeIds.command }))).status).toBe(200);
  });

  it('revoke makes the very next daemon call 401, and is idempotent', async () => {
    const { token, runtimeIds } = await registerRaw(p, 'd-revoke');
    expect((await rawCall(p, token, 'POST', '/api/daemon/heartbeat', { runtime_id: runtimeIds.command })).status).toBe(200);
    await p.admin.revokeDaemon(p.workspaceId, 'd-revoke');
    expect((await rawCall(p, token, 'POST', '/api/daemon/heartbeat', { runtime_id: runtimeIds.command })).status).toBe(401);
    await p.admin.revokeDaemon(p.workspaceId, 'd-revoke'); // already revoked → 200 no-op
    const d = (await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === 'd-revoke')!;
    expect(d).toMatchObject({ revoked: true, online: false });
    const conn = await p.admin.connection(p.workspaceId, 'd-revoke');
    expect(conn.token).toBe('');
    expect(conn.revoked_at).not.toBeNull();
    await expect(p.admin.revokeDaemon(p.workspaceId, 'no-such-daemon')).rejects.toMatchObject({ status: 404, error: 'daemon not found' });
  });

  it('rotate revokes the old token and returns a new one once', async () => {
    const { token, runtimeIds } = await registerRaw(p, 'd-rotate');
    const info = await p.admin.rotateDaemon(p.workspaceId, 'd-rotate');
    expect(info).toMatchObject({ platform_url: p.url, workspace_id: p.workspaceId, daemon_id: 'd-rotate', revoked_at: null });
    expect(info.token).toMatch(DAEMON_TOKEN_RE);
    expect(info.token).not.toBe(token);
    expect((await rawCall(p, token, 'POST', '/api/daemon/heartbeat', { runtime_id: runtimeIds.command })).status).toBe(401);
    expect((await rawCall(p, info.token, 'POST', '/api/daemon/heartbeat', { runtime_id: runtimeIds.command })).status).toBe(200);
    const conn = await p.admin.connection(p.workspaceId, 'd-rotate');
    // The same payload with the token blanked (its snippets show the placeholder instead).
    const { tasks_failed: _f, tasks_requeued: _r, snippets: _s, ...same } = info;
    expect(conn).toMatchObject({ ...same, token: '' });
    expect(JSON.stringify(conn)).not.toContain(info.token);
    // Rotating a revoked daemon brings it back.
    await p.admin.revokeDaemon(p.workspaceId, 'd-rotate');
    const again = await p.admin.rotateDaemon(p.workspaceId, 'd-rotate');
    expect((await rawCall(p, again.token, 'POST', '/api/daemon/heartbeat', { runtime_id: runtimeIds.command })).status).toBe(200);
    expect(p.output()).not.toContain(info.token);
  });

  it('answers unknown routes 404 and wrong methods 405, as JSON', async () => {
    expect(await rawCall(p, undefined, 'GET', '/api/nope')).toEqual({ status: 404, json: { error: 'not found' } });
    expect(await rawCall(p, undefined, 'GET', '/api/daemon/register')).toEqual({ status: 405, json: { error: 'method not allowed' } });
    expect(await rawCall(p, undefined, 'GET', '/api/workspaces/%E0%A4%A/daemons')).toEqual({ status: 400, json: { error: 'malformed request path' } });
  });

  it('heartbeat times are kept in memory and written in flushes: the list sees them at once, a restart keeps them', async () => {
    const { token, runtimeIds } = await registerRaw(p, 'd-flush');
    const before = (await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === 'd-flush')!;
    // Registration wrote the first time; a later heartbeat moves it on before any flush.
    await new Promise((r) => setTimeout(r, 20));
    expect((await rawCall(p, token, 'POST', '/api/daemon/heartbeat', { runtime_id: runtimeIds.command })).status).toBe(200);
    const seen = (await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === 'd-flush')!;
    expect(Date.parse(seen.last_heartbeat_at!)).toBeGreaterThan(Date.parse(before.last_heartbeat_at!));
    expect(seen.runtimes[0]!.last_heartbeat_at).toBe(seen.last_heartbeat_at);
    // A clean stop flushes what is pending: the stored time is the one the list showed.
    await p.restart();
    const after = (await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === 'd-flush')!;
    expect(after.last_heartbeat_at).toBe(seen.last_heartbeat_at);
    expect(after.runtimes[0]!.last_heartbeat_at).toBe(seen.last_heartbeat_at);
  });
});
