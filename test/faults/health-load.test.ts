// The health port under 1,000 concurrent hostile connections (idle sockets, slowloris
// header dribblers, garbage bytes, oversized headers, wrong methods and paths) keeps
// answering /healthz within 50 ms p99, and the daemon stays ready. Loopback only;
// bounded in connections (1,000 held, at most 10,000 opened in all), probes (200) and time.
import http from 'node:http';
import net from 'node:net';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { install, sleep, startDaemon, tempDirs, type Daemon, type Dirs } from './harness.js';

const ATTACKERS = 1_000;
const MAX_OPENED = 10_000;
const PROBES = 200;
const P99_BOUND_MS = 50;

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

type Kind = 'idle' | 'slowloris' | 'garbage' | 'hugeHeader' | 'wrongMethod';
const KINDS: Kind[] = ['idle', 'idle', 'slowloris', 'slowloris', 'slowloris', 'garbage', 'garbage', 'hugeHeader', 'wrongMethod', 'wrongMethod'];

/** Keeps ATTACKERS hostile connections open until stop(); re-opens the ones the server closes. */
function attack(port: number): { stop(): void; opened(): number; open(): number } {
  let stopped = false;
  let opened = 0;
  const live = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, f: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      f();
    }, ms);
    timers.add(t);
  };
  const one = (kind: Kind): void => {
    if (stopped || opened >= MAX_OPENED) return;
    opened++;
    const s = net.connect(port, '127.0.0.1');
    live.add(s);
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => {
      live.delete(s);
      // Keep the pressure on, without a reconnect storm.
      later(1_000, () => one(kind));
    });
    s.on('connect', () => {
      switch (kind) {
        case 'idle':
          break;
        case 'slowloris': {
          s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
          const drip = (): void => {
            if (stopped || s.destroyed) return;
            s.write(`X-${Math.random().toString(36).slice(2, 6)}: a\r\n`);
            later(1_000, drip);
          };
          later(1_000, drip);
          break;
        }
        case 'garbage':
          s.write(Buffer.from([0, 255, 13, 10, 71, 69, 84, 32, 0, 0, 13, 10, 13, 10]));
          s.write('BLAH /healthz HTTP/9.9\r\n\r\n');
          break;
        case 'hugeHeader':
          s.write(`GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
          break;
        case 'wrongMethod':
          s.write('POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
          s.write('DELETE /nope/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n');
          break;
      }
    });
  };
  for (let i = 0; i < ATTACKERS; i++) one(KINDS[i % KINDS.length]!);
  return {
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      for (const s of live) s.destroy();
    },
    opened: () => opened,
    open: () => live.size,
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
    const port = Number(new URL(daemon.healthUrl).port);
    const a = attack(port);
    try {
      await sleep(1_500); // let the connections land
      const lat: number[] = [];
      for (let i = 0; i < PROBES; i++) {
        lat.push(await probe(daemon.healthUrl));
        if (i % 20 === 19) await sleep(50); // spread the probes over a few seconds
      }
      const held = a.open();
      lat.sort((x, y) => x - y);
      const p50 = lat[Math.floor(PROBES * 0.5)]!;
      const p99 = lat[Math.ceil(PROBES * 0.99) - 1]!;
      const failed = lat.filter((x) => x === Infinity).length;
      console.log(
        `[faults] health port: ${held} hostile connections open (${a.opened()} opened), ${PROBES} probes: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, failed ${failed}`,
      );
      expect(failed, 'probes that got no 200').toBe(0);
      expect(p99).toBeLessThanOrEqual(P99_BOUND_MS);
      expect(daemon.alive()).toBe(true);
    } finally {
      a.stop();
    }
    // And afterwards: still ready, still heartbeating.
    await daemon.waitReady(5_000);
    expect((await daemon.get('/healthz')).status).toBe(200);
  });
});
