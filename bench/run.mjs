// `npm run bench`: runs every bench/*.mjs (not this file, not `_*.mjs`) as a child
// process, one after the other (they measure CPU and RSS; running them side by side
// would skew each other), reads the BENCH_JSON line each prints last (bench/README.md),
// prints one table and writes bench/results/latest.json.
//
//   node bench/run.mjs [word …]   only scripts whose file name contains one of the words
import { spawn, execFileSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { ROOT, round } from './_lib.mjs';

const BENCH_DIR = join(ROOT, 'bench');
const RESULTS = join(BENCH_DIR, 'results', 'latest.json');
const TIMEOUT_MS = Number(process.env.BENCH_SCRIPT_TIMEOUT_S || 900) * 1000;
const MARK = 'BENCH_JSON ';

/** Checks one figure against the convention; returns an error string or null. */
export function validateFigure(f) {
  if (typeof f !== 'object' || f === null) return 'figure is not an object';
  if (typeof f.name !== 'string' || f.name === '') return 'figure.name must be a non-empty string';
  if (typeof f.value !== 'number' || !Number.isFinite(f.value)) return `${f.name}: value must be a finite number`;
  if (typeof f.unit !== 'string') return `${f.name}: unit must be a string`;
  if (f.floor !== undefined && f.floor !== null && (typeof f.floor !== 'number' || !Number.isFinite(f.floor)))
    return `${f.name}: floor must be a number or null`;
  return null;
}

/** The last BENCH_JSON line of a script's stdout, parsed; throws with a reason. */
export function parseBenchOutput(stdout) {
  const lines = stdout.split('\n').filter((l) => l.startsWith(MARK));
  if (lines.length === 0) throw new Error('printed no BENCH_JSON line');
  const doc = JSON.parse(lines[lines.length - 1].slice(MARK.length));
  if (!Array.isArray(doc.figures)) throw new Error('BENCH_JSON has no figures array');
  for (const f of doc.figures) {
    const err = validateFigure(f);
    if (err) throw new Error(err);
  }
  return doc.figures;
}

function runScript(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    // Own process group: a timeout kills the script and every platform/daemon it started.
    const child = spawn(process.execPath, [join(BENCH_DIR, file)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, AGENTD_BENCH: '1' },
    });
    const tag = `[${file.replace(/\.mjs$/, '')}] `;
    let stdout = '';
    let partial = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      // Echo progress lines, but not the machine-readable one.
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (!l.startsWith(MARK)) process.stderr.write(tag + l + '\n');
    });
    child.stderr.on('data', (d) => {
      for (const l of String(d).split('\n')) if (l) process.stderr.write(tag + l + '\n');
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, 5_000).unref();
    }, TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const base = { script: file, exit_code: code, seconds: round(seconds) };
      if (timedOut) return resolve({ ...base, ok: false, error: `timed out after ${TIMEOUT_MS / 1000} s`, figures: [] });
      if (code !== 0) return resolve({ ...base, ok: false, error: `exited ${code ?? signal}`, figures: [] });
      try {
        resolve({ ...base, ok: true, figures: parseBenchOutput(stdout) });
      } catch (e) {
        resolve({ ...base, ok: false, error: e.message, figures: [] });
      }
    });
  });
}

function fmt(x) {
  if (x === null || x === undefined) return '—';
  if (typeof x !== 'number') return String(x);
  return String(round(x, 3));
}

export function renderTable(figures) {
  const rows = [['figure', 'value', 'floor', 'ratio', 'target']];
  for (const f of figures) {
    rows.push([
      f.name,
      `${fmt(f.value)} ${f.unit}`,
      f.floor === null || f.floor === undefined ? '—' : `${fmt(f.floor)} ${f.unit} (${f.floor_name ?? 'floor'})`,
      f.ratio === null ? '—' : `${fmt(f.ratio)}×`,
      f.target ? `${f.target}${f.pass === true ? ' ✓' : f.pass === false ? ' ✗' : ''}` : '',
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => [...r[i]].length)));
  const line = (r) => r.map((c, i) => c + ' '.repeat(widths[i] - [...c].length)).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

async function main() {
  const words = process.argv.slice(2);
  const files = (await readdir(BENCH_DIR))
    .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !f.startsWith('_'))
    .filter((f) => words.length === 0 || words.some((w) => f.includes(w)))
    .sort();
  if (files.length === 0) {
    process.stderr.write(`no bench scripts match ${words.join(' ')}\n`);
    process.exit(2);
  }
  const runs = [];
  for (const f of files) {
    process.stderr.write(`\n== ${f}\n`);
    const r = await runScript(f);
    if (!r.ok) process.stderr.write(`!! ${f}: ${r.error}\n`);
    runs.push(r);
  }
  const figures = runs.flatMap((r) =>
    r.figures.map((f) => ({
      script: r.script,
      ...f,
      floor: f.floor ?? null,
      ratio: typeof f.floor === 'number' && f.floor > 0 ? round(f.value / f.floor, 4) : null,
    })),
  );
  const doc = {
    generated_at: new Date().toISOString(),
    commit: gitCommit(),
    quick: process.env.BENCH_QUICK === '1',
    node: process.version,
    host: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? null, mem_mb: Math.round(os.totalmem() / 2 ** 20) },
    scripts: runs.map(({ figures: _f, ...r }) => r),
    figures,
  };
  await mkdir(join(BENCH_DIR, 'results'), { recursive: true });
  await writeFile(RESULTS, JSON.stringify(doc, null, 2) + '\n');
  process.stdout.write('\n' + renderTable(figures) + '\n');
  const failed = runs.filter((r) => !r.ok);
  for (const r of failed) process.stdout.write(`FAILED ${r.script}: ${r.error}\n`);
  process.stdout.write(`\nwritten to ${RESULTS}\n`);
  process.exit(failed.length > 0 ? 1 : 0);
}

// Importable for tests (parseBenchOutput, renderTable) without running.
if (import.meta.url === `file://${process.argv[1]}`) await main();
