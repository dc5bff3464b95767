// SIGKILL during `agentd install --force` at random points, 20 runs: the credential file
// is always either the previous one or a complete new one (never half-written, never
// missing), always 0600, and consistent with config.json. Whatever a kill leaves behind
// (a staging file) must not expose a token either: every file in the config dir is 0600.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsProblem } from '../../store/credentials.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { AGENTD_CMD, agentdEnv, install, tempDirs, type Dirs } from './harness.js';

const RUNS = 20;

/** mulberry32: a seeded PRNG, so a failing schedule can be replayed with FAULTS_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let platform: TestPlatform;
let d: Dirs;
beforeAll(async () => {
  platform = await startPlatform();
  d = tempDirs('agentd-killinstall-');
});
afterAll(async () => {
  await platform?.stop();
  if (d) rmSync(d.root, { recursive: true, force: true });
});

describe('SIGKILL during agentd install', () => {
  it(`${RUNS} kills at random points never leave a half-written credential`, { timeout: 120_000 }, async () => {
    const seed = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const t0 = Date.now();
    const first = await install(platform, platform.url, d);
    const installMs = Date.now() - t0;
    expect(first.code, first.stderr).toBe(0);
    const credPath = join(d.configDir, 'credentials.json');
    const configPath = join(d.configDir, 'config.json');
    let previous = readFileSync(credPath, 'utf8');
    const tally = { old: 0, new: 0, finished: 0, leftovers: 0 };

    for (let i = 0; i < RUNS; i++) {
      // Half the kills anywhere in a typical run, half in its last 40 % (exchange and writes).
      const frac = i % 2 === 0 ? random() : 0.6 + random() * 0.45;
      const killAfter = Math.round(frac * installMs);
      const tok = await platform.admin.createInstallToken(platform.workspaceId);
      const p = spawn(
        AGENTD_CMD[0]!,
        [...AGENTD_CMD.slice(1), 'install', '--platform', platform.url, '--no-service', '--force', '--config-dir', d.configDir, '--state-dir', d.stateDir],
        { env: agentdEnv(d, { AGENTD_INSTALL_TOKEN: tok.token }), stdio: 'ignore' },
      );
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.once('exit', (code, signal) => r({ code, signal })));
      const timer = setTimeout(() => p.kill('SIGKILL'), killAfter);
      const res = await exited;
      clearTimeout(timer);
      if (res.signal === null) tally.finished++;

      const ctx = `run ${i} (seed ${seed}, kill after ${killAfter} ms of ~${installMs} ms, ${res.signal ?? `exit ${res.code}`})`;
      const text = readFileSync(credPath, 'utf8'); // never missing
      expect(statSync(credPath).mode & 0o777, ctx).toBe(0o600);
      if (text === previous) tally.old++;
      else {
        const parsed: unknown = JSON.parse(text); // complete: parses…
        expect(credentialsProblem(parsed), ctx).toBeUndefined(); // …and is a credential
        tally.new++;
      }
      const cred = JSON.parse(text) as { daemon_id: string; workspace_id: string };
      const config = JSON.parse(readFileSync(configPath, 'utf8')) as { daemon_id: string; workspace_id: string };
      expect({ daemon_id: config.daemon_id, workspace_id: config.workspace_id }, ctx).toEqual({ daemon_id: cred.daemon_id, workspace_id: cred.workspace_id });
      for (const f of readdirSync(d.configDir)) {
        expect(statSync(join(d.configDir, f)).mode & 0o077, `${ctx}: ${f}`).toBe(0);
        if (f !== 'credentials.json' && f !== 'config.json') {
          tally.leftovers++;
          rmSync(join(d.configDir, f)); // a kill can leave a staging file; the next run starts clean
        }
      }
      previous = text;
    }
    console.log(`[faults] install SIGKILL x${RUNS} (seed ${seed}, install ~${installMs} ms): ${JSON.stringify(tally)}`);
    expect(tally.old + tally.new).toBe(RUNS);
  });
});
