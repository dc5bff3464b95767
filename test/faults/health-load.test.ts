// The health port under 1,000 concurrent hostile connections (idle sockets, slowloris
// header dribblers, garbage bytes, oversized headers, wrong methods and paths) keeps
// answering /healthz within 50 ms p99, and the daemon stays ready. The attack runs in its
// own process (attacker.mjs) so the probes here measure the daemon, not our event loop.
// Loopback only; bounded in connections (1,000 held, at most 20,000 opened), probes
// (200) and time.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { install, sleep, startDaemon, tempDirs, type Daemon, type Dirs } from './harness.js';

const ATTACKERS = 1_000;
const MAX_OPENED = 20_000;
const PROBES = 400;
const P99_BOUND_MS = 50;
const ATTACKER_JS = join(dirname(fileURLToPath(import.meta.url)), 'attacker.mjs');

let platform: TestPlatform;
let d: Dirs;
let daemon: Daemon;

beforeAll(async () => {
  platform = await startPlatform();
  d = tempDirs('agentd-healthload-');
  const r = await install(platform, platform.url, d);
  if (r.code !== 0) throw new Error(r.stderr);
  daemon = await startDaemon(d);
  await daemon.waitReady(10_000);
});
afterAll(async () => {
  await daemon?.stop();
  await platform?.stop();
  if (d) rmSync(d.root, { recursive: true, force: true });
});

interface Attacker {
  proc: ChildProcess;
  stats(): Promise<{ open: number; opened: number; connected: number }>;
  stop(): Promise<void>;
}

async function startAttacker(port: number): Promise<Attacker> {
  // nice 10: on a 2-core machine the attacker would otherwise compete with the daemon for
  // the CPU, and we would measure the scheduler, not the daemon's handling of hostile
  // connections (which is what can starve /healthz: connection caps, slow parsing).
  const proc = spawn('nice', ['-n', '10', process.execPath, ATTACKER_JS, String(port), String(ATTACKERS), String(MAX_OPENED)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  const waiters: ((line: string) => void)[] = [];
  proc.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      waiters.shift()?.(line);
    }
  });
  const nextLine = (): Promise<string> => new Promise((r) => waiters.push(r));
  const ready = await nextLine();
  if (ready !== 'READY') throw new Error(`attacker said ${ready}`);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    async stats() {
      const line = nextLine();
      proc.kill('SIGUSR2');
      return JSON.parse((await line).replace(/^STATS /, '')) as { open: number; opened: number; connected: number };
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** One GET /healthz on a fresh connection; latency in ms, or Infinity when it failed. */
function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get(url + '/healthz', { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : Infinity));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(Infinity));
  });
}

describe('health port under hostile load', () => {
  it(`answers /healthz within ${P99_BOUND_MS} ms p99 with ${ATTACKERS} hostile connections open`, { timeout: 60_000 }, async () => {
    const a = await startAttacker(Number(new URL(daemon.healthUrl).port));
    try {
      // Let the connections land; probe well inside the server's 5 s header timeout,
      // while the holders still hold.
      await sleep(500);
      const before = await a.stats();
      const lat: number[] = [];
      for (let i = 0; i < PROBES; i++) {
        lat.push(await probe(daemon.healthUrl));
        await sleep(5);
      }
      const after = await a.stats();
      lat.sort((x, y) => x - y);
      const p50 = lat[Math.floor(PROBES * 0.5)]!;
      const p99 = lat[Math.ceil(PROBES * 0.99) - 1]!;
      const failed = lat.filter((x) => x === Infinity).length;
      const worst = lat.slice(-5).map((x) => x.toFixed(1)).join(", ");
      console.log(
        `[faults] health port: ${before.open}→${after.open} hostile connections open (${after.opened} opened), ${PROBES} probes: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (worst ${worst}), failed ${failed}`,
      );
      expect(failed, 'probes that got no 200').toBe(0);
      expect(p99).toBeLessThanOrEqual(P99_BOUND_MS);
      expect(daemon.alive()).toBe(true);
    } finally {
      await a.stop();
    }
    // And afterwards: still ready, still heartbeating.
    await daemon.waitReady(5_000);
    expect((await daemon.get('/healthz')).status).toBe(200);
  });
});
