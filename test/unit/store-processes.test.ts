// store/ across real processes: a writer killed with SIGKILL mid-stream never leaves a
// torn file, writers in several processes leave one complete document, and of several
// processes racing for a stale lock exactly one wins. The child is
// test/fixtures/store-child.ts, bundled to CommonJS with esbuild once per run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT } from '../helpers/bin.js';
import { doc } from '../fixtures/store-child.js';

let dir: string;
let child: string;
const live = new Set<ChildProcess>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentd-store-proc-'));
  child = join(dir, 'store-child.cjs');
  await build({ absWorkingDir: ROOT, entryPoints: ['test/fixtures/store-child.ts'], outfile: child, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'error' });
});
afterAll(() => {
  for (const c of live) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): { proc: ChildProcess; out: () => string; exited: Promise<number | null>; waitFor: (s: string) => Promise<void> } {
  const proc = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  const waiters: (() => void)[] = [];
  proc.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => (live.delete(proc), r(code))));
  const waitFor = async (s: string): Promise<void> => {
    while (!out.includes(s)) {
      if (proc.exitCode !== null) throw new Error(`child exited before "${s}": ${out}`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return { proc, out: () => out, exited, waitFor };
}

describe('crash safety', () => {
  it('SIGKILL during a stream of writes leaves either the old or a complete new document', async () => {
    const file = join(dir, 'crash.json');
    const size = 2 * 1024 * 1024;
    for (let round = 0; round < 4; round++) {
      writeFileSync(file, doc('old', round, size), { mode: 0o600 });
      const c = run(['write', file, 'new', '1000', String(size)]);
      await c.waitFor('first');
      // kill at a different point of the write cycle each round
      await new Promise((r) => setTimeout(r, 5 + round * 7));
      c.proc.kill('SIGKILL');
      await c.exited;
      const text = readFileSync(file, 'utf8');
      const parsed = JSON.parse(text) as { tag: string; i: number };
      expect(text).toBe(doc(parsed.tag, parsed.i, size));
    }
  });

  it('writers in 4 processes leave one complete document', async () => {
    const file = join(dir, 'race.json');
    const kids = ['a', 'b', 'c', 'd'].map((tag) => run(['write', file, tag, '30', '50000']));
    const codes = await Promise.all(kids.map((k) => k.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    const text = readFileSync(file, 'utf8');
    const parsed = JSON.parse(text) as { tag: string; i: number };
    expect(text).toBe(doc(parsed.tag, parsed.i, 50000));
    expect(readdirSync(dir).filter((f) => f.startsWith('race.json'))).toEqual(['race.json']);
  });
});

describe('state lock across processes', () => {
  it('of 6 processes racing for a stale lock exactly one wins; the others name its pid', async () => {
    const state = join(dir, 'state');
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, 'agentd.lock'), '999999999\n'); // no such pid
    const kids = Array.from({ length: 6 }, () => run(['lock', state, '1500']));
    // each prints ok or held within its start time; the winner holds for 1.5 s
    await Promise.all(kids.map((k) => Promise.race([k.waitFor('ok'), k.waitFor('held')])));
    const winners = kids.filter((k) => k.out().startsWith('ok'));
    expect(winners).toHaveLength(1);
    for (const k of kids) if (k !== winners[0]) expect(k.out().trim()).toBe(`held ${winners[0]!.proc.pid}`);
    await Promise.all(kids.map((k) => k.exited));
    expect(readdirSync(state)).toEqual([]);
  });
});
