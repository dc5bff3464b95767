// Revocation and rotation without a restart: revoke → revoked (readyz 503) within two
// heartbeat intervals; a rotated credential put in place with `agentd credentials set`
// → ready again, same process; the credential file removed while revoked → exit 77.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { enrollDaemon, runAgentd, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';
import { writeCredentials, type Credentials } from '../../store/credentials.js';

const TOKEN_RE = /m[dia]t_[0-9a-f]{40}/;
let p: TestPlatform;
let e: Enrolled;
let d: TestDaemon | undefined;
beforeAll(async () => {
  p = await startPlatform();
  e = await enrollDaemon(p);
});
afterAll(async () => {
  await d?.stop();
  await p?.stop();
  await e?.remove();
});

/** `agentd credentials set` with the token on stdin (falls back to the store while that command is a placeholder). */
async function putCredential(token: string): Promise<void> {
  const placeholder = /not built yet/.test(runAgentd(e, ['credentials', '--help']).stdout);
  if (placeholder) {
    const file = join(e.configDir, 'credentials.json');
    const cur = JSON.parse(readFileSync(file, 'utf8')) as Credentials;
    await writeCredentials(file, { ...cur, token, issued_at: new Date().toISOString() });
    return;
  }
  const r = runAgentd(e, ['credentials', 'set', '--config-dir', e.configDir], {}, token + '\n');
  if (r.code === 0) return;
  throw new Error(`agentd credentials set failed (${r.code}): ${r.stderr}`);
}

it('revoked within two heartbeat intervals, back to ready on a rotated credential, exit 77 when the credential is removed', async () => {
  d = await startDaemon(e, { env: { AGENTD_HEARTBEAT_INTERVAL: '1s' } });
  await d.waitFor((s) => s.state === 'ready' && s.heartbeat.last_success_at !== null);

  // A running task: revocation cancels it (it could not report anyway).
  await p.admin.enqueueTask(p.workspaceId, { runtime: 'command', prompt: 'sleep 120' });
  await d.waitFor((s) => s.tasks.running.length === 1);

  await p.admin.revokeDaemon(p.workspaceId, e.daemonId);
  const revokedAt = Date.now();
  const st = await d.waitForState('revoked', 5_000);
  expect(Date.now() - revokedAt).toBeLessThan(2 * 1000 + 500);
  expect(st.reason).toMatch(/refused the daemon credential twice/);
  const readyz = await fetch(`${d.healthUrl}/readyz`);
  expect(readyz.status).toBe(503);
  expect(((await readyz.json()) as { state: string }).state).toBe('revoked');
  await d.waitFor((s) => s.tasks.running.length === 0, 15_000);
  // Alive (its credential watch turns), so systemd's watchdog leaves it be.
  expect((await fetch(`${d.healthUrl}/healthz`)).status).toBe(200);

  // The exact re-enrol command, logged once.
  await new Promise((r) => setTimeout(r, 2_500));
  const out = d.stdout();
  expect(out.match(/credential revoked: this daemon no longer claims tasks/g)?.length).toBe(1);
  expect(out).toContain(`curl -fsSL ${p.url}/install.sh | AGENTD_INSTALL_TOKEN=`);
  expect(out).toContain(`agentd credentials set --config-dir ${e.configDir}`);

  // Rotate: the platform mints a new token, the operator puts it in place.
  const rotated = await p.admin.rotateDaemon(p.workspaceId, e.daemonId);
  expect(rotated.token).toMatch(/^mdt_/);
  await putCredential(rotated.token);
  const back = await d.waitForState('ready', 10_000);
  expect(back.pid).toBe(d.pid);
  await d.waitFor((s) => s.heartbeat.last_success_at !== null && Date.parse(s.heartbeat.last_success_at) > Date.now() - 3_000);

  // Neither token ever reached the output or the health port.
  for (const text of [d.stdout(), d.stderr(), JSON.stringify(await d.status()), await (await fetch(`${d.healthUrl}/metrics`)).text()]) {
    expect(text).not.toMatch(TOKEN_RE);
  }

  // Revoked again, then uninstalled (credential removed): exit 77, no restart loop.
  await p.admin.revokeDaemon(p.workspaceId, e.daemonId);
  await d.waitForState('revoked', 5_000);
  rmSync(join(e.configDir, 'credentials.json'));
  const x = await Promise.race([d.exited, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
  expect(x?.code).toBe(77);
}, 60_000);
