// Global setup: the throwaway PostgreSQL cluster the PostgreSQL tests use, when the run
// was not given one (AGENTD_TEST_POSTGRES_URL, as .ci/run does). Nothing starts here: a
// run that has no PostgreSQL test should not pay for a cluster, so the first test that
// needs one starts it (test/helpers/postgres.ts) in the directory named here, and this
// file's teardown stops it after the run. A directory left by a run that was killed is
// stopped and removed at the next run's start.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/bin.js';

const SCRIPT = join(ROOT, 'scripts', 'test-postgres.sh');
const PREFIX = 'vitest-pg-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function stop(dir: string): void {
  try {
    execFileSync('bash', [SCRIPT, 'stop', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    // Best effort: a cluster that cannot be stopped is reported by the script itself.
  }
}

export default function setup(): (() => void) | undefined {
  if (process.env.AGENTD_TEST_POSTGRES_URL) return undefined;
  const tmp = join(ROOT, '.tmp');
  if (existsSync(tmp)) {
    for (const name of readdirSync(tmp)) {
      const pid = Number(name.slice(PREFIX.length));
      if (name.startsWith(PREFIX) && Number.isInteger(pid) && !alive(pid)) stop(join(tmp, name));
    }
  }
  const dir = join(tmp, `${PREFIX}${process.pid}`);
  process.env.AGENTD_TEST_POSTGRES_DIR = dir;
  return () => stop(dir);
}
