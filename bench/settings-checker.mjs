// Could the daemon check its settings with env-schema instead of TypeBox? Builds the
// daemon twice with the build's options, once as shipped (TypeBox's Value.Check) and once
// with daemon/config.ts's default checker swapped for core/env-schema-settings.ts, then
// starts each in turn (interleaved, BENCH_RUNS times) against one reference platform and
// measures start-to-ready (spawn to the `→ ready` log line) and RSS 5 s after ready.
//
//   node bench/settings-checker.mjs          (no npm run build needed: it builds its own)
import { build } from 'esbuild';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentdBuilds } from '../scripts/esbuild-node.mjs';
import { QUICK, ROOT, emit, log, onExitSignal, round, rssMB, sleep, startPlatform } from './_lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 3 : 9));
const READY = /"to":"ready"/;
const children = new Set();
const dirs = [];
let platform = null;
onExitSignal(async () => {
  for (const c of children) c.kill('SIGKILL');
  await platform?.stop().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** The daemon bundle with the shipped checker, or with env-schema's. */
async function bundle(outdir, withEnvSchema) {
  const swap = {
    name: 'env-schema-checker',
    setup(b) {
      b.onLoad({ filter: /daemon[\\/]config\.ts$/ }, async (args) => {
        let text = await readFile(args.path, 'utf8');
        const before = text;
        text = text.replace('check: SettingsChecker = typeboxChecker', 'check: SettingsChecker = envSchemaChecker');
        if (text === before) throw new Error('daemon/config.ts: the default checker was not found');
        text = `import { envSchemaChecker } from '../core/env-schema-settings.js';\n${text}`;
        return { contents: text, loader: 'ts' };
      });
    },
  };
  for (const options of agentdBuilds({ root: ROOT, outdir, version: '0.0.0-bench', plugins: withEnvSchema ? [swap] : [] })) await build(options);
  return join(outdir, 'agentd.mjs');
}

function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AGENTD_') && k !== 'NOTIFY_SOCKET') env[k] = v;
  return { ...env, ...extra };
}

async function startOnce(bin, args, env) {
  const t0 = performance.now();
  const proc = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  const exited = new Promise((r) => proc.once('exit', r));
  let buf = '';
  const ms = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      buf += d;
      if (READY.test(buf)) resolve(performance.now() - t0);
    });
    proc.once('exit', (code) => reject(new Error(`exited ${code} before ready`)));
  });
  await sleep(5000);
  const rss = await rssMB(proc.pid);
  proc.kill('SIGTERM');
  await exited;
  children.delete(proc);
  return { ms, rss };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

platform = await startPlatform();
const root = await mkdtemp(join(tmpdir(), 'agentd-bench-checker-'));
dirs.push(root);
const typebox = await bundle(join(root, 'typebox'), false);
const envschema = await bundle(join(root, 'envschema'), true);
const tokRes = await fetch(`${platform.url}/api/workspaces/${platform.workspaceId}/install-tokens`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: '{}' });
const { token } = await tokRes.json();
const env = cleanEnv({ HOME: join(root, 'home'), AGENTD_HEALTH_ADDR: '127.0.0.1:0' });
const dirsArgs = ['--config-dir', join(root, 'config'), '--state-dir', join(root, 'state')];
const inst = spawnSync(process.execPath, [typebox, 'install', '--platform', platform.url, '--no-service', ...dirsArgs, '--name', 'bench'], { env: { ...env, AGENTD_INSTALL_TOKEN: token }, encoding: 'utf8' });
if (inst.status !== 0) throw new Error(`agentd install failed: ${inst.stderr}`);

const a = [];
const b = [];
for (let i = 0; i < RUNS; i++) {
  a.push(await startOnce(typebox, ['run', ...dirsArgs], env));
  b.push(await startOnce(envschema, ['run', ...dirsArgs], env));
  log(`run ${i + 1}/${RUNS}: TypeBox ${a[i].ms.toFixed(0)} ms ${a[i].rss.toFixed(1)} MB · env-schema ${b[i].ms.toFixed(0)} ms ${b[i].rss.toFixed(1)} MB`);
}
await platform.stop();
await rm(root, { recursive: true, force: true });
const am = median(a.map((x) => x.ms));
const bm = median(b.map((x) => x.ms));
const ar = median(a.map((x) => x.rss));
const br = median(b.map((x) => x.rss));
log(`start-to-ready: TypeBox ${am.toFixed(0)} ms, env-schema ${bm.toFixed(0)} ms (+${(bm - am).toFixed(0)} ms); RSS ${ar.toFixed(1)} → ${br.toFixed(1)} MB`);
emit([
  { name: 'start-to-ready, settings by TypeBox (shipped)', value: round(am, 0), unit: 'ms', floor: null, floor_name: '', note: `median of ${RUNS}, interleaved` },
  { name: 'start-to-ready, settings by env-schema', value: round(bm, 0), unit: 'ms', floor: round(am, 0), floor_name: 'TypeBox', target: '≤ 200 ms' },
  { name: 'RSS 5 s after ready, TypeBox (shipped)', value: round(ar, 1), unit: 'MB', floor: null, floor_name: '' },
  { name: 'RSS 5 s after ready, env-schema', value: round(br, 1), unit: 'MB', floor: round(ar, 1), floor_name: 'TypeBox' },
]);
