// `agentd status` against a real daemon and platform: exit 0 ready, 1 running but not
// ready (platform down → degraded), 3 not running; JSON for scripts; never a token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENTD_CMD } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { daemonEnv, enrollDaemon, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';

/** Runs `agentd status` without blocking the event loop (the daemon is our child). */
function status(e: Enrolled, args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(AGENTD_CMD[0], [...AGENTD_CMD.slice(1), 'status', '--mode', 'user', '--config-dir', e.configDir, '--state-dir', e.stateDir, ...args], { env: daemonEnv(e), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('agentd status (e2e)', () => {
  let platform: TestPlatform;
  let e: Enrolled;
  let d: TestDaemon | undefined;
  beforeAll(async () => {
    platform = await startPlatform();
    e = await enrollDaemon(platform, { name: 'status-e2e' });
  });
  afterAll(async () => {
    await d?.stop();
    await platform?.stop();
    await e?.remove();
  });

  it('not running: exit 3 and says so', async () => {
    const r = await status(e);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/^agentd not running/);
  });

  it('ready: exit 0; --json has the daemon document and no token', async () => {
    d = await startDaemon(e);
    await d.waitForState('ready');
    const r = await status(e, ['--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { ready: boolean; running: boolean; health_url: string; daemon: { state: string; pid: number } };
    expect(doc).toMatchObject({ ready: true, running: true, health_url: d.healthUrl, daemon: { state: 'ready', pid: d.pid } });
    const token = (JSON.parse(readFileSync(join(e.configDir, 'credentials.json'), 'utf8')) as { token: string }).token;
    expect(r.stdout).not.toContain(token);
  });

  it('platform down: running but not ready → exit 1 with the reason and heartbeat failures', async () => {
    await platform.halt();
    try {
      await d!.waitForState('degraded', 20_000);
      const r = await status(e);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(/^agentd degraded as "status-e2e"/);
      expect(r.stdout).toMatch(/heartbeat\s+last ok \d+s ago.*\d+ failures? in a row/);
    } finally {
      await platform.restart();
    }
    await d!.waitForState('ready', 30_000);
    expect((await status(e)).code).toBe(0);
  });
});
