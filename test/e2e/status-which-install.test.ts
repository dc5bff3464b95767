// Which install `agentd status` is about when no --mode is given (run as root here, so
// the default would be the system install). An install counts only where its config.json
// or service unit is there: an empty system config dir and a stray daemon-id (what an
// uninstall leaves behind) must not hide a running user install. The system paths are a
// private directory (AGENTD_TEST_SYSTEM_ROOT), never this machine's /etc and /var.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENTD_CMD } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { daemonEnv, runAgentd, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';

function agentd(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(AGENTD_CMD[0], [...AGENTD_CMD.slice(1), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const asRoot = process.getuid?.() === 0;

describe.skipIf(!asRoot)('agentd status without --mode, as root', () => {
  let platform: TestPlatform;
  let root: string;
  let sysRoot: string;
  let e: Enrolled;
  let d: TestDaemon | undefined;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    platform = await startPlatform();
    root = mkdtempSync(join(tmpdir(), 'agentd-which-'));
    sysRoot = join(root, 'sys');
    const home = join(root, 'home');
    // What `agentd uninstall` of a system install leaves: an empty config dir, a daemon id.
    mkdirSync(join(sysRoot, 'etc', 'agentd'), { recursive: true, mode: 0o700 });
    mkdirSync(join(sysRoot, 'var', 'lib', 'agentd'), { recursive: true });
    writeFileSync(join(sysRoot, 'var', 'lib', 'agentd', 'daemon-id'), '0b6f3c56-9a43-4f0e-8c57-4f5c1d7a1e01\n');
    env = daemonEnv({ home }, { AGENTD_TEST_SYSTEM_ROOT: sysRoot });
    const tok = await platform.admin.createInstallToken(platform.workspaceId);
    // A user install in its default place (XDG dirs under this HOME).
    const r = runAgentd({ home }, ['install', '--mode', 'user', '--no-service', '--platform', platform.url, '--name', 'which-user'], { AGENTD_TEST_SYSTEM_ROOT: sysRoot, AGENTD_INSTALL_TOKEN: tok.token });
    expect(r.code, r.stderr).toBe(0);
    e = { home, configDir: join(home, '.config', 'agentd'), stateDir: join(home, '.local', 'state', 'agentd'), daemonId: '', remove: async () => undefined };
    d = await startDaemon(e, { env: { AGENTD_TEST_SYSTEM_ROOT: sysRoot } });
    await d.waitForState('ready');
  });
  afterAll(async () => {
    await d?.stop();
    await platform?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('an empty system config dir is no install: status reports the running user install', async () => {
    const r = await agentd(env, ['status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { mode: string; config_dir: string; ready: boolean; daemon: { device_name: string } };
    expect(doc).toMatchObject({ mode: 'user', config_dir: e.configDir, ready: true, daemon: { device_name: 'which-user' } });
  });

  it('a system config.json as well: both are named and --mode is asked for (exit 64)', async () => {
    const sysConfig = join(sysRoot, 'etc', 'agentd', 'config.json');
    writeFileSync(sysConfig, '{}\n');
    try {
      const r = await agentd(env, ['status']);
      expect(r.code).toBe(64);
      expect(r.stderr).toContain(`both a system install (${join(sysRoot, 'etc', 'agentd')}) and a user install (${e.configDir})`);
      expect(r.stderr).toContain('--mode system or --mode user');
      expect((await agentd(env, ['status', '--mode', 'user'])).code).toBe(0);
    } finally {
      rmSync(sysConfig);
    }
  });

  it('no install at all: says so and shows the install command (exit 3)', async () => {
    const bare = daemonEnv({ home: join(root, 'nobody-home') }, { AGENTD_TEST_SYSTEM_ROOT: sysRoot });
    const r = await agentd(bare, ['status']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('agentd is not installed on this machine');
    expect(r.stderr).toContain(join(sysRoot, 'etc', 'agentd', 'config.json'));
    expect(r.stderr).toContain('curl -fsSL <platform>/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh');
  });
});
