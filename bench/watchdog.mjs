// Watchdog overhead: CPU of the real daemon (`agentd run` from dist/) while 200 silent
// tasks (`sleep`) run under its idle watchdog, wall-clock limit and status polling,
// beside the floor: a bare node process holding 200 silent children on pipes (what any
// supervisor must do at the least). Also the daemon's RSS with those 200 tasks.
// Loopback only; every process started here is stopped before exit.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QUICK, ROOT, cpuSeconds, daemonArgs, emit, log, onExitSignal, round, rssMB, sleep, startPlatform } from './_lib.mjs';

const TASKS = 200;
// One round: the daemon (or the floor's bare node) runs idle for IDLE_BEFORE_S, then 200
// silent tasks start, then its CPU is measured over WINDOW_S from SETTLE_S after the last
// one started. The idle wait keeps the process's own start-up out of the window: V8's
// memory reducer runs three full GCs after a start (--trace-gc: ~8 s after it when idle;
// with 200 tasks started right at ready, ~24 s after it, on their heap), and those landed
// in the window of every round of a full run (25.2 CPU-s/h against 4.8 without them): a
// cost of starting, not of watching. After a settled daemon's burst none came within
// 75 s.
// A daemon runs for days before and between its bursts of tasks. ROUNDS rounds of each;
// the medians are the figure, every round's value is in the note.
const IDLE_BEFORE_S = Number(process.env.BENCH_WATCH_IDLE_BEFORE_S || (QUICK ? 2 : 20));
const SETTLE_S = Number(process.env.BENCH_WATCH_SETTLE_S || 3);
const WINDOW_S = Number(process.env.BENCH_WATCH_WINDOW_S || (QUICK ? 5 : 30));
const ROUNDS = Number(process.env.BENCH_WATCH_ROUNDS || (QUICK ? 1 : 3));
const AGENTD = join(ROOT, 'dist', 'agentd.mjs');

function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AGENTD_') && k !== 'NOTIFY_SOCKET') env[k] = v;
  return { ...env, ...extra };
}

function run(args, env) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [AGENTD, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`agentd ${args[0]} exited ${code}: ${out}`))));
  });
}

async function admin(platform, method, path, body) {
  const res = await fetch(platform.url + path, {
    method,
    headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${await res.text()}`);
  return res.json();
}

/** CPU seconds a process uses over `seconds`, as CPU seconds per hour, and its RSS at the end. */
async function measure(pid, seconds = WINDOW_S) {
  const c0 = await cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu = (await cpuSeconds(pid)) - c0;
  const elapsed = (performance.now() - t0) / 1000;
  return { cpuPerHour: (cpu / elapsed) * 3600, rss: await rssMB(pid) };
}

/** The floor: a bare node process that spawns TASKS silent children on pipes and waits. */
async function floorRun() {
  const src = `
    const { spawn } = require('node:child_process');
    const kids = [];
    setTimeout(() => {
      for (let i = 0; i < ${TASKS}; i++) {
        const c = spawn('/bin/sh', ['-c', 'sleep 600'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        c.stdout.on('data', () => {}); c.stderr.on('data', () => {});
        kids.push(c);
      }
      console.log('SPAWNED');
    }, ${IDLE_BEFORE_S * 1000});
    process.on('SIGTERM', () => { for (const c of kids) { try { process.kill(-c.pid, 'SIGKILL'); } catch {} } process.exit(0); });
    setInterval(() => {}, 1e9);`;
  const p = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    p.once('exit', (c) => reject(new Error(`floor process exited ${c}`)));
    p.stdout.on('data', (d) => String(d).includes('SPAWNED') && resolve());
  });
  await sleep(SETTLE_S * 1000);
  const m = await measure(p.pid);
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
  return m;
}

async function daemonRound() {
  let platform;
  let daemon;
  let dir;
  const cleanup = async () => {
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          daemon.kill('SIGKILL');
          r();
        }, 15_000);
        daemon.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    await platform?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  onExitSignal(cleanup);
  try {
    platform = await startPlatform();
    dir = await mkdtemp(join(tmpdir(), 'agentd-bench-watchdog-'));
    const d = { configDir: join(dir, 'config'), stateDir: join(dir, 'state'), home: join(dir, 'home') };
    const tok = await admin(platform, 'POST', `/api/workspaces/${platform.workspaceId}/install-tokens`, {});
    await run(['install', '--platform', platform.url, '--no-service', '--config-dir', d.configDir, '--state-dir', d.stateDir, '--name', 'bench-watchdog'], cleanEnv({ HOME: d.home, AGENTD_INSTALL_TOKEN: tok.token }));
    daemon = spawn(process.execPath, [...daemonArgs(), AGENTD, 'run', '--config-dir', d.configDir, '--state-dir', d.stateDir], {
      env: cleanEnv({
        ...(process.env.BENCH_AGENTD_WEBSOCKET ? { AGENTD_WEBSOCKET: process.env.BENCH_AGENTD_WEBSOCKET } : {}),
        HOME: d.home,
        AGENTD_HEALTH_ADDR: '127.0.0.1:0',
        AGENTD_MAX_TASKS: String(TASKS),
        AGENTD_LOG_LEVEL: 'warn',
        AGENTD_DRAIN_TIMEOUT: '1s',
        AGENTD_KILL_GRACE: '1s',
      }),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    // Ready (the health port says so), then idle for IDLE_BEFORE_S.
    const readyBy = Date.now() + 30_000;
    for (;;) {
      try {
        const info = JSON.parse(await readFile(join(d.stateDir, 'daemon.json'), 'utf8'));
        if (info.health_url && (await fetch(`${info.health_url}/readyz`)).ok) break;
      } catch {
        /* not yet */
      }
      if (daemon.exitCode !== null) throw new Error(`daemon exited ${daemon.exitCode}`);
      if (Date.now() > readyBy) throw new Error('daemon not ready in 30 s');
      await sleep(100);
    }
    log(`daemon pid ${daemon.pid} ready; idle for ${IDLE_BEFORE_S} s, then ${TASKS} silent tasks…`);
    await sleep(IDLE_BEFORE_S * 1000);
    const ids = [];
    for (let i = 0; i < TASKS; i++) {
      ids.push((await admin(platform, 'POST', `/api/workspaces/${platform.workspaceId}/tasks`, { runtime: 'command', prompt: 'sleep 600' })).id);
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      const list = await admin(platform, 'GET', `/api/workspaces/${platform.workspaceId}/tasks?limit=${TASKS * 2}`);
      const running = list.filter((t) => ids.includes(t.id) && t.status === 'running').length;
      if (running === TASKS) break;
      if (daemon.exitCode !== null) throw new Error(`daemon exited ${daemon.exitCode}`);
      if (Date.now() > deadline) throw new Error(`only ${running}/${TASKS} tasks running after 60 s`);
      await sleep(250);
    }
    log(`${TASKS} tasks running; measuring the daemon for ${WINDOW_S} s from ${SETTLE_S} s after…`);
    await sleep(SETTLE_S * 1000);
    const watched = await measure(daemon.pid);
    const health = JSON.parse(await readFile(join(d.stateDir, 'daemon.json'), 'utf8')).health_url;
    const status = await (await fetch(`${health}/status`)).json();
    const r = status.tasks?.running;
    const runningSeen = Array.isArray(r) ? r.length : typeof r === 'number' ? r : null;
    log(`daemon: ${watched.cpuPerHour.toFixed(1)} CPU-s/h, RSS ${watched.rss.toFixed(1)} MB (status lists ${runningSeen ?? '?'} running)`);
    return { ...watched, push: status.websocket?.status_push === true };
  } finally {
    await cleanup();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) {
    log(`round ${i + 1}/${ROUNDS}`);
    const watched = await daemonRound();
    log(`floor: bare node holding ${TASKS} silent children, ${WINDOW_S} s…`);
    const floor = await floorRun();
    log(`floor: ${floor.cpuPerHour.toFixed(1)} CPU-s/h, RSS ${floor.rss.toFixed(1)} MB`);
    rounds.push({ watched, floor });
  }
  const cpu = median(rounds.map((r) => r.watched.cpuPerHour));
  const floorCpu = median(rounds.map((r) => r.floor.cpuPerHour));
  const polling = rounds.every((r) => r.watched.push) ? 'cancels pushed over the control channel, status poll every 60 s' : 'status poll every 5 s (no push)';
  const each = rounds.map((r) => `${round(r.watched.cpuPerHour)}/${round(r.floor.cpuPerHour)}`).join(', ');
  emit([
    {
      name: `daemon CPU watching ${TASKS} silent tasks`,
      value: round(cpu),
      unit: 'CPU-s/h',
      floor: round(floorCpu),
      floor_name: `bare node holding ${TASKS} silent children`,
      target: '≤ 3× floor',
      pass: cpu <= 3 * floorCpu,
      note: `median of ${ROUNDS} rounds (daemon/floor: ${each}); idle ${IDLE_BEFORE_S} s after ready, then ${TASKS} silent tasks (sh -c 'sleep 600'), ${WINDOW_S} s from ${SETTLE_S} s after the last started; ${polling}`,
    },
    {
      name: `daemon RSS with ${TASKS} silent tasks`,
      value: round(median(rounds.map((r) => r.watched.rss))),
      unit: 'MB',
      floor: round(median(rounds.map((r) => r.floor.rss))),
      floor_name: `bare node holding ${TASKS} silent children`,
    },
  ]);
}

await main();
