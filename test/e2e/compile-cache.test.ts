// `agentd run` keeps Node's module compile cache in <state>/compile-cache/ (cli/compile-cache.ts)
// on a Node that has one (>= 22.1; the artifact ships 24), and nothing on Node 20. Run
// with AGENTD_TEST_NODE=<node 24> to exercise the cache itself (CI does).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AGENTD_NODE } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { enrollDaemon, startDaemon, type Enrolled } from '../helpers/daemon.js';

const hasCache = spawnSync(AGENTD_NODE, ['-p', "typeof require('node:module').enableCompileCache"], { encoding: 'utf8' }).stdout.trim() === 'function';

/** Every file below `dir`. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

describe('the compile cache of agentd run', () => {
  let platform: TestPlatform;
  let e: Enrolled;
  beforeAll(async () => {
    platform = await startPlatform();
    e = await enrollDaemon(platform, { name: 'compile-cache' });
  });
  afterAll(async () => {
    await platform?.stop();
    await e?.remove();
  });

  it.runIf(hasCache)('is written to <state>/compile-cache (0700) and read by the next start', async () => {
    const dir = join(e.stateDir, 'compile-cache');
    const first = await startDaemon(e);
    await first.waitForState('ready');
    await first.stop();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(files(dir).length).toBeGreaterThan(3);
    // Node says what it did with each entry when asked.
    const second = await startDaemon(e, { env: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
    await second.waitForState('ready');
    await second.stop();
    expect(second.stderr()).toMatch(/V8 code cache for ESM file:\/\/\S+\/dist\/chunks\/run-daemon-\S+\.mjs was accepted/);
  });

  it.runIf(hasCache)('is not used in a directory other users can write (cached code is run as is)', async () => {
    const e2 = await enrollDaemon(platform, { name: 'compile-cache-open' });
    try {
      const dir = join(e2.stateDir, 'compile-cache');
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o777);
      const d = await startDaemon(e2);
      await d.waitForState('ready');
      await d.stop();
      expect(files(dir)).toEqual([]);
    } finally {
      await e2.remove();
    }
  });

  it.runIf(!hasCache)('is not created on a Node without one (Node 20)', async () => {
    const d = await startDaemon(e);
    await d.waitForState('ready');
    await d.stop();
    expect(existsSync(join(e.stateDir, 'compile-cache'))).toBe(false);
  });
});
