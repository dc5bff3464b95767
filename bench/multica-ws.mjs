// agentd against a Multica-shaped server with a WebSocket control channel and NO long
// poll (test/conformance/multica-server.ts, bundled here with esbuild):
//   1. enqueue → child spawn over 50 Multica-shaped claude tasks (fake claude on PATH),
//      one after the other, the daemon at its defaults (heartbeat 15 s, poll 30 s): the
//      wake-up has to come over the WebSocket (`daemon:task_available`), or a task waits
//      for the next poll. Spawn time is the daemon's "task process started" log line;
//   2. idle requests per minute, HTTP and WebSocket frames apart, with the channel and
//      with AGENTD_WEBSOCKET=off, beside what Multica's daemon sends at its defaults
//      (one heartbeat per runtime every 15 s, one claim every 30 s).
// Local only (127.0.0.1), temp dirs, everything stopped at the end.
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { QUICK, ROOT, emit, log, onExitSignal, quantile, round, sleep } from './_lib.mjs';

const TASKS = QUICK ? 15 : 50;
const IDLE_S = Number(process.env.BENCH_IDLE_WINDOW_S || (QUICK ? 30 : 120));
const AGENTD = join(ROOT, 'dist', 'agentd.mjs');
const HEARTBEAT_S = 15;
const POLL_S = 30;

const cleanups = [];
const cleanup = async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  cleanups.length = 0;
};
onExitSignal(cleanup);

function run(cmd, args, env) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

/** Enrols and starts `agentd run` against the fake server; resolves once it is ready. */
async function startAgentd(s, root, extraEnv) {
  const home = join(root, 'home');
  const bin = join(root, 'bin');
  await mkdir(bin, { recursive: true });
  // Only claude on PATH (plus the built-in command runtime): two runtimes.
  await symlink(join(ROOT, 'test', 'fixtures', 'bin', 'claude'), join(bin, 'claude')).catch(() => {});
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AGENTD_') && k !== 'NOTIFY_SOCKET') env[k] = v;
  Object.assign(env, { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_STATE_HOME: join(home, '.local/state'), AGENTD_HEALTH_ADDR: '127.0.0.1:0', PATH: `${bin}:${process.env.PATH}` }, extraEnv);
  const dirs = ['--config-dir', join(root, 'config'), '--state-dir', join(root, 'state')];
  const tok = await s.createInstallToken();
  const inst = await run(process.execPath, [AGENTD, 'install', '--platform', s.url, '--no-service', ...dirs, '--name', 'bench-multica'], { ...env, AGENTD_INSTALL_TOKEN: tok.token });
  if (inst.code !== 0) throw new Error(`agentd install failed: ${inst.out}`);
  const d = spawn(process.execPath, [AGENTD, 'run', ...dirs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => d.once('exit', r));
  const stop = async () => {
    if (d.exitCode === null) {
      d.kill('SIGTERM');
      const t = setTimeout(() => d.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
  };
  cleanups.push(stop);
  const spawnedAt = new Map(); // task id → epoch ms of "task process started"
  const claimToSpawn = new Map(); // task id → ms from the claim's answer to the spawn (the daemon's own figure)
  let buf = '';
  d.stdout.on('data', (c) => {
    buf += c;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.includes('"task process started"')) continue;
      try {
        const j = JSON.parse(line);
        spawnedAt.set(j.task_id, Date.parse(j.time));
        claimToSpawn.set(j.task_id, j.spawn_ms);
      } catch {
        /* not JSON */
      }
    }
  });
  d.stderr.on('data', (c) => { if (process.env.BENCH_DEBUG) process.stderr.write(c); });
  const until = Date.now() + 20_000;
  for (;;) {
    if (Date.now() > until) throw new Error('daemon not ready in 20 s');
    try {
      const info = JSON.parse(await readFile(join(root, 'state', 'daemon.json'), 'utf8'));
      if (info.health_url && (await fetch(`${info.health_url}/readyz`)).ok) break;
    } catch {
      /* not yet */
    }
    await sleep(50);
  }
  return { d, spawnedAt, claimToSpawn, stop };
}

const done = (t) => t.status === 'completed' || t.status === 'failed';

async function idleRate(s, fromIdx) {
  const t0 = Date.now();
  const n0 = s.requests.length;
  await sleep(IDLE_S * 1000);
  const window = s.requests.slice(n0);
  const minutes = (Date.now() - t0) / 60_000;
  const http = window.filter((r) => r.method !== 'WS' && r.path !== '/api/daemon/ws').length / minutes;
  const wsFrames = window.filter((r) => r.method === 'WS').length / minutes;
  const dials = window.filter((r) => r.path === '/api/daemon/ws').length / minutes;
  const byPath = {};
  for (const r of window) byPath[`${r.method} ${r.path}`] = (byPath[`${r.method} ${r.path}`] ?? 0) + 1;
  void fromIdx;
  return { http, wsFrames, dials, byPath };
}

async function main() {
  const out = await mkdtemp(join(tmpdir(), 'agentd-bench-multica-'));
  cleanups.push(() => rm(out, { recursive: true, force: true }));
  const serverJs = join(out, 'multica-server.mjs');
  await build({ entryPoints: [join(ROOT, 'test', 'conformance', 'multica-server.ts')], outfile: serverJs, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' });
  const { startMulticaServer } = await import(pathToFileURL(serverJs).href);

  // 1. latency and idle rate with the WebSocket.
  const s = await startMulticaServer();
  cleanups.push(() => s.close());
  const a = await startAgentd(s, join(out, 'ws'), {});
  await s.waitFor('the WebSocket', () => s.sockets().length > 0);
  // The claim loop answers at once three times, then settles into its 30 s poll.
  await s.waitFor('the claim loop to settle', () => s.requests.filter((r) => r.path === '/api/daemon/tasks/claim').length >= 3);
  await sleep(500);
  log(`daemon ready (pid ${a.d.pid}), WebSocket up; ${TASKS} tasks`);
  const lat = [];
  const inner = [];
  for (let i = 0; i < TASKS; i++) {
    const t = s.enqueue({ provider: 'claude', context: { chat_session_id: `bench-${i}`, chat_message: 'hello' } });
    await s.waitFor(`task ${i}`, () => done(t), 30_000);
    if (t.status !== 'completed') throw new Error(`task ${i} ${t.status}: ${JSON.stringify(t.result)}`);
    await s.waitFor(`spawn log of task ${i}`, () => a.spawnedAt.has(t.id), 5_000);
    lat.push(a.spawnedAt.get(t.id) - t.enqueuedAt);
    inner.push(a.claimToSpawn.get(t.id));
  }
  inner.sort((x, y) => x - y);
  log(`  of which claim answer → spawn (daemon's spawn_ms): median ${round(quantile(inner, 0.5))} ms p99 ${round(quantile(inner, 0.99))} ms`);
  lat.sort((x, y) => x - y);
  log(`enqueue → spawn: n=${lat.length} median ${quantile(lat, 0.5)} ms p99 ${quantile(lat, 0.99)} ms max ${lat[lat.length - 1]} ms`);
  const runtimes = s.runtimes.filter((r) => !r.deleted).length;
  log(`idle with the WebSocket: ${IDLE_S} s window`);
  const withWs = await idleRate(s);
  log(`  HTTP ${round(withWs.http)}/min, WebSocket frames sent ${round(withWs.wsFrames)}/min; ${JSON.stringify(withWs.byPath)}`);
  await a.stop();
  await s.close();

  // 2. idle rate without it.
  const s2 = await startMulticaServer();
  cleanups.push(() => s2.close());
  const b = await startAgentd(s2, join(out, 'nows'), { AGENTD_WEBSOCKET: 'off' });
  await s2.waitFor('the claim loop to settle', () => s2.requests.filter((r) => r.path === '/api/daemon/tasks/claim').length >= 3);
  await sleep(3000); // past the one re-registration that sends the device facts
  log(`idle with AGENTD_WEBSOCKET=off: ${IDLE_S} s window`);
  const noWs = await idleRate(s2);
  log(`  HTTP ${round(noWs.http)}/min; ${JSON.stringify(noWs.byPath)}`);
  await b.stop();

  const multica = runtimes * (60 / HEARTBEAT_S) + 60 / POLL_S;
  await cleanup();
  emit([
    { name: 'Multica ws: enqueue → spawn median', value: round(quantile(lat, 0.5)), unit: 'ms', floor: null, target: '≤ 100 ms', pass: quantile(lat, 0.5) <= 100, note: `${lat.length} claude tasks, WebSocket wake-up, no long poll, poll 30 s` },
    { name: 'Multica ws: enqueue → spawn p99', value: round(quantile(lat, 0.99)), unit: 'ms', floor: null, target: '≤ 100 ms', pass: quantile(lat, 0.99) <= 100, note: `${lat.length} tasks` },
    { name: 'Multica ws: idle HTTP requests, WebSocket on', value: round(withWs.http), unit: 'req/min', floor: round(multica), floor_name: "Multica's daemon (HTTP, same runtimes)", note: `${runtimes} runtimes; plus ${round(withWs.wsFrames)} WebSocket frames/min sent; ${IDLE_S} s window` },
    { name: 'Multica ws: idle HTTP requests, WebSocket off', value: round(noWs.http), unit: 'req/min', floor: round(multica), floor_name: "Multica's daemon (HTTP, same runtimes)", note: `${runtimes} runtimes; heartbeat 15 s, poll 30 s; ${IDLE_S} s window` },
  ]);
}

main().catch(async (err) => {
  log(`bench/multica-ws failed: ${err.stack || err}`);
  await cleanup();
  process.exit(1);
});
