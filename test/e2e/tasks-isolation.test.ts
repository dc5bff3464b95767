// The task user outside systemd (root runs the task manager in-process here, so setpriv
// may switch users; under systemd the daemon gets the same right from its unit's
// AmbientCapabilities=, see test/service/isolation.test.ts). Real platform, real tasks.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { startHarness, waitFor, type Harness } from './tasks-harness.js';

const canRun = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
const NOBODY = 65534;

let p: TestPlatform;
let h: Harness | null = null;
let stateDir: string;

beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.stop();
});
afterEach(async () => {
  await h?.close();
  h = null;
  rmSync(stateDir, { recursive: true, force: true });
});

/** A state dir laid out as `agentd install` does for a task user: 0711, work/ owned by it. */
function stateForTaskUser(): string {
  const d = mkdtempSync(join(tmpdir(), 'agentd-tasks-user-'));
  chmodSync(d, 0o711);
  mkdirSync(join(d, 'work'), { mode: 0o700 });
  chownSync(join(d, 'work'), NOBODY, NOBODY);
  return d;
}

describe.skipIf(!canRun)('tasks as a task user (AGENTD_TASK_USER)', () => {
  it('run as that user in a work dir it owns, cannot read a file of the daemon\'s user, get HOME from its account', async () => {
    stateDir = stateForTaskUser();
    const secret = join(stateDir, 'secret.json');
    writeFileSync(secret, '{"token":"mdt_x"}\n', { mode: 0o600 });
    h = await startHarness({ platform: p, stateDir, taskUser: 'nobody' });
    const id = await h.enqueue(`echo "uid=$(id -u) pwd=$(pwd) home=$HOME user=$USER"; cat ${secret} || echo secret=denied; touch mine`);
    const t = await h.waitDone(id);
    expect(t.status, h.logs()).toBe('completed');
    const home = spawnSync('getent', ['passwd', 'nobody'], { encoding: 'utf8' }).stdout.split(':')[5];
    expect(t.output).toContain(`uid=${NOBODY} pwd=${join(stateDir, 'work', id)} home=${home} user=nobody`);
    expect(t.output).toContain('secret=denied');
    expect(t.output).not.toContain('mdt_x');
    expect(statSync(join(stateDir, 'work', id, 'mine')).uid).toBe(NOBODY);
    expect(statSync(join(stateDir, 'work', id)).uid).toBe(NOBODY);
  });

  it('old work dirs are swept by the task user; the daemon never walks them', async () => {
    stateDir = stateForTaskUser();
    for (const name of ['old-task', 'new-task']) {
      const d = join(stateDir, 'work', name);
      spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', 'sh', '-c', `mkdir -p ${d}/deep && touch ${d}/deep/f`]);
    }
    const twoDaysAgo = new Date(Date.now() - 48 * 3600_000);
    utimesSync(join(stateDir, 'work', 'old-task'), twoDaysAgo, twoDaysAgo);
    h = await startHarness({ platform: p, stateDir, taskUser: 'nobody' });
    await waitFor(() => !existsSync(join(stateDir, 'work', 'old-task')), 10_000, 'the sweep at start');
    expect(readdirSync(join(stateDir, 'work'))).toEqual(['new-task']);
  });

  it('a task user that does not exist: tasks fail with agent_error and never run as the daemon\'s user', async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'agentd-tasks-user-'));
    h = await startHarness({ platform: p, stateDir, taskUser: 'no-such-user-agentd' });
    const id = await h.enqueue('touch ran-anyway');
    const t = await h.waitDone(id);
    expect(t.status).toBe('failed');
    expect(t.failure_reason).toBe('agent_error');
    expect(t.error).toMatch(/cannot isolate tasks on this machine: AGENTD_TASK_USER=no-such-user-agentd: no such user/);
    expect(existsSync(join(stateDir, 'work', id, 'ran-anyway'))).toBe(false);
  });
});
