// The reference platform on SQLite (one process) beside PostgreSQL (one and two
// replicas over one database), under the daemon protocol spoken by simulated daemons
// enrolled for real (fleet install token → exchange → register):
//   1. heartbeats/s: as fast as the setup answers, CONCURRENCY in flight, round-robin over
//      the replicas as a balancer would;
//   2. claims/s: N tasks enqueued through the admin API, then CLAIMERS daemons (each its
//      own credential and runtime) claim one at a time until the queue is empty; every
//      task must be handed out exactly once, or the bench fails;
//   3. the single-use exchange across replicas: CONTENDERS concurrent exchanges of one
//      install token, alternating between two replicas, ROUNDS times: exactly one wins
//      each round (the rest 401 install_token_already_used), or the bench fails;
//   4. a fleet: FLEET daemons heartbeating every 15 s (±10 %) against two replicas, over
//      pooled keep-alive connections (as a balancer's upstream keepalive): p50/p99
//      latency, each replica's CPU, PostgreSQL's CPU.
// Floors, measured in the same run right after each setup: a bare node:http server per
// replica answering the same routes (claims from an in-memory queue). The load generator's own CPU is reported
// beside every figure: on a 2-core machine it shares the cores with the platform and
// PostgreSQL, so the figures are what the whole stack does on 2 cores, not a replica's
// ceiling.
//
//   node bench/replicas.mjs [--quick]      (npm run build first; BENCH_QUICK=1 as --quick)
//
// PostgreSQL: a throwaway cluster from scripts/test-postgres.sh (its binaries found as that
// script finds them), one fresh database per setup. The script starts the cluster with
// fsync off; this bench turns fsync and full-page writes back on and keeps commits
// asynchronous (synchronous_commit off), which is what the platform's SQLite does
// (WAL, synchronous=NORMAL: a commit is not flushed; the file is never corrupted).
// Writes bench/results/replicas.json (replicas.quick.json for a quick run).
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { QUICK as QUICK_ENV, ROOT, cpuSeconds, emit, heartbeatFlood, log, onExitSignal, quantile, round, sleep, startPlatform, treeCpuSeconds } from './_lib.mjs';

const run = promisify(execFile);
const QUICK = QUICK_ENV || process.argv.includes('--quick');
// Without PostgreSQL: the SQLite process alone, the race and the fleet against it.
const SQLITE_ONLY = process.argv.includes('--sqlite-only') || process.env.BENCH_SQLITE_ONLY === '1';

const CONCURRENCY = 32; // heartbeats in flight while saturating, over all replicas
const SAT_DAEMONS = 1000; // credentials the saturation round-robins over
const SATURATION_S = QUICK ? 2 : 10;
const WARMUP_S = QUICK ? 0.5 : 2;
const TASKS = QUICK ? 300 : 3000;
const CLAIMERS = QUICK ? 16 : 32;
const ROUNDS = QUICK ? 5 : 20;
const CONTENDERS = 20;
const FLEET = Number(process.env.BENCH_FLEET || (QUICK ? 2000 : 10_000));
const INTERVAL_S = 15;
const FLEET_S = QUICK ? 15 : 60;
const FLEET_WARMUP_S = QUICK ? 2 : 5;
const FLEET_CONNECTIONS = 64; // per replica, as a balancer's upstream keepalive pool
const FLEET_TOKEN_USES = 1000; // the most one install token may carry
const HEADERS = { 'content-type': 'application/json', 'x-client-platform': 'daemon', 'x-client-version': 'bench', 'x-client-os': 'linux' };
const ADMIN = 'adm_' + randomBytes(24).toString('hex');
const RESULTS = join(ROOT, 'bench', 'results', QUICK ? 'replicas.quick.json' : 'replicas.json');

// ---- HTTP ----

async function call(pool, method, path, token, body) {
  const res = await pool.request({
    method,
    path,
    headers: { ...HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.statusCode, json, text };
}

async function ok(pool, method, path, token, body) {
  const r = await call(pool, method, path, token, body);
  // Answers never carry a credential except the ones asked for; the path carries none.
  if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${r.text.slice(0, 200)}`);
  return r.json;
}

/** Generator CPU (this process, all threads) as a share of one core since `from`. */
function genCpu(from) {
  const u = process.cpuUsage();
  return { user: u.user, system: u.system, at: performance.now(), cores: from ? (u.user + u.system - from.user - from.system) / 1000 / (performance.now() - from.at) : 0 };
}

// ---- PostgreSQL ----

export async function startPostgres() {
  const script = join(ROOT, 'scripts', 'test-postgres.sh');
  if (!existsSync(script)) throw new Error(`${script} is missing: this checkout predates the platform's PostgreSQL support`);
  let bindir;
  try {
    bindir = (await run(script, ['bindir'])).stdout.trim();
  } catch {
    throw new Error('no PostgreSQL server binaries (initdb, pg_ctl) found; install them (Debian: apt-get install postgresql) or set PG_BINDIR, then run: node bench/replicas.mjs (or measure SQLite alone: node bench/replicas.mjs --sqlite-only)');
  }
  // psql beside the server binaries, else on PATH (Debian links only initdb and pg_ctl onto PATH).
  const psqlBin = existsSync(join(bindir, 'psql')) ? join(bindir, 'psql') : 'psql';
  const dir = await mkdtemp(join(tmpdir(), 'agentd-bench-pg-'));
  const stop = () => run(script, ['stop', dir]).catch((e) => log(`stopping PostgreSQL: ${e.message}`));
  let u;
  let psql;
  let postmasterPid;
  let version;
  try {
    const url = (await run(script, ['start', dir])).stdout.trim().split('\n').pop();
    u = new URL(url);
    psql = (db, sql) => run(psqlBin, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', u.hostname, '-p', u.port, '-U', 'postgres', '-d', db, '-c', sql]);
    await psql('postgres', 'ALTER SYSTEM SET fsync = on');
    await psql('postgres', 'ALTER SYSTEM SET full_page_writes = on');
    await psql('postgres', 'ALTER SYSTEM SET synchronous_commit = off');
    await psql('postgres', 'SELECT pg_reload_conf()');
    const clusterDir = existsSync(join(dir, 'cluster-dir')) ? (await readFile(join(dir, 'cluster-dir'), 'utf8')).trim() : join(dir, 'cluster');
    postmasterPid = Number((await readFile(join(clusterDir, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    version = `PostgreSQL ${(await psql('postgres', 'SHOW server_version')).stdout.trim()}`;
  } catch (e) {
    await stop();
    throw e;
  }
  let n = 0;
  return {
    version,
    postmasterPid,
    async createDatabase() {
      const name = `agentd_bench_${++n}`;
      await psql('postgres', `CREATE DATABASE ${name}`);
      u.pathname = `/${name}`;
      return u.toString();
    },
    stop,
  };
}

// ---- setups ----

/** One SQLite process, or `replicas` processes over one fresh PostgreSQL database, started together. */
async function startSetup(name, pg, replicas) {
  const dbArgs = pg ? ['--database', await pg.createDatabase()] : [];
  // Started together: two replicas opening a new database race for its migrations.
  const procs = await Promise.all(Array.from({ length: replicas }, () => startPlatform(dbArgs, { env: { AGENTD_PLATFORM_ADMIN_TOKEN: ADMIN } })));
  const ws = procs[0].workspaceId;
  for (const p of procs) if (p.workspaceId !== ws) throw new Error(`${name}: replicas disagree on the default workspace (${ws} vs ${p.workspaceId})`);
  const pools = procs.map((p) => new Pool(p.url, { connections: CONCURRENCY }));
  return {
    name,
    procs,
    pools,
    ws,
    pgPid: pg?.postmasterPid,
    targets: procs.map((p) => ({ url: p.url, pid: p.pid })),
    async stop() {
      await Promise.all(pools.map((p) => p.close()));
      await Promise.all(procs.map((p) => p.stop()));
    },
  };
}

/** `count` daemons enrolled through fleet tokens, spread over the replicas; their credentials. */
async function enrol(setup, count) {
  const { pools, ws } = setup;
  const tokens = [];
  for (let left = count; left > 0; left -= FLEET_TOKEN_USES)
    tokens.push((await ok(pools[0], 'POST', `/api/workspaces/${ws}/install-tokens`, ADMIN, { uses: Math.min(FLEET_TOKEN_USES, left), ttl_s: 3600 })).token);
  const fleet = new Array(count);
  let next = 0;
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const pool = pools[i % pools.length];
      const daemonId = randomUUID();
      const ex = await ok(pool, 'POST', '/api/install-tokens/exchange', undefined, { token: tokens[Math.floor(i / FLEET_TOKEN_USES)], daemon_id: daemonId });
      const reg = await ok(pool, 'POST', '/api/daemon/register', ex.token, {
        workspace_id: ex.workspace_id,
        daemon_id: daemonId,
        device_name: `bench-${i}`,
        cli_version: 'bench',
        runtimes: [{ name: 'command', type: 'command', version: '1', status: 'online' }],
      });
      fleet[i] = { token: ex.token, runtimeId: reg.runtimes[0].id };
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker));
  return fleet;
}

// ---- 1. heartbeats/s ----

/** Heartbeats as fast as `targets` answer, CONCURRENCY in flight, request k to target k mod n. */
async function saturate(targets, fleet, seconds, pgPid) {
  const pools = targets.map((t) => new Pool(t.url, { connections: CONCURRENCY }));
  const flood = heartbeatFlood(pools, fleet, CONCURRENCY, HEADERS);
  await sleep(WARMUP_S * 1000);
  flood.measure();
  const cpu0 = await Promise.all(targets.map((t) => cpuSeconds(t.pid)));
  const pg0 = pgPid ? await treeCpuSeconds(pgPid) : 0;
  const gen0 = genCpu();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const { ok: okCount, errors, lat } = flood.result();
  const elapsed = (performance.now() - t0) / 1000;
  const gen = genCpu(gen0).cores;
  const cpu = await Promise.all(targets.map(async (t, k) => ((await cpuSeconds(t.pid)) - cpu0[k]) / elapsed));
  const pgCpu = pgPid ? ((await treeCpuSeconds(pgPid)) - pg0) / elapsed : null;
  await flood.end();
  await Promise.all(pools.map((p) => p.close()));
  return { load1: loadavg()[0], rps: okCount / elapsed, ok: okCount, errors, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), cpu, pgCpu, gen };
}

// ---- 2. claims/s ----

/** Enqueues TASKS prompt tasks for the `command` runtime through the admin API; their ids. */
async function enqueue(setup, count) {
  const ids = new Set();
  let next = 0;
  async function worker() {
    while (next < count) {
      const k = next++;
      const t = await ok(setup.pools[k % setup.pools.length], 'POST', `/api/workspaces/${setup.ws}/tasks`, ADMIN, { runtime: 'command', prompt: `true # ${k}`, timeout_s: 600 });
      ids.add(t.id);
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker));
  return ids;
}

/**
 * Claimer k claims from target k mod n, one task per claim, until it is answered none.
 * Returns claims/s and the exactly-once check against `expected` (the enqueued ids).
 */
async function drain(targets, claimers, expected, pgPid) {
  const pools = targets.map((t) => new Pool(t.url, { connections: Math.ceil(claimers.length / targets.length) }));
  const seen = new Map();
  const failures = [];
  let overfull = 0;
  const cpu0 = await Promise.all(targets.map((t) => cpuSeconds(t.pid)));
  const pg0 = pgPid ? await treeCpuSeconds(pgPid) : 0;
  const gen0 = genCpu();
  const lat = [];
  const t0 = performance.now();
  await Promise.all(
    claimers.map(async (c, k) => {
      const pool = pools[k % pools.length];
      for (;;) {
        const s = performance.now();
        const r = await call(pool, 'POST', '/api/daemon/tasks/claim', c.token, { runtime_ids: [c.runtimeId], max_tasks: 1 });
        lat.push(performance.now() - s);
        if (r.status !== 200) {
          // A failed claim may have been committed with its answer lost: the check below
          // then finds the task missing, so a failure is never silently absorbed.
          failures.push(`${r.status} ${r.text.slice(0, 120)}`);
          if (failures.length > 20) return;
          continue;
        }
        if (r.json.tasks.length === 0) return;
        if (r.json.tasks.length > 1) overfull++; // asked for one
        for (const t of r.json.tasks) seen.set(t.id, (seen.get(t.id) ?? 0) + 1);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const gen = genCpu(gen0).cores;
  const cpu = await Promise.all(targets.map(async (t, k) => ((await cpuSeconds(t.pid)) - cpu0[k]) / elapsed));
  const pgCpu = pgPid ? ((await treeCpuSeconds(pgPid)) - pg0) / elapsed : null;
  await Promise.all(pools.map((p) => p.close()));
  const twice = [...seen].filter(([, n]) => n > 1).length;
  const missing = [...expected].filter((id) => !seen.has(id)).length;
  const unknown = [...seen.keys()].filter((id) => !expected.has(id)).length;
  lat.sort((a, b) => a - b);
  return { load1: loadavg()[0], cps: seen.size / elapsed, claimed: seen.size, overfull, twice, missing, unknown, failures, p99: quantile(lat, 0.99), cpu, pgCpu, gen, seconds: elapsed };
}

async function claims(setup, claimers) {
  const expected = await enqueue(setup, TASKS);
  const r = await drain(setup.targets, claimers, expected, setup.pgPid);
  // The platform's own view: none of ours left queued, every one claimed.
  const listed = await ok(setup.pools[0], 'GET', `/api/workspaces/${setup.ws}/tasks?limit=10000`, ADMIN);
  const ours = listed.filter((t) => expected.has(t.id));
  r.stillQueued = ours.filter((t) => t.status === 'queued').length;
  r.notClaimed = ours.filter((t) => t.status !== 'claimed').length;
  r.exactlyOnce = r.overfull === 0 && r.twice === 0 && r.missing === 0 && r.unknown === 0 && r.failures.length === 0 && r.notClaimed === 0 && ours.length === expected.size;
  return r;
}

// ---- 3. the single-use exchange across two replicas ----

async function race(setup) {
  const per = Math.ceil(CONTENDERS / setup.procs.length);
  const pools = setup.procs.map((p) => new Pool(p.url, { connections: per }));
  // Open every connection first, so the exchanges below leave at the same moment.
  await Promise.all(pools.flatMap((p) => Array.from({ length: per }, () => ok(p, 'GET', '/healthz'))));
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const mit = await ok(setup.pools[r % setup.pools.length], 'POST', `/api/workspaces/${setup.ws}/install-tokens`, ADMIN, {});
    const answers = await Promise.all(
      Array.from({ length: CONTENDERS }, (_, k) => call(pools[k % pools.length], 'POST', '/api/install-tokens/exchange', undefined, { token: mit.token, daemon_id: randomUUID() })),
    );
    const wins = answers.filter((a) => a.status === 200).length;
    const used = answers.filter((a) => a.status === 401 && a.json?.error === 'install_token_already_used').length;
    const other = answers.filter((a) => a.status !== 200 && !(a.status === 401 && a.json?.error === 'install_token_already_used')).map((a) => `${a.status} ${a.text.slice(0, 80)}`);
    rounds.push({ wins, already_used: used, other });
  }
  await Promise.all(pools.map((p) => p.close()));
  return rounds;
}

// ---- 4. the fleet ----

/**
 * Every daemon heartbeats once per INTERVAL_S (±10 %), its first beat at a random point of
 * the first interval; beat k goes to replica k mod n over that replica's keep-alive pool.
 * A 10 ms timing wheel, not a timer per daemon, and typed arrays for the samples: the
 * generator stays small at 10,000 daemons. Only beats due after the warm-up count.
 */
async function fleetRun(setup, fleet) {
  const pools = setup.procs.map((p) => new Pool(p.url, { connections: FLEET_CONNECTIONS }));
  const TICK = 10;
  const intervalMs = INTERVAL_S * 1000;
  const warmMs = FLEET_WARMUP_S * 1000;
  const horizon = warmMs + FLEET_S * 1000;
  const wheel = Array.from({ length: Math.ceil(horizon / TICK) }, () => []);
  const due = new Float64Array(fleet.length);
  for (let d = 0; d < fleet.length; d++) {
    due[d] = Math.random() * intervalMs;
    wheel[Math.floor(due[d] / TICK)].push(d);
  }
  const cap = Math.ceil((fleet.length * (FLEET_S * 1000)) / (intervalMs * 0.9)) + fleet.length;
  const lat = new Float64Array(cap);
  const lag = new Float64Array(cap);
  const sentAt = new Float32Array(cap); // seconds into the window, for the timeline
  let n = 0;
  let errors = 0;
  let inflight = 0;
  let maxInflight = 0;
  let rr = 0;
  const bodies = fleet.map((d) => JSON.stringify({ runtime_id: d.runtimeId }));
  const T0 = performance.now();
  function fire(d) {
    const at = due[d];
    const s = performance.now();
    const counted = at >= warmMs;
    inflight++;
    if (inflight > maxInflight) maxInflight = inflight;
    pools[rr++ % pools.length]
      .request({ method: 'POST', path: '/api/daemon/heartbeat', headers: { ...HEADERS, authorization: `Bearer ${fleet[d].token}` }, body: bodies[d] })
      .then(async (res) => {
        await res.body.text();
        if (!counted) return;
        if (res.statusCode !== 200 || n >= cap) return void errors++;
        lat[n] = performance.now() - s;
        lag[n] = s - T0 - at;
        sentAt[n] = (s - T0 - warmMs) / 1000;
        n++;
      })
      .catch(() => {
        if (counted) errors++;
      })
      .finally(() => inflight--);
    const nextAt = at + intervalMs * (0.9 + Math.random() * 0.2);
    due[d] = nextAt;
    const b = Math.floor(nextAt / TICK);
    if (b < wheel.length) wheel[b].push(d);
  }
  let snap0 = null;
  let tick = 0;
  const queuedAt = [];
  while (tick < wheel.length) {
    const now = performance.now() - T0;
    const sec = Math.floor((now - warmMs) / 1000);
    if (sec >= 0 && sec < FLEET_S && queuedAt[sec] === undefined) queuedAt[sec] = pools.reduce((a, p) => a + p.stats.queued, 0);
    if (!snap0 && now >= warmMs)
      snap0 = { at: performance.now(), cpu: await Promise.all(setup.procs.map((p) => cpuSeconds(p.pid))), pg: setup.pgPid ? await treeCpuSeconds(setup.pgPid) : 0, gen: genCpu() };
    while (tick < wheel.length && tick * TICK <= now) {
      for (const d of wheel[tick]) fire(d);
      wheel[tick] = null;
      tick++;
    }
    await sleep(2);
  }
  const elapsed = (performance.now() - snap0.at) / 1000;
  const gen = genCpu(snap0.gen).cores;
  const cpu = await Promise.all(setup.procs.map(async (p, k) => ((await cpuSeconds(p.pid)) - snap0.cpu[k]) / elapsed));
  const pgCpu = setup.pgPid ? ((await treeCpuSeconds(setup.pgPid)) - snap0.pg) / elapsed : null;
  while (inflight > 0) await sleep(10);
  await Promise.all(pools.map((p) => p.close()));
  // Per second of the window: beats answered, p50 and max latency, and how many requests
  // waited in the generator's pools for a free connection (all in use: the replicas were slow).
  const timeline = Array.from({ length: FLEET_S }, (_, k) => ({ s: k, beats: 0, p50_ms: 0, max_ms: 0, queued: queuedAt[k] ?? 0 }));
  const perSecond = Array.from({ length: FLEET_S }, () => []);
  for (let i = 0; i < n; i++) perSecond[Math.min(FLEET_S - 1, Math.max(0, Math.floor(sentAt[i])))].push(lat[i]);
  perSecond.forEach((xs, k) => {
    xs.sort((a, b) => a - b);
    Object.assign(timeline[k], { beats: xs.length, p50_ms: round(quantile(xs, 0.5)), max_ms: round(xs[xs.length - 1] ?? 0) });
  });
  const l = lat.subarray(0, n).sort();
  const g = lag.subarray(0, n).sort();
  return { load1: loadavg()[0], timeline, beats: n, rate: n / FLEET_S, errors, p50: quantile(l, 0.5), p99: quantile(l, 0.99), lagP99: quantile(g, 0.99), maxInflight, cpu, pgCpu, gen, rssMB: process.memoryUsage().rss / 2 ** 20 };
}

// ---- the floor ----

/**
 * A bare node:http server in its own process: heartbeats answered with the same JSON,
 * claims popped from an in-memory queue of `tasks` ids (what any Node HTTP service could
 * do on this machine, with no storage at all).
 */
async function startBare(tasks, tag) {
  const src = `
    const http = require('node:http');
    const queue = Array.from({ length: ${tasks} }, (_, i) => '${tag}-' + i);
    const s = http.createServer((req, res) => {
      let b = ''; req.on('data', (c) => (b += c)); req.on('end', () => {
        const body = JSON.parse(b || '{}');
        let out;
        if (req.url === '/api/daemon/tasks/claim') {
          const id = queue.shift();
          out = JSON.stringify({ tasks: id ? [{ id, runtime_id: body.runtime_ids[0], prompt: 'true', runtime: 'command', auth_token: 'mat_x' }] : [] });
        } else out = JSON.stringify({ status: 'ok', runtime_id: body.runtime_id, runtime_status: 'online' });
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
  const ids = new Set(Array.from({ length: tasks }, (_, i) => `${tag}-${i}`));
  return { url: `http://127.0.0.1:${port}`, pid: proc.pid, ids, stop: () => proc.kill('SIGTERM') };
}

/** Heartbeats/s and claims/s of `n` bare servers, driven exactly as a setup of n replicas is. */
async function floorOf(n, fleet, claimers) {
  const bare = [];
  try {
    for (let k = 0; k < n; k++) bare.push(await startBare(Math.ceil(TASKS / n), `b${k}`));
    const hb = await saturate(bare, fleet, SATURATION_S);
    const expected = new Set(bare.flatMap((b) => [...b.ids]));
    // Claimer k drains server k mod n, so each server's queue is emptied by its own claimers.
    const cl = await drain(bare, claimers, expected);
    return { hb, cl };
  } finally {
    for (const b of bare) b.stop();
  }
}

// ---- report ----

const pct = (x) => `${(x * 100).toFixed(0)} %`;

function table(rows) {
  const head = ['setup', 'heartbeats/s', 'claims/s', 'p99', 'load'];
  const lines = [head, ...rows];
  const w = head.map((_, i) => Math.max(...lines.map((r) => [...r[i]].length)));
  const fmt = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ');
  return [fmt(head), w.map((x) => '-'.repeat(x)).join('-|-'), ...rows.map(fmt)].join('\n');
}

async function main() {
  const started = new Date().toISOString();
  let pg;
  let setup;
  onExitSignal(async () => {
    await setup?.stop();
    await pg?.stop();
  });
  const results = { generated_at: started, quick: QUICK, setups: [] };
  const failures = [];
  try {
    if (!SQLITE_ONLY) {
      pg = await startPostgres();
      log(`PostgreSQL: ${pg.version}, fsync on, synchronous_commit off`);
      results.postgres = pg.version;
    }
    const plan = [{ name: 'SQLite, 1 process', pg: null, replicas: 1 }];
    if (!SQLITE_ONLY) plan.push({ name: 'PostgreSQL, 1 replica', pg, replicas: 1 }, { name: 'PostgreSQL, 2 replicas', pg, replicas: 2 });
    for (const p of plan) {
      setup = await startSetup(p.name, p.pg, p.replicas);
      // The last setup (two replicas, or the SQLite process alone) also carries the race and the fleet.
      const two = p === plan[plan.length - 1];
      const count = two ? Math.max(FLEET, SAT_DAEMONS) : SAT_DAEMONS;
      log(`${p.name}: enrolling ${count} + ${CLAIMERS} daemons…`);
      let t = performance.now();
      const fleet = await enrol(setup, count);
      const claimers = await enrol(setup, CLAIMERS);
      const enrolS = (performance.now() - t) / 1000;
      log(`${p.name}: enrolled in ${enrolS.toFixed(1)} s; heartbeats for ${SATURATION_S} s (${CONCURRENCY} in flight)…`);
      const hb = await saturate(setup.targets, fleet.slice(0, SAT_DAEMONS), SATURATION_S, setup.pgPid);
      log(`${p.name}: ${hb.rps.toFixed(0)} heartbeats/s, p99 ${hb.p99.toFixed(1)} ms, errors ${hb.errors}; replica CPU ${hb.cpu.map(pct).join(' + ')}${hb.pgCpu === null ? '' : `, PostgreSQL ${pct(hb.pgCpu)}`}, generator ${pct(hb.gen)}`);
      if (hb.errors > 0) failures.push(`${p.name}: ${hb.errors} heartbeats failed`);
      log(`${p.name}: ${TASKS} tasks, ${CLAIMERS} claimers…`);
      const cl = await claims(setup, claimers);
      log(`${p.name}: ${cl.cps.toFixed(0)} claims/s (${cl.claimed} in ${cl.seconds.toFixed(2)} s), p99 ${cl.p99.toFixed(1)} ms; twice ${cl.twice}, over max_tasks ${cl.overfull}, missing ${cl.missing}, still queued ${cl.stillQueued}, failed claims ${cl.failures.length}; replica CPU ${cl.cpu.map(pct).join(' + ')}, generator ${pct(cl.gen)}`);
      if (!cl.exactlyOnce)
        failures.push(`${p.name}: claims not exactly once: ${cl.claimed}/${TASKS} claimed, ${cl.twice} twice, ${cl.overfull} answers with more than the one task asked for, ${cl.missing} missing, ${cl.unknown} unknown, ${cl.notClaimed} not in state claimed, failed claims: ${cl.failures.slice(0, 3).join('; ') || 'none'}`);
      const entry = { name: p.name, replicas: p.replicas, database: p.pg ? 'postgres' : 'sqlite', enrolled: count + CLAIMERS, enrol_s: round(enrolS), heartbeats: hb, claims: { ...cl, failures: cl.failures.slice(0, 5) } };
      if (two) {
        log(`${p.name}: ${ROUNDS} rounds of ${CONTENDERS} concurrent exchanges of one install token…`);
        const rounds = await race(setup);
        entry.race = rounds;
        log(`${p.name}: wins per round ${rounds.map((r) => r.wins).join(' ')}`);
        const bad = rounds.filter((r) => r.wins !== 1 || r.already_used !== CONTENDERS - 1);
        if (bad.length > 0) failures.push(`install-token race: ${bad.length}/${ROUNDS} rounds without exactly one winner (${JSON.stringify(bad[0])})`);
        log(`${p.name}: fleet of ${FLEET} daemons at ${INTERVAL_S} s for ${FLEET_S} s (+${FLEET_WARMUP_S} s warm-up), ${FLEET_CONNECTIONS} connections per replica…`);
        t = performance.now();
        const fl = await fleetRun(setup, fleet.slice(0, FLEET));
        entry.fleet = { daemons: FLEET, interval_s: INTERVAL_S, window_s: FLEET_S, ...fl };
        log(`${p.name}: fleet ${fl.beats} beats (${fl.rate.toFixed(0)}/s), p50 ${fl.p50.toFixed(1)} ms, p99 ${fl.p99.toFixed(1)} ms, errors ${fl.errors}, send lag p99 ${fl.lagP99.toFixed(1)} ms; replica CPU ${fl.cpu.map(pct).join(', ')}${fl.pgCpu === null ? '' : `, PostgreSQL ${pct(fl.pgCpu)}`}, generator ${pct(fl.gen)}, RSS ${fl.rssMB.toFixed(0)} MB`);
        log(`${p.name}: fleet by second (p50/max ms, requests waiting for a connection): ${fl.timeline.map((t) => `${t.p50_ms}/${t.max_ms}${t.queued ? ` q${t.queued}` : ''}`).join(' ')}`);
        if (fl.errors > 0) failures.push(`fleet: ${fl.errors} heartbeats failed`);
      }
      results.setups.push(entry);
      await setup.stop();
      setup = undefined;
      // The floor right after the setup it is compared with: the machine is shared, and
      // its load drifts over minutes.
      const f = await floorOf(p.replicas, fleet.slice(0, SAT_DAEMONS), claimers);
      entry.floor = { replicas: p.replicas, heartbeats: f.hb, claims: f.cl };
      log(`${p.name}: floor, ${p.replicas} bare node:http server${p.replicas > 1 ? 's' : ''}: ${f.hb.rps.toFixed(0)} heartbeats/s, ${f.cl.cps.toFixed(0)} claims/s, generator ${pct(f.hb.gen)}`);
    }
  } finally {
    await setup?.stop();
    await pg?.stop();
  }

  const last = results.setups[results.setups.length - 1];
  const rows = results.setups.flatMap((s) => [
    [s.name, s.heartbeats.rps.toFixed(0), s.claims.cps.toFixed(0), `${s.heartbeats.p99.toFixed(1)} ms`, s.heartbeats.load1.toFixed(1)],
    [`  floor: ${s.replicas} bare node:http`, s.floor.heartbeats.rps.toFixed(0), s.floor.claims.cps.toFixed(0), `${s.floor.heartbeats.p99.toFixed(1)} ms`, s.floor.heartbeats.load1.toFixed(1)],
  ]);
  const fl = last.fleet;
  const where = `${last.replicas} ${last.database === 'postgres' ? 'replica' : 'process'}${last.replicas > 1 ? 's' : ''}`;
  rows.push([`fleet: ${FLEET} daemons @${INTERVAL_S} s, ${where}`, fl.rate.toFixed(0), '—', `${fl.p99.toFixed(1)} ms`, fl.load1.toFixed(1)]);
  const gens = results.setups.map((s) => Math.max(s.heartbeats.gen, s.claims.gen));
  const summary = [
    table(rows),
    `(p99: heartbeat latency; saturation rows at ${CONCURRENCY} in flight; load: the machine's 1-minute load average at the end of the heartbeat window, on ${cpus().length} cores)`,
    `install-token race, ${where}: wins per round ${last.race.map((r) => r.wins).join(' ')}`,
    `fleet: p50 ${fl.p50.toFixed(1)} ms; replica CPU ${fl.cpu.map(pct).join(', ')} of a core${fl.pgCpu === null ? '' : `; PostgreSQL ${pct(fl.pgCpu)}`}; generator ${pct(fl.gen)}, RSS ${fl.rssMB.toFixed(0)} MB`,
    `load generator: up to ${Math.max(...gens).toFixed(2)} cores while saturating (of ${cpus().length}); platform, PostgreSQL and generator share them`,
    // One event loop: near a full core, the figures above are the generator's ceiling.
    ...(Math.max(...gens) > 0.8 ? ['WARNING: the load generator used more than 0.8 of a core; the saturation figures may be its limit, not the platform\'s'] : []),
  ].join('\n');
  process.stdout.write(summary + '\n');
  results.summary = summary;
  results.failures = failures;
  await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
  await writeFile(RESULTS, JSON.stringify(results, null, 2) + '\n');
  log(`written to ${RESULTS}`);
  if (failures.length > 0) {
    for (const f of failures) log(`FAILED: ${f}`);
    process.exit(1);
  }

  const hbNote = (s) => `${CONCURRENCY} in flight, ${SATURATION_S} s; replica CPU ${s.heartbeats.cpu.map(pct).join(' + ')}${s.heartbeats.pgCpu === null ? '' : `, PostgreSQL ${pct(s.heartbeats.pgCpu)}`}, generator ${pct(s.heartbeats.gen)} (2 cores shared)`;
  const clNote = (s) => `${TASKS} tasks, ${CLAIMERS} claimers, each once (checked); generator ${pct(s.claims.gen)}`;
  const figures = [];
  for (const s of results.setups) {
    const n = s.replicas;
    const fname = `bare node:http server${n > 1 ? ' ×2' : ''}`;
    figures.push({ name: `heartbeats/s, ${s.name}`, value: round(s.heartbeats.rps), unit: 'req/s', floor: round(s.floor.heartbeats.rps), floor_name: fname, note: hbNote(s) });
    figures.push({ name: `claims/s, ${s.name}`, value: round(s.claims.cps), unit: 'claims/s', floor: round(s.floor.claims.cps), floor_name: `${fname}, in-memory queue`, note: clNote(s) });
  }
  const oneWinner = last.race.filter((r) => r.wins === 1).length;
  figures.push({ name: `install-token race across ${where}: rounds with exactly one winner`, value: oneWinner, unit: 'rounds', floor: null, target: `= ${ROUNDS}`, pass: oneWinner === ROUNDS, note: `${CONTENDERS} concurrent exchanges per round, alternating replicas` });
  figures.push({ name: `fleet heartbeat p99, ${FLEET} daemons at ${INTERVAL_S} s, ${where}`, value: round(fl.p99), unit: 'ms', floor: null, note: `median ${round(fl.p50)} ms, ${fl.beats} beats over ${FLEET_S} s, send lag p99 ${round(fl.lagP99)} ms` });
  fl.cpu.forEach((c, k) => figures.push({ name: `fleet CPU of ${last.replicas > 1 ? `replica ${'AB'[k]}` : 'the platform'}, ${FLEET} daemons at ${INTERVAL_S} s`, value: round(c * 100), unit: '% of a core', floor: null }));
  if (fl.pgCpu !== null) figures.push({ name: `fleet CPU of PostgreSQL, ${FLEET} daemons at ${INTERVAL_S} s`, value: round(fl.pgCpu * 100), unit: '% of a core', floor: null, note: 'postmaster and its backends' });
  figures.push({ name: `fleet CPU of the load generator, ${FLEET} daemons at ${INTERVAL_S} s`, value: round(fl.gen * 100), unit: '% of a core', floor: null, note: `RSS ${round(fl.rssMB)} MB` });
  emit(figures);
}

// Importable (startPostgres) without running.
if (import.meta.url === `file://${process.argv[1]}`) await main();
