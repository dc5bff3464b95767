// `agentd doctor` against a real daemon and the real platform on loopback: each failure
// an operator meets is produced for real (platform down, credential revoked, a 0644
// credential file, a full state disk on a small tmpfs) and must be named by its check,
// with the command that fixes it, while the unrelated checks stay green.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { AGENTD_CMD, ROOT } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { daemonEnv, enrollDaemon, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';

interface Check {
  id: string;
  ok: boolean;
  detail: string;
  fix?: string;
}
interface Report {
  ok: boolean;
  checks: Check[];
}

const FIXTURE_BIN = join(ROOT, 'test', 'fixtures', 'bin');

function doctor(e: Enrolled, args: string[] = [], stateDir = e.stateDir): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = daemonEnv(e, { PATH: `${FIXTURE_BIN}${delimiter}${process.env.PATH ?? ''}` });
    const child = spawn(AGENTD_CMD[0], [...AGENTD_CMD.slice(1), 'doctor', '--mode', 'user', '--config-dir', e.configDir, '--state-dir', stateDir, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function report(e: Enrolled, stateDir?: string): Promise<{ code: number | null; r: Report; byId: Record<string, Check>; text: string }> {
  const j = await doctor(e, ['--json'], stateDir);
  const r = JSON.parse(j.stdout) as Report;
  const text = (await doctor(e, [], stateDir)).stdout;
  if (process.env.AGENTD_TEST_VERBOSE) console.log(text);
  return { code: j.code, r, byId: Object.fromEntries(r.checks.map((c) => [c.id, c])), text };
}

/** The checks a --no-service install cannot pass here (no systemd user manager on this machine). */
const SERVICE = new Set(['service.installed', 'service.enabled', 'service.active']);
const failing = (r: Report): string[] => r.checks.filter((c) => !c.ok && !SERVICE.has(c.id)).map((c) => c.id);

describe('agentd doctor (e2e)', () => {
  let platform: TestPlatform;
  let e: Enrolled;
  let d: TestDaemon | undefined;
  beforeAll(async () => {
    platform = await startPlatform();
    e = await enrollDaemon(platform, { name: 'doctor-e2e' });
    d = await startDaemon(e, { env: { PATH: `${FIXTURE_BIN}${delimiter}${process.env.PATH ?? ''}` } });
    await d.waitForState('ready');
  });
  afterAll(async () => {
    await d?.stop();
    await platform?.stop();
    await e?.remove();
  });

  it('healthy: every check but the (absent) service passes; the text has ✓ lines and no token', async () => {
    const { code, r, byId, text } = await report(e);
    expect(failing(r), text).toEqual([]);
    expect(code).toBe(1); // the service is not installed: exit 0 needs every check
    expect(byId['platform.credential'].detail).toMatch(/credential is valid/);
    expect(byId['platform.clock'].detail).toMatch(/in step|ahead|behind/);
    expect(byId['daemon.health'].detail).toMatch(/: ready/);
    expect(byId.runtimes.detail).toMatch(/claude/);
    expect(byId.host.detail).toMatch(/CPUs; .* memory available; /);
    expect(text).toMatch(/^agentd doctor: user install/);
    expect(text).toMatch(/✓ credential file/);
    expect(byId['service.installed'].fix).toMatch(/install\.sh/);
    expect(text).not.toMatch(/mdt_[0-9a-f]{40}/);
  });

  it('a 0644 credential file: the credential check fails with the chmod that fixes it', async () => {
    const file = join(e.configDir, 'credentials.json');
    chmodSync(file, 0o644);
    try {
      const { r, byId, text } = await report(e);
      expect(failing(r), text).toEqual(['credentials.file']);
      expect(byId['credentials.file'].detail).toMatch(/mode 0644: every user on this machine can read it/);
      expect(byId['credentials.file'].fix).toBe(`chmod 600 ${file}`);
    } finally {
      chmodSync(file, 0o600);
    }
  });

  it('platform down: TCP refused, credential "not known: a network fault", health degraded', async () => {
    await platform.halt();
    try {
      await d!.waitForState('degraded', 20_000);
      const { r, byId, text } = await report(e);
      expect(failing(r).sort(), text).toEqual(['daemon.health', 'platform.clock', 'platform.credential', 'platform.tcp'].sort());
      expect(byId['platform.tcp'].detail).toMatch(/connection refused/);
      expect(byId['platform.credential'].detail).toMatch(/a network fault, not the credential/);
      expect(byId['platform.tcp'].fix).toMatch(/^curl -v http:\/\/127\.0\.0\.1:\d+\//);
    } finally {
      await platform.restart();
    }
    await d!.waitForState('ready', 30_000);
  });

  it('full state disk (a 1 MiB tmpfs): disk space fails (inodes do not), naming the mount and the du command', async () => {
    const mnt = mkdtempSync(join(tmpdir(), 'agentd-fulldisk-'));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nr_inodes=20000', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) {
      rmSync(mnt, { recursive: true, force: true });
      console.warn(`skipping the full-disk case: cannot mount a tmpfs (${m.stderr.trim()})`);
      return;
    }
    try {
      const state = join(mnt, 'state');
      mkdirSync(state);
      spawnSync('sh', ['-c', `cat /dev/zero > ${join(state, 'fill')} 2>/dev/null; true`]);
      const { r, byId, text } = await report(e, state);
      // The daemon keeps its own state dir, so nothing answers for this one.
      expect(failing(r).sort(), text).toEqual(['daemon.health', 'disk.space']);
      expect(byId['disk.inodes'].ok).toBe(true);
      expect(byId['disk.space'].detail).toMatch(new RegExp(`^0 B free of 1\\.0 MiB on ${state}`));
      expect(byId['disk.space'].fix).toMatch(/du -xsh/);
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('revoked credential: the platform refuses it (401) and the network checks stay green', async () => {
    await platform.admin.revokeDaemon(platform.workspaceId, e.daemonId);
    await d!.waitForState('revoked', 20_000);
    const { r, byId, text } = await report(e);
    expect(failing(r).sort(), text).toEqual(['daemon.health', 'platform.credential'].sort());
    expect(byId['platform.credential'].detail).toMatch(/refused the credential \(401\): it was revoked or rotated; the network is fine/);
    expect(byId['platform.credential'].fix).toMatch(/agentd credentials set < FILE/);
    expect(byId['platform.tcp'].ok).toBe(true);
  });
});

describe('agentd doctor without an install', () => {
  it('names what is missing and exits 1', async () => {
    const root = mkdtempSync(join(tmpdir(), 'agentd-doctor-none-'));
    try {
      const e = { home: root, configDir: join(root, 'config'), stateDir: join(root, 'state'), daemonId: '', remove: async () => undefined };
      writeFileSync(join(root, 'marker'), '');
      const { code, byId } = await report(e);
      expect(code).toBe(1);
      expect(byId['config.file'].detail).toMatch(/is missing: this machine is not enrolled/);
      expect(byId['config.file'].fix).toMatch(/install\.sh \| AGENTD_INSTALL_TOKEN=mit_… sh/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
