// `npm run demo --once` end to end: the real platform, `agentd install --no-service
// --mode user`, `agentd run`, three tasks with the three expected endings, and a clean
// exit that leaves no process and no temp directory behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bin.js';
import { runnerEnv } from '../helpers/env.js';

function runDemo(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    // Without AGENTD_* from the runner's environment, as a person would run it.
    const env = runnerEnv();
    const proc = spawn(process.execPath, [join(ROOT, 'dist', 'demo.mjs'), '--once'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const kill = setTimeout(() => proc.kill('SIGINT'), 40_000);
    proc.on('exit', (code) => {
      clearTimeout(kill);
      // picocolors colours output when CI is set, TTY or not; match the text, not the escapes.
      resolve({ code, out: stripVTControlCharacters(out) });
    });
  });
}

describe('npm run demo -- --once', () => {
  it('runs the three tasks to their expected endings and cleans up', async () => {
    const { code, out } = await runDemo();
    expect(out, out).toMatch(/✓ task 1 +echo hello +→ completed, said "hello from agentd on /);
    expect(out, out).toMatch(/✓ task 2 +sleep 60 \(silent\) → failed: idle_watchdog/);
    expect(out, out).toMatch(/✓ task 3 +endless loop +→ cancelled by the operator; the daemon stopped it/);
    expect(out).toContain('All three tasks ended as expected');
    expect(code, out).toBe(0);
    // Secrets other than the demo's own admin token never reach the output.
    expect(out).not.toMatch(/mit_[0-9a-f]{40}|mdt_[0-9a-f]{40}|mat_[0-9a-f]{40}/);
    const dir = /everything under (\S+)/.exec(out)?.[1];
    expect(dir).toBeTruthy();
    expect(existsSync(dir!)).toBe(false);
  }, 60_000);
});
