// What the daemon loads between start and ready, and what `agentd install` loads, read
// from the running bundle: no chunk of ajv / env-schema (settings are checked with
// TypeBox) and none of systeminformation (the doctor's host facts only). Each dist file's
// source map (`<file>.map`, written by every build) lists the files bundled into it, so
// a loaded chunk whose map names `node_modules/<pkg>/` carries that package (the agentd
// builds are minified: the `// node_modules/…` comments esbuild writes otherwise are
// gone). `agentd doctor` is the control: it loads all three, so the check can fail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENTD_JS, AGENTD_NODE, ROOT } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { daemonEnv, enrollDaemon, type Enrolled } from '../helpers/daemon.js';

const HOOK = join(ROOT, 'test', 'fixtures', 'module-log-hook.mjs');
const HEAVY = ['ajv', 'env-schema', 'systeminformation'];

/** The files bundled into a dist file, from its source map. */
function bundledSources(file: string): string[] {
  return (JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[] }).sources;
}

/** The dist files a module log names. */
function loadedDistFiles(log: string): string[] {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((u) => u.startsWith('file://') && u.includes('/dist/'))
    .map((u) => fileURLToPath(u));
}

/** The packages (of HEAVY) bundled into the chunks a module log names. */
function heavyPackagesIn(log: string): string[] {
  const found = new Set<string>();
  for (const file of loadedDistFiles(log)) for (const src of bundledSources(file)) for (const p of HEAVY) if (src.includes(`node_modules/${p}/`)) found.add(p);
  return [...found].sort();
}

function run(e: Enrolled, args: string[], log: string, until?: (out: string) => boolean, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(AGENTD_NODE, ['--import', HOOK, AGENTD_JS, ...args], { env: daemonEnv(e, { AGENTD_TEST_MODULE_LOG: log, AGENTD_LOG_FORMAT: 'json', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (until?.(out)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => resolve(out));
  });
}

describe('modules on the daemon start-up path', () => {
  let platform: TestPlatform;
  let e: Enrolled;
  beforeAll(async () => {
    platform = await startPlatform();
    e = await enrollDaemon(platform, { name: 'modules' });
  });
  afterAll(async () => {
    await platform?.stop();
    await e?.remove();
  });

  it('agentd run reaches ready without ajv, env-schema or systeminformation', async () => {
    const log = join(e.stateDir, '..', 'run-modules.log');
    const out = await run(e, ['run', '--config-dir', e.configDir, '--state-dir', e.stateDir], log, (o) => /"to":"ready"/.test(o));
    expect(out).toMatch(/"to":"ready"/);
    expect(existsSync(log)).toBe(true);
    expect(heavyPackagesIn(log)).toEqual([]);
    rmSync(log);
  });

  it('agentd install --no-service enrols without ajv, env-schema or systeminformation, with its AGENTD_* input checked', async () => {
    const dir = join(e.stateDir, '..', 'install-modules');
    const log = join(e.stateDir, '..', 'install-modules.log');
    const { token } = await platform.admin.createInstallToken(platform.workspaceId);
    const args = ['install', '--platform', platform.url, '--no-service', '--config-dir', join(dir, 'config'), '--state-dir', join(dir, 'state'), '--name', 'modules-install'];
    const out = await run(e, args, log, undefined, { AGENTD_INSTALL_TOKEN: token, AGENTD_MODE: 'user' });
    expect(existsSync(join(dir, 'config', 'credentials.json')), out).toBe(true);
    expect(heavyPackagesIn(log)).toEqual([]);
    // The CLI's input is still checked (now with TypeBox): a bad value is refused, exit 78.
    const bad = spawnSync(AGENTD_NODE, [AGENTD_JS, ...args], { env: daemonEnv(e, { AGENTD_INSTALL_TOKEN: token, AGENTD_MODE: 'both' }), encoding: 'utf8' });
    expect(bad.status).toBe(78);
    expect(bad.stderr).toContain('AGENTD_MODE="both" is not valid: expected system or user');
    rmSync(log);
  });

  it("agentd run reaches ready without TypeBox's value operators other than Check (the platform's Value import brings them)", async () => {
    const marker = 'node_modules/@sinclair/typebox/build/esm/value/cast/';
    const carries = (file: string) => bundledSources(file).some((src) => src.includes(marker));
    const log = join(e.stateDir, '..', 'run-typebox.log');
    const out = await run(e, ['run', '--config-dir', e.configDir, '--state-dir', e.stateDir], log, (o) => /"to":"ready"/.test(o));
    expect(out).toMatch(/"to":"ready"/);
    const loaded = loadedDistFiles(log);
    expect(loaded.length).toBeGreaterThan(3);
    expect(loaded.filter(carries)).toEqual([]);
    // Control: the platform's bundle has the marker, so the check can see it.
    const bundles = [join(ROOT, 'dist', 'agentd-platform.mjs'), ...readdirSync(join(ROOT, 'dist', 'chunks')).filter((f) => f.endsWith('.mjs')).map((f) => join(ROOT, 'dist', 'chunks', f))];
    expect(bundles.some(carries)).toBe(true);
    rmSync(log);
  });

  it('control: agentd doctor loads all three (the check sees them when they are there)', async () => {
    const log = join(e.stateDir, '..', 'doctor-modules.log');
    await run(e, ['doctor', '--mode', 'user', '--config-dir', e.configDir, '--state-dir', e.stateDir], log);
    expect(heavyPackagesIn(log)).toEqual(HEAVY);
  });
});
