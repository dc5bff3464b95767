// `agentd install --no-service` wall time against a local reference platform (median of
// N runs, each with a fresh install token and fresh temp dirs), next to the floor: the
// wall time of `node -e ''` on the same machine. The token goes by environment, as the
// one-liner does. Prints the BENCH_JSON line the driver reads (bench/README.md).
//
//   node bench/install.mjs          (after npm run build)
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, QUICK, emit, log, onExitSignal, round, startPlatform } from './_lib.mjs';

const RUNS = QUICK ? 3 : Number(process.env.BENCH_INSTALL_RUNS || 5);
const NODE = process.env.AGENTD_TEST_NODE || process.execPath;
const AGENTD = join(ROOT, 'dist', 'agentd.mjs');

/** Wall time of one child process, in ms; rejects when it exits non-zero. */
function timed(argv, env) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const proc = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    proc.once('error', reject);
    proc.once('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${argv.slice(1, 3).join(' ')} exited ${code}: ${err}`));
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const platform = await startPlatform();
const dirs = [];
onExitSignal(async () => {
  await platform.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

try {
  // The same environment for both, minus anything the machine adds per process that is
  // not ours to measure; NODE_EXTRA_CA_CERTS is kept (it applies to every Node start).
  const baseEnv = { PATH: process.env.PATH, HOME: tmpdir(), ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}) };
  const floor = [];
  const install = [];
  // One warm-up of each (page cache), then alternate so drift hits both equally.
  await timed([NODE, '-e', ''], baseEnv);
  for (let i = 0; i <= RUNS; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'agentd-bench-install-'));
    dirs.push(dir);
    const { token } = await fetch(`${platform.url}/api/workspaces/${platform.workspaceId}/install-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${platform.adminToken}` },
    }).then((r) => r.json());
    const ms = await timed(
      [NODE, AGENTD, 'install', '--platform', platform.url, '--no-service', '--name', `bench-${i}`, '--config-dir', join(dir, 'etc'), '--state-dir', join(dir, 'state')],
      { ...baseEnv, AGENTD_INSTALL_TOKEN: token },
    );
    if (i > 0) install.push(ms); // run 0 is the warm-up
    floor.push(await timed([NODE, '-e', ''], baseEnv));
  }
  const m = median(install);
  const f = median(floor.slice(1));
  log(`agentd install --no-service: ${install.map((x) => x.toFixed(0)).join(', ')} ms → median ${m.toFixed(0)} ms`);
  log(`node -e '':                   ${floor.slice(1).map((x) => x.toFixed(0)).join(', ')} ms → median ${f.toFixed(0)} ms`);
  emit([
    {
      name: 'install --no-service',
      value: round(m),
      unit: 'ms',
      floor: round(f),
      floor_name: "node -e ''",
      target: '≤ 3× floor',
      pass: m <= 3 * f,
    },
  ]);
} finally {
  await platform.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
