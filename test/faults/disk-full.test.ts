// Disk full while writing credentials: the config dir lives on a 64 KB tmpfs filled to
// the last block(s); `agentd install --force` must fail, say so (no space, the previous
// enrolment unchanged, what to do next), and leave the old credential byte for byte.
// Needs root and mount(2); skips cleanly where mounting is not permitted.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { agentdEnv, install, runAgentd, type Dirs } from './harness.js';

function tryMount(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let platform: TestPlatform;
let mnt = '';
let mounted = false;
let root = '';

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'agentd-diskfull-'));
  mnt = join(root, 'mnt');
  execFileSync('mkdir', ['-p', mnt]);
  mounted = tryMount(mnt);
  if (mounted) platform = await startPlatform();
});

afterAll(async () => {
  await platform?.stop();
  if (mounted) execFileSync('umount', [mnt], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
});

/** Fills the tmpfs so that exactly `freeBlocks` blocks stay free. */
function fillLeaving(freeBlocks: number): void {
  rmSync(join(mnt, 'filler'), { force: true });
  const s = statfsSync(mnt);
  writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, Number(s.bavail) - freeBlocks) * Number(s.bsize)));
  expect(Number(statfsSync(mnt).bavail)).toBe(freeBlocks);
}

describe('disk full while writing credentials', () => {
  // 0 blocks: the write probe fails before the install token is spent.
  // 1 block: the probe passes, the token is exchanged, staging the new pair runs out of space.
  for (const freeBlocks of [0, 1]) {
    it(`${freeBlocks} block(s) free: fails, says so, the old credential is intact`, async (ctx) => {
      if (!mounted) ctx.skip();
      const d: Dirs = { root, configDir: join(mnt, `config-${freeBlocks}`), stateDir: join(root, `state-${freeBlocks}`), home: join(root, 'home') };
      const first = await install(platform, platform.url, d);
      expect(first.code, first.stderr).toBe(0);
      const credPath = join(d.configDir, 'credentials.json');
      const oldCred = readFileSync(credPath);
      const oldConfig = readFileSync(join(d.configDir, 'config.json'));

      fillLeaving(freeBlocks);
      const tok = await platform.admin.createInstallToken(platform.workspaceId);
      const r = await runAgentd(
        ['install', '--platform', platform.url, '--no-service', '--force', '--config-dir', d.configDir, '--state-dir', d.stateDir],
        agentdEnv(d, { AGENTD_INSTALL_TOKEN: tok.token }),
      );
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/no space left/i);
      expect(r.stderr).toContain(d.configDir); // names where
      expect(r.stderr).toMatch(/df -h/); // and what to do next
      expect(r.stderr + r.stdout).not.toMatch(/m[ida]t_[0-9a-f]{8,}/);
      if (freeBlocks === 1) expect(r.stderr).toMatch(/previous enrolment.*unchanged/i);

      // The old credential and config, byte for byte, still 0600; nothing half-written next to them.
      expect(readFileSync(credPath).equals(oldCred)).toBe(true);
      expect(readFileSync(join(d.configDir, 'config.json')).equals(oldConfig)).toBe(true);
      expect(statSync(credPath).mode & 0o777).toBe(0o600);
      expect(readdirSync(d.configDir).sort()).toEqual(['config.json', 'credentials.json']);

      // With space again, the next command works: with the same token when it was not spent.
      rmSync(join(mnt, 'filler'), { force: true });
      const again = await runAgentd(
        ['install', '--platform', platform.url, '--no-service', '--force', '--config-dir', d.configDir, '--state-dir', d.stateDir],
        agentdEnv(d, { AGENTD_INSTALL_TOKEN: freeBlocks === 0 ? tok.token : (await platform.admin.createInstallToken(platform.workspaceId)).token }),
      );
      expect(again.code, again.stderr).toBe(0);
      expect(readFileSync(credPath).equals(oldCred)).toBe(false);
    });
  }

  it('agentd credentials set on a full disk: fails, says so, the old credential is intact', async (ctx) => {
    if (!mounted) ctx.skip();
    const d: Dirs = { root, configDir: join(mnt, 'config-set'), stateDir: join(root, 'state-set'), home: join(root, 'home') };
    const first = await install(platform, platform.url, d);
    expect(first.code, first.stderr).toBe(0);
    const credPath = join(d.configDir, 'credentials.json');
    const oldCred = readFileSync(credPath);
    const daemonId = (JSON.parse(oldCred.toString()) as { daemon_id: string }).daemon_id;
    const rotated = await platform.admin.rotateDaemon(platform.workspaceId, daemonId);
    expect(rotated.token).toMatch(/^mdt_/);

    fillLeaving(0);
    const args = ['credentials', 'set', '--config-dir', d.configDir];
    const r = await runAgentd(args, agentdEnv(d), 20_000, `${rotated.token}\n`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no space left/i);
    expect(r.stderr).toContain(d.configDir);
    // …and that the credential in use was not touched (the operator's next worry).
    expect(r.stderr).toMatch(/unchanged|intact|still in place|not changed/i);
    expect(r.stderr + r.stdout).not.toMatch(/m[ida]t_[0-9a-f]{8,}/);
    expect(readFileSync(credPath).equals(oldCred)).toBe(true);
    expect(statSync(credPath).mode & 0o777).toBe(0o600);
    expect(readdirSync(d.configDir).sort()).toEqual(['config.json', 'credentials.json']);

    // With space again, the same rotated token goes in.
    rmSync(join(mnt, 'filler'), { force: true });
    const again = await runAgentd(args, agentdEnv(d), 20_000, `${rotated.token}\n`);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(readFileSync(credPath, 'utf8')) as { token: string }).token).toBe(rotated.token);
  });
});
