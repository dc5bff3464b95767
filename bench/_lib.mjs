// Small helpers shared by bench scripts (the driver skips files starting with `_`).
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const QUICK = process.env.BENCH_QUICK === '1';

/** Prints the machine-readable last line the driver reads (bench/README.md). */
export function emit(figures) {
  process.stdout.write(`BENCH_JSON ${JSON.stringify({ figures })}\n`);
}

/** Progress for people: stderr, so stdout stays clean for the BENCH_JSON line. */
export function log(...args) {
  process.stderr.write(`${args.join(' ')}\n`);
}

/**
 * Extra node flags for the platform and daemon processes a script starts: with
 * BENCH_CPU_PROF=DIR each writes a V8 CPU profile there (for finding where time goes;
 * figures from a profiled run are not to be quoted).
 */
export function profArgs() {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

/** The daemon's node flags: profArgs() plus BENCH_DAEMON_NODE_ARGS (space-separated, for experiments). */
export function daemonArgs() {
  const extra = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return [...profArgs(), ...extra];
}

const CLK_TCK = 100; // USER_HZ on Linux; /proc/<pid>/stat counts in these ticks

/** CPU seconds (user + system) a process has used so far, from /proc. */
/** User and system CPU seconds a process has used so far (utime, stime). */
export async function cpuSplit(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]) / CLK_TCK, sys: Number(rest[12]) / CLK_TCK };
}

export async function cpuSeconds(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" that closes the command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/**
 * CPU seconds a process and its direct children have used so far (a PostgreSQL server:
 * the postmaster and its backends): the root's own time, the time of the children it has
 * reaped (cutime, cstime: a backend that closed during a window keeps counting), and the
 * live children's time.
 */
export async function treeCpuSeconds(rootPid) {
  let total = 0;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = await readFile(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked (its time is now in the root's cutime)
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(name) === rootPid) total += (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / CLK_TCK;
    else if (Number(rest[1]) === rootPid) total += (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  }
  return total;
}

/** Resident set size in MB, from /proc/<pid>/status. */
export async function rssMB(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export function round(x, digits = 3) {
  if (!Number.isFinite(x) || x === 0) return x;
  const p = 10 ** Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(x))));
  return Math.round(x * p) / p;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the reference platform from dist/ on a free loopback port with a temp data dir.
 * `env` is added to this process's environment for it (AGENTD_PLATFORM_ADMIN_TOKEN, to
 * give replicas one admin token). Returns { url, adminToken, workspaceId, pid, proc, stop() }.
 */
export async function startPlatform(extraArgs = [], { env } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'agentd-bench-platform-'));
  const readyFile = join(dir, 'ready.json');
  const proc = spawn(
    process.execPath,
    [...profArgs(), join(ROOT, 'dist', 'agentd-platform.mjs'), 'serve', '--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'data'), '--ready-file', readyFile, ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  const exited = new Promise((r) => proc.once('exit', r));
  const deadline = Date.now() + 15_000;
  let ready = null;
  while (!ready) {
    if (proc.exitCode !== null) throw new Error(`platform exited ${proc.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`platform not ready in 15 s:\n${output}`);
    }
    try {
      ready = JSON.parse(await readFile(readyFile, 'utf8'));
    } catch {
      await sleep(25);
    }
  }
  return {
    url: ready.url,
    adminToken: ready.admin_token,
    workspaceId: ready.workspace_id,
    pid: proc.pid,
    proc,
    output: () => output,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Stops children when the driver (or a person) interrupts the script. */
export function onExitSignal(cleanup) {
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      Promise.resolve(cleanup()).finally(() => process.exit(130));
    });
  }
}

/**
 * Heartbeats from `fleet` ({token, runtimeId}) as fast as `pools` answer: `concurrency`
 * requests in flight, request k to pool k mod n. Counted only between measure() and
 * result(); end() stops the workers.
 */
export function heartbeatFlood(pools, fleet, concurrency, headers) {
  let i = 0;
  let stop = false;
  let measuring = false;
  let ok = 0;
  let errors = 0;
  const lat = [];
  async function worker() {
    while (!stop) {
      const k = i++;
      const d = fleet[k % fleet.length];
      const t0 = performance.now();
      try {
        const res = await pools[k % pools.length].request({
          method: 'POST',
          path: '/api/daemon/heartbeat',
          headers: { ...headers, authorization: `Bearer ${d.token}` },
          body: JSON.stringify({ runtime_id: d.runtimeId }),
        });
        await res.body.text();
        if (!measuring) continue;
        if (res.statusCode === 200) ok++;
        else errors++;
        lat.push(performance.now() - t0);
      } catch {
        if (measuring) errors++;
      }
    }
  }
  const workers = Array.from({ length: concurrency }, worker);
  return {
    measure() {
      measuring = true;
    },
    /** What was counted since measure(); latencies sorted. */
    result() {
      measuring = false;
      return { ok, errors, lat: [...lat].sort((a, b) => a - b) };
    },
    async end() {
      stop = true;
      await Promise.all(workers);
    },
  };
}
