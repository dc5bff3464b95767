// `agentd run` start → ready on Node 24 (the runtime the artifact ships), without and with
// Node's module compile cache (cli/compile-cache.ts keeps it in <state>/compile-cache/):
//   - cold: the cache directory is removed before each start, so every chunk is parsed
//     and compiled as on a first start after an install or upgrade;
//   - warm: the cache the previous start wrote at its exit.
// Alternating cold, warm, bare node, so machine noise hits all three alike; median of 5
// each. The floor is bare Node 24's first stdout line. These are their own lines: the
// warm figure is what every start after the first one costs, never a cold start, and
// idle.mjs's start → /readyz (the bench's Node, 20 here, which has no compile cache)
// stays the cold figure.
//
// Node 24: AGENTD_BENCH_NODE24=/path/to/node, else the binary scripts/node24.sh caches
// under .tmp/node24. Without one the script says so and reports nothing.
//
//   node bench/startup-cache.mjs       (after npm run build; BENCH_QUICK=1: 3 starts each)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QUICK, ROOT, emit, log, onExitSignal, round, startPlatform } from './_lib.mjs';

const AGENTD = join(ROOT, 'dist', 'agentd.mjs');
const RUNS = QUICK ? 3 : 5;
const NODE24 = process.env.AGENTD_BENCH_NODE24 || join(ROOT, '.tmp', 'node24', 'package', 'bin', 'node');
const BARE = ['-e', 'console.log("ready");setInterval(()=>{},1e9)'];
const READY = /"to":"ready"/;

if (!existsSync(NODE24)) {
  log(`startup-cache: no Node 24 at ${NODE24} (scripts/node24.sh fetches it, or set AGENTD_BENCH_NODE24): nothing measured`);
  emit([]);
  process.exit(0);
}
const version = spawnSync(NODE24, ['--version'], { encoding: 'utf8' }).stdout.trim();

let platform = null;
let root = null;
const children = new Set();
async function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  await platform?.stop().catch(() => {});
  if (root) await rm(root, { recursive: true, force: true });
}
onExitSignal(cleanup);

function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AGENTD_') && k !== 'NOTIFY_SOCKET' && k !== 'NODE_COMPILE_CACHE') env[k] = v;
  return { ...env, ...extra };
}

/** ms from spawn to the first stdout line matching `ready`; then SIGTERM and wait for the exit (the daemon writes its cache there). */
function startStop(args, env, ready) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const proc = spawn(NODE24, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    let buf = '';
    let err = '';
    let at = null;
    proc.stderr.on('data', (d) => (err += d));
    proc.stdout.on('data', (d) => {
      buf += d;
      if (at === null && ready.test(buf)) {
        at = performance.now() - t0;
        proc.kill('SIGTERM');
      }
    });
    proc.on('exit', (code) => {
      children.delete(proc);
      if (at === null) reject(new Error(`exited ${code} before ready:\n${err}`));
      else resolve(at);
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  platform = await startPlatform();
  root = await mkdtemp(join(tmpdir(), 'agentd-bench-cache-'));
  const configDir = join(root, 'config');
  const stateDir = join(root, 'state');
  const env = cleanEnv({ HOME: join(root, 'home'), AGENTD_HEALTH_ADDR: '127.0.0.1:0' });
  const { token } = await fetch(`${platform.url}/api/workspaces/${platform.workspaceId}/install-tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${platform.adminToken}` },
  }).then((r) => r.json());
  const inst = spawnSync(NODE24, [AGENTD, 'install', '--platform', platform.url, '--no-service', '--config-dir', configDir, '--state-dir', stateDir, '--name', 'bench-cache'], {
    env: { ...env, AGENTD_INSTALL_TOKEN: token },
    encoding: 'utf8',
  });
  if (inst.status !== 0) throw new Error(`agentd install failed: ${inst.stderr}`);
  const runArgs = [AGENTD, 'run', '--config-dir', configDir, '--state-dir', stateDir];
  const cacheDir = join(stateDir, 'compile-cache');

  const cold = [];
  const warm = [];
  const bare = [];
  for (let i = 0; i < RUNS; i++) {
    await rm(cacheDir, { recursive: true, force: true });
    cold.push(await startStop(runArgs, env, READY));
    if (!existsSync(cacheDir)) throw new Error(`no compile cache in ${cacheDir} after a start on ${version}`);
    warm.push(await startStop(runArgs, env, READY));
    bare.push(await startStop(BARE, cleanEnv({}), /ready/));
    log(`start ${i + 1}/${RUNS} on ${version}: cold ${cold[i].toFixed(0)} ms, warm ${warm[i].toFixed(0)} ms, bare node ${bare[i].toFixed(0)} ms`);
  }
  const [c, w, b] = [median(cold), median(warm), median(bare)];
  const floorName = `bare node ${version} (first stdout line)`;
  const figures = [
    { name: `start → /readyz, ${version}, no compile cache`, value: round(c), unit: 'ms', floor: round(b), floor_name: floorName, note: `median of ${RUNS}, cache removed before each start; all: ${cold.map((x) => x.toFixed(0)).join(', ')}` },
    { name: `start → /readyz, ${version}, compile cache warm`, value: round(w), unit: 'ms', floor: round(b), floor_name: floorName, note: `median of ${RUNS}, NOT a cold start: the cache the previous start wrote; all: ${warm.map((x) => x.toFixed(0)).join(', ')}` },
  ];
  for (const f of figures) log(`${f.name}: ${f.value} ms (floor ${f.floor} ms)`);
  await cleanup();
  emit(figures);
}

main().catch(async (err) => {
  log(`startup-cache bench failed: ${err instanceof Error ? err.stack : err}`);
  await cleanup();
  process.exit(1);
});
