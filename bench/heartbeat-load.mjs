// How many daemons can one reference platform carry? A load generator that speaks the
// daemon protocol: 1,000 simulated daemons are enrolled for real (install token →
// exchange → register), then
//   1. saturation: heartbeats as fast as the platform answers them (CONCURRENCY in
//      flight, round-robin over the 1,000 credentials) → req/s sustained, and platform
//      CPU per request (from /proc) → daemons per platform core at a 15 s interval;
//   2. paced: each daemon heartbeats every 15 s (±10 % jitter, its own connection, as a
//      real fleet would) for one interval → platform CPU share and latency p99.
// Floor: a bare node:http server in its own process answering the same JSON to the same
// client (what any Node HTTP service could do on this machine).
// All traffic goes to 127.0.0.1; counts and time are bounded.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client, Pool } from 'undici';
import { QUICK, cpuSeconds, emit, heartbeatFlood, log, onExitSignal, quantile, round, sleep, startPlatform } from './_lib.mjs';

const DAEMONS = Number(process.env.BENCH_DAEMONS || 1000);
const CONCURRENCY = 32;
const PIPELINING = Number(process.env.BENCH_PIPELINING || 1);
const SATURATION_S = QUICK ? 2 : 10;
const WARMUP_S = QUICK ? 0.5 : 2;
const INTERVAL_S = 15;
const PACED_S = QUICK ? 3 : INTERVAL_S; // one full interval: every daemon beats once
const HEADERS = { 'content-type': 'application/json', 'x-client-platform': 'daemon', 'x-client-version': 'bench', 'x-client-os': 'linux' };

async function json(pool, method, path, token, body) {
  const res = await pool.request({
    method,
    path,
    headers: { ...HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path} → ${res.statusCode} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}

/** Enrols DAEMONS daemons the way `agentd install` + `agentd run` would; returns their credentials. */
async function enrolFleet(platform) {
  const pool = new Pool(platform.url, { connections: 16 });
  const fleet = new Array(DAEMONS);
  let next = 0;
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= DAEMONS) return;
      const mit = await json(pool, 'POST', `/api/workspaces/${platform.workspaceId}/install-tokens`, platform.adminToken, {});
      const daemonId = randomUUID();
      const ex = await json(pool, 'POST', '/api/install-tokens/exchange', undefined, { token: mit.token, daemon_id: daemonId });
      const reg = await json(pool, 'POST', '/api/daemon/register', ex.token, {
        workspace_id: ex.workspace_id,
        daemon_id: daemonId,
        device_name: `bench-${i}`,
        cli_version: 'bench',
        runtimes: [{ name: 'command', type: 'command', version: '1', status: 'online' }],
      });
      fleet[i] = { token: ex.token, runtimeId: reg.runtimes[0].id };
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker));
  await pool.close();
  return fleet;
}

/** Heartbeats as fast as the server answers, CONCURRENCY in flight, for `seconds`. */
async function saturate(url, pid, fleet, seconds) {
  const pool = new Pool(url, { connections: CONCURRENCY, pipelining: PIPELINING });
  const flood = heartbeatFlood([pool], fleet, CONCURRENCY, HEADERS);
  await sleep(WARMUP_S * 1000);
  flood.measure();
  const cpu0 = await cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const { ok, errors, lat } = flood.result();
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = (await cpuSeconds(pid)) - cpu0;
  await flood.end();
  await pool.close();
  return { rps: ok / elapsed, perCpuSecond: ok / cpu, cpuShare: cpu / elapsed, ok, errors, p99: quantile(lat, 0.99) };
}

/** Every daemon heartbeats once per INTERVAL_S (±10 %), each on its own connection. */
async function paced(platform, fleet, seconds) {
  const clients = fleet.map(() => new Client(platform.url));
  const lat = [];
  let errors = 0;
  const cpu0 = await cpuSeconds(platform.pid);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    fleet.map(async (d, k) => {
      // First beat at a random point in the interval (daemons start at different times).
      let at = t0 + Math.random() * INTERVAL_S * 1000;
      while (at < end) {
        await sleep(Math.max(0, at - performance.now()));
        const s = performance.now();
        try {
          const res = await clients[k].request({
            method: 'POST',
            path: '/api/daemon/heartbeat',
            headers: { ...HEADERS, authorization: `Bearer ${d.token}` },
            body: JSON.stringify({ runtime_id: d.runtimeId }),
          });
          await res.body.text();
          if (res.statusCode !== 200) errors++;
          else lat.push(performance.now() - s);
        } catch {
          errors++;
        }
        at += INTERVAL_S * 1000 * (0.9 + Math.random() * 0.2);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = (await cpuSeconds(platform.pid)) - cpu0;
  await Promise.all(clients.map((c) => c.close()));
  lat.sort((a, b) => a - b);
  return { beats: lat.length, errors, cpuShare: cpu / elapsed, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) };
}

/** The floor: a bare node:http server in its own process, same route, same answer shape. */
async function startBareServer() {
  const src = `
    const http = require('node:http');
    const s = http.createServer((req, res) => {
      let b = ''; req.on('data', (c) => (b += c)); req.on('end', () => {
        const { runtime_id } = JSON.parse(b || '{}');
        const out = JSON.stringify({ runtime_id, status: 'online' });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
        res.end(out);
      });
    });
    s.listen(0, '127.0.0.1', () => console.log('PORT ' + s.address().port));
    process.on('SIGTERM', () => process.exit(0));`;
  const proc = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    proc.once('exit', (c) => reject(new Error(`bare server exited ${c}`)));
    proc.stdout.on('data', (d) => {
      const m = /PORT (\d+)/.exec(String(d));
      if (m) resolve(Number(m[1]));
    });
  });
  return { url: `http://127.0.0.1:${port}`, pid: proc.pid, stop: () => proc.kill('SIGTERM') };
}

async function main() {
  let platform;
  let bare;
  onExitSignal(async () => {
    bare?.stop();
    await platform?.stop();
  });
  try {
    platform = await startPlatform();
    log(`platform at ${platform.url}; enrolling ${DAEMONS} daemons…`);
    const t0 = Date.now();
    const fleet = await enrolFleet(platform);
    log(`enrolled in ${((Date.now() - t0) / 1000).toFixed(1)} s; saturating for ${SATURATION_S} s (${CONCURRENCY} in flight)…`);
    const sat = await saturate(platform.url, platform.pid, fleet, SATURATION_S);
    log(`platform: ${sat.rps.toFixed(0)} req/s, ${sat.perCpuSecond.toFixed(0)} req per CPU-s, p99 ${sat.p99.toFixed(1)} ms, errors ${sat.errors}`);

    log(`paced: ${DAEMONS} daemons at ${INTERVAL_S} s for ${PACED_S} s…`);
    const pace = await paced(platform, fleet, PACED_S);
    log(`paced: ${pace.beats} beats, CPU ${(pace.cpuShare * 100).toFixed(2)} % of a core, p99 ${pace.p99.toFixed(1)} ms, errors ${pace.errors}`);

    bare = await startBareServer();
    const floor = await saturate(bare.url, bare.pid, fleet, SATURATION_S);
    log(`bare node:http: ${floor.rps.toFixed(0)} req/s, ${floor.perCpuSecond.toFixed(0)} req per CPU-s`);

    const total = sat.ok + sat.errors;
    if (sat.errors > total * 0.01 || pace.errors > 0) throw new Error(`too many failed heartbeats: saturation ${sat.errors}/${total}, paced ${pace.errors}`);

    const note = `${DAEMONS} daemons, 1 runtime each, ${CONCURRENCY} in flight, ${SATURATION_S} s window`;
    emit([
      {
        name: 'heartbeats one platform sustains',
        value: round(sat.rps),
        unit: 'req/s',
        floor: round(floor.rps),
        floor_name: 'bare node:http server',
        target: '≥ 0.5× floor',
        pass: sat.rps >= 0.5 * floor.rps,
        note,
      },
      {
        name: 'heartbeats per platform CPU-second',
        value: round(sat.perCpuSecond),
        unit: 'req/CPU-s',
        floor: round(floor.perCpuSecond),
        floor_name: 'bare node:http server',
        note: `platform used ${(sat.cpuShare * 100).toFixed(0)} % of a core while saturated`,
      },
      {
        // The platform is one single-threaded process: its sustained rate is what one core
        // carries, SQLite's waits included (the CPU-only estimate is higher: see note).
        name: `daemons per platform core at ${INTERVAL_S} s interval`,
        value: Math.floor(sat.rps * INTERVAL_S),
        unit: 'daemons',
        floor: Math.floor(floor.rps * INTERVAL_S),
        floor_name: 'bare node:http server',
        target: `≥ ${DAEMONS}`,
        pass: sat.rps * INTERVAL_S >= DAEMONS,
        note: `one runtime per daemon; sustained req/s × ${INTERVAL_S} s; CPU-only estimate ${Math.floor(sat.perCpuSecond * INTERVAL_S)}`,
      },
      {
        name: `platform CPU, ${DAEMONS} daemons at ${INTERVAL_S} s`,
        value: round(pace.cpuShare * 100),
        unit: '% of a core',
        floor: null,
        note: `${pace.beats} heartbeats over ${PACED_S} s, each daemon on its own connection`,
      },
      { name: `heartbeat p99, ${DAEMONS} daemons at ${INTERVAL_S} s`, value: round(pace.p99), unit: 'ms', floor: null, note: `median ${round(pace.p50)} ms` },
    ]);
  } finally {
    bare?.stop();
    await platform?.stop();
  }
}

await main();
