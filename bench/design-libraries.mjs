// What each library on the design card costs when loaded the way the product loads it
// (bundled by esbuild with the options of scripts/build.mjs, imported by a fresh node):
// import time and resident memory added, median of BENCH_RUNS (default 7), each beside
// an empty bundle. Plus the work the doctor asks of systeminformation (how long its
// calls block the event loop) and which bundle each library lands in (dist/ must hold no
// test-only library: nock, vitest).
//
//   node bench/design-libraries.mjs          (after npm run build)
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT, QUICK, emit, log, round } from './_lib.mjs';
import { NODE_BUNDLE } from '../scripts/esbuild-node.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 3 : 7));

// Each entry uses the library as the product does (one small call), so lazy internals count.
const LIBS = {
  'empty bundle': `export default 1;`,
  undici: `import EnvHttpProxyAgent from 'undici/lib/dispatcher/env-http-proxy-agent.js';
    import api from 'undici/lib/api/index.js';
    export default [new EnvHttpProxyAgent(), api];`,
  pino: `import pino from 'pino';
    const l = pino({ level: 'info' }, { write() {} }); l.info({ a: 1 }, 'x'); export default l;`,
  'env-schema (ajv)': `import envSchema from 'env-schema';
    export default envSchema({ schema: { type: 'object', properties: { A: { type: 'string', pattern: '^[0-9]+(ms|s)?$', default: '15s' } } }, env: false, data: [{}] });`,
  'TypeBox Check (the daemon)': `import { Type } from '@sinclair/typebox'; import { Check } from '@sinclair/typebox/value';
    const S = Type.Object({ A: Type.Optional(Type.String({ pattern: '^[0-9]+(ms|s)?$' })) }); export default Check(S, { A: '15s' });`,
  'write-file-atomic': `import wfa from 'write-file-atomic'; export default wfa;`,
  systeminformation: `import si from 'systeminformation'; export default si;`,
  nock: `import nock from 'nock'; export default nock;`,
};

const PROBE = `
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
await import(process.argv[2]);
const ms = performance.now() - t0;
globalThis.gc?.();
const rss1 = process.memoryUsage().rss;
process.stdout.write(JSON.stringify({ ms, rss: (rss1 - rss0) / 1048576 }));
process.exit(0);
`;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(join(ROOT, 'bench', '.libs-'));
try {
  const probe = join(dir, 'probe.mjs');
  writeFileSync(probe, PROBE);
  const results = {};
  for (const [name, src] of Object.entries(LIBS)) {
    const file = join(dir, `${name.replace(/[^a-z0-9]+/gi, '_')}.mjs`);
    await build({
      stdin: { contents: src, resolveDir: ROOT, loader: 'js' },
      outfile: file,
      ...NODE_BUNDLE,
      external: [],
      define: { __filename: 'import.meta.filename' },
      logLevel: 'error',
    });
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      const r = spawnSync(process.execPath, ['--expose-gc', probe, file], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
      runs.push(JSON.parse(r.stdout));
    }
    results[name] = { ms: median(runs.map((r) => r.ms)), rss: median(runs.map((r) => r.rss)), size: readFileSync(file).length / 1024 };
    log(`${name.padEnd(34)} import ${results[name].ms.toFixed(1).padStart(6)} ms  rss +${results[name].rss.toFixed(1).padStart(5)} MB  bundle ${results[name].size.toFixed(0).padStart(5)} KB`);
  }

  // systeminformation's calls, as the doctor makes them: the longest event-loop block.
  const blockProbe = join(dir, 'si-block.mjs');
  writeFileSync(
    blockProbe,
    `import si from 'systeminformation';
     let last = performance.now(), worst = 0;
     const t = setInterval(() => { const n = performance.now(); worst = Math.max(worst, n - last - 1); last = n; }, 1);
     const t0 = performance.now();
     await Promise.all([si.cpu(), si.mem(), si.osInfo(), si.system()]);
     const total = performance.now() - t0;
     clearInterval(t);
     process.stdout.write(JSON.stringify({ total, worst }));`,
  );
  const blocks = [];
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(process.execPath, [blockProbe], { encoding: 'utf8', cwd: ROOT });
    if (r.status === 0) blocks.push(JSON.parse(r.stdout));
  }
  const siCalls = { total: median(blocks.map((b) => b.total)), worst: median(blocks.map((b) => b.worst)) };
  log(`systeminformation cpu+mem+osInfo+system: ${siCalls.total.toFixed(0)} ms in all, longest loop block ${siCalls.worst.toFixed(1)} ms`);

  // Which dist chunks carry which library (the files each one's source map lists), among
  // the chunks the current entries can reach (dist/ keeps stale chunks of old builds).
  const reach = new Set();
  const visit = (file) => {
    if (reach.has(file)) return;
    reach.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+\.mjs)["']/g)) visit(join(dirname(file), m[1]));
  };
  visit(join(ROOT, 'dist', 'agentd.mjs'));
  visit(join(ROOT, 'dist', 'agentd-platform.mjs'));
  const chunks = [...reach];
  const where = {};
  for (const pkg of ['undici', 'pino', 'env-schema', 'ajv', 'write-file-atomic', 'systeminformation', 'nock', 'vitest']) {
    where[pkg] = chunks.filter((c) => JSON.parse(readFileSync(`${c}.map`, 'utf8')).sources.some((s) => s.includes(`node_modules/${pkg}/`))).map((c) => c.slice(ROOT.length + 1));
    log(`${pkg.padEnd(18)} in ${where[pkg].length ? where[pkg].join(', ') : 'no dist file'}`);
  }

  const base = results['empty bundle'];
  const figures = [];
  for (const [name, r] of Object.entries(results)) {
    if (name === 'empty bundle') continue;
    figures.push({ name: `${name} import`, value: round(r.ms, 1), unit: 'ms', floor: round(base.ms, 1), floor_name: 'empty bundle', note: `median of ${RUNS}; bundle ${Math.round(r.size)} KB` });
    figures.push({ name: `${name} RSS`, value: round(r.rss, 1), unit: 'MB', floor: round(base.rss, 1), floor_name: 'empty bundle' });
  }
  figures.push({ name: 'systeminformation doctor calls, longest loop block', value: round(siCalls.worst, 1), unit: 'ms', floor: null, floor_name: '', note: `all four calls ${Math.round(siCalls.total)} ms` });
  figures.push({ name: 'test-only libraries in dist', value: where.nock.length + where.vitest.length, unit: 'files', floor: 0, floor_name: 'none', target: '0', pass: where.nock.length + where.vitest.length === 0 });
  emit(figures);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
