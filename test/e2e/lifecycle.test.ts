// The credential lifecycle with the real agentd against the real platform: every call
// names its source, readiness shows whether the platform is reachable, `agentd
// uninstall` revokes its own credential (or says how to, when the platform is down),
// --purge, ephemeral machines, and the install-time messages. The service-manager side
// (systemctl start with the platform down, the re-run one-liner, uninstall --purge of a
// system install) runs under a real systemd in test/service/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawCall, startPlatform, type TestPlatform } from '../helpers/platform.js';
import { enrollDaemon, runAgentd, runAgentdAsync, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';

const TOKEN_RE = /m[dia]t_[0-9a-f]{40}/;
let p: TestPlatform;
const cleanup: (() => Promise<void>)[] = [];
beforeAll(async () => {
  p = await startPlatform({ args: ['--log-requests'] });
});
afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  await p?.stop();
});

async function enrolled(name: string, args: string[] = []): Promise<Enrolled> {
  const e = await enrollDaemon(p, { name, args });
  cleanup.push(() => e.remove());
  return e;
}
async function started(e: Enrolled, env: NodeJS.ProcessEnv = {}): Promise<TestDaemon> {
  const d = await startDaemon(e, { env });
  cleanup.push(() => d.stop());
  return d;
}
const credToken = (e: Enrolled): string => (JSON.parse(readFileSync(join(e.configDir, 'credentials.json'), 'utf8')) as { token: string }).token;
const dirs = (e: Enrolled): string[] => ['--mode', 'user', '--config-dir', e.configDir, '--state-dir', e.stateDir];

describe('self-identifying calls', () => {
  it('every daemon request carries X-Workspace-ID and X-Daemon-ID; the platform log records them', async () => {
    const e = await enrolled('hdr-host');
    const d = await started(e);
    await d.waitFor((s) => s.state === 'ready' && s.heartbeat.last_success_at !== null);
    await d.stop();
    const lines = p.output().split('\n').filter((l) => / \/api\/(daemon|install-tokens)\//.test(l));
    const mine = lines.filter((l) => l.includes(`daemon=${e.daemonId}`));
    // The exchange (no workspace yet), register, heartbeat, orphan recovery, deregister: each
    // names its source (a long-poll claim cut short by the stop may never finish, so is not logged).
    for (const route of ['POST /api/install-tokens/exchange 200', 'POST /api/daemon/register 200', 'POST /api/daemon/heartbeat 200', 'POST /api/daemon/runtimes/', 'POST /api/daemon/deregister 200']) {
      expect(mine.some((l) => l.startsWith(route)), `${route} in\n${mine.join('\n')}`).toBe(true);
    }
    expect(mine.find((l) => l.startsWith('POST /api/install-tokens/exchange'))).toContain(`ws=- daemon=${e.daemonId}`);
    for (const l of mine.filter((x) => x.includes('/api/daemon/'))) expect(l).toContain(`ws=${p.workspaceId} daemon=${e.daemonId}`);
  });
});

describe('readiness shows whether the platform is reachable', () => {
  it('/readyz, /status and agentd status: reachable, then unreachable while the platform is down', async () => {
    const q = await startPlatform();
    cleanup.push(() => q.stop());
    const e = await enrollDaemon(q, { name: 'reach-host' });
    cleanup.push(() => e.remove());
    const d = await started(e);
    await d.waitForState('ready');
    const up = (await (await fetch(`${d.healthUrl}/readyz`)).json()) as { platform_reachable: boolean | null };
    expect(up.platform_reachable).toBe(true);
    expect(runAgentd(e, ['status', ...dirs(e)]).stdout).toMatch(new RegExp(`platform\\s+${q.url.replace(/[.]/g, '\\.')} reachable`));
    await q.halt();
    await d.waitFor((s) => s.platform_reachable === false);
    const down = await fetch(`${d.healthUrl}/readyz`);
    expect(down.status).toBe(503);
    expect(((await down.json()) as { platform_reachable: boolean }).platform_reachable).toBe(false);
    const st = runAgentd(e, ['status', ...dirs(e)]);
    expect(st.stdout).toMatch(/platform\s+\S+ unreachable/);
    expect(st.stdout).toMatch(/degraded/);
    await q.restart();
    await d.waitFor((s) => s.platform_reachable === true && s.state === 'ready');
  }, 60_000);
});

describe('agentd uninstall', () => {
  it('revokes its own credential before deleting it, and says what it keeps', async () => {
    const e = await enrolled('un-host');
    const d = await started(e);
    await d.waitForState('ready');
    const token = credToken(e);
    const r = await runAgentdAsync(e, ['uninstall', ...dirs(e)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`revoked this machine's credential on ${p.url}`);
    expect(r.stdout).toContain(`removed  ${join(e.configDir, 'credentials.json')}`);
    expect(r.stdout).toMatch(new RegExp(`kept\\s+${e.stateDir.replace(/[.]/g, '\\.')} \\(task journal, work dirs, daemon id\\)`));
    expect(r.stdout).toContain('agentd uninstall --purge removes what is kept');
    expect((await d.exited).code).toBe(0);
    // The deleted credential no longer authenticates anywhere (it was a 404 of a deregistered daemon before).
    expect((await rawCall(p, token, 'POST', '/api/daemon/register', { runtimes: [] })).status).toBe(401);
    expect((await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === e.daemonId)).toMatchObject({ revoked: true, deregistered: true });
    expect(existsSync(e.stateDir)).toBe(true);
    expect(r.stdout + r.stderr).not.toMatch(TOKEN_RE);
  });

  it('--purge also removes the config and state directories', async () => {
    const e = await enrolled('purge-host');
    const r = await runAgentdAsync(e, ['uninstall', '--purge', ...dirs(e)]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(e.stateDir)).toBe(false);
    expect(existsSync(e.configDir)).toBe(false);
    expect(r.stdout).toContain(`removed  ${e.stateDir}`);
    expect(r.stdout).toContain(`removed  ${e.configDir}`);
    expect(r.stdout).not.toContain('kept');
  });

  it('without a platform: cleans up here, says the credential could not be revoked and how to do it from the page', async () => {
    const q = await startPlatform();
    cleanup.push(() => q.stop());
    const e = await enrollDaemon(q, { name: 'offline-host' });
    cleanup.push(() => e.remove());
    const token = credToken(e);
    await q.halt();
    const r = await runAgentdAsync(e, ['uninstall', ...dirs(e)]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(e.configDir, 'credentials.json'))).toBe(false);
    expect(existsSync(join(e.configDir, 'config.json'))).toBe(false);
    expect(r.stderr).toMatch(/could not revoke the credential on http:\/\/127\.0\.0\.1:\d+; it still works until revoked/);
    expect(r.stdout).toContain('The credential could NOT be revoked on the platform and still works');
    expect(r.stdout).toContain(`open ${q.url}/, find "offline-host" under Machines and press Revoke… (daemon id ${e.daemonId})`);
    expect(r.stdout + r.stderr).not.toMatch(TOKEN_RE);
    // And that is true: the platform, back, still accepts it until the operator revokes it.
    await q.restart();
    expect((await rawCall(q, token, 'POST', '/api/daemon/register', { runtimes: [] })).status).toBe(200);
  }, 60_000);
});

describe('ephemeral machines', () => {
  it('agentd install --ephemeral marks the daemon; its uninstall does not wait for the drain', async () => {
    const e = await enrolled('eph-host', ['--ephemeral']);
    expect(JSON.parse(readFileSync(join(e.configDir, 'config.json'), 'utf8')).ephemeral).toBe(true);
    // A drain of an hour: an uninstall that drained would not finish within the test.
    const d = await started(e, { AGENTD_DRAIN_TIMEOUT: '1h', AGENTD_KILL_GRACE: '1s' });
    await d.waitForState('ready');
    expect((await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === e.daemonId)?.ephemeral).toBe(true);
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: 'command', prompt: 'sleep 300' });
    await d.waitFor((s) => s.tasks.running.length === 1);
    const r = await runAgentdAsync(e, ['uninstall', ...dirs(e)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('ephemeral machine: stopping at once (running tasks are not drained)');
    expect((await d.exited).code).not.toBeNull();
    const t = await p.admin.waitForTask(p.workspaceId, id, (x) => x.status === 'failed');
    expect(['daemon_shutdown', 'runtime_offline']).toContain(t.failure_reason);
    expect((await p.admin.listDaemons(p.workspaceId)).find((x) => x.daemon_id === e.daemonId)).toMatchObject({ revoked: true, ephemeral: true });
  }, 60_000);
});

describe('install messages', () => {
  it('--dry-run warns about an ExecStart or directory under /tmp, as the real install refuses it', () => {
    const e = { home: '/nonexistent' };
    const r = runAgentd(e, ['install', '--dry-run', '--mode', 'system', '--platform', 'http://p.invalid', '--state-dir', '/tmp/agentd-x', '--config-dir', '/etc/agentd-x']);
    expect(r.code).toBe(0);
    // From the build under test, the program itself lives wherever the checkout is; the state dir is under /tmp for sure.
    expect(r.stdout).toMatch(/^# WARNING: --state-dir \/tmp\/agentd-x is under \/tmp or \/var\/tmp, which the system service cannot see \(PrivateTmp=yes\)$/m);
    expect(r.stdout).toMatch(/# {3}The real install refuses this \(before the token is spent\)\./);
    expect(r.stdout).toMatch(/^ExecStart=.* --state-dir \/tmp\/agentd-x$/m);
    const clean = runAgentd(e, ['install', '--dry-run', '--mode', 'system', '--platform', 'http://p.invalid', '--state-dir', '/var/lib/agentd-x', '--config-dir', '/etc/agentd-x'], { AGENTD_LAUNCHER: '/usr/local/bin/agentd' });
    expect(clean.stdout).not.toContain('WARNING');
  });
});
