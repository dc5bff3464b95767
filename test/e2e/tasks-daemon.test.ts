// Tasks through the real `agentd run` daemon (built bundle): /status shows running tasks,
// and kill -9 of the daemon mid-task → the restarted daemon reports the task `orphaned`
// and kills what the dead daemon left running.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollDaemon, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { alive, waitFor } from './tasks-harness.js';

let p: TestPlatform;
let e: Enrolled;
const daemons: TestDaemon[] = [];

beforeAll(async () => {
  p = await startPlatform();
  e = await enrollDaemon(p, { name: 'tasks-daemon' });
});
afterAll(async () => {
  for (const d of daemons) await d.stop().catch(() => {});
  await p?.stop();
  await e?.remove();
});

interface RunningDoc {
  id: string;
  pid: number | null;
  seconds_since_output: number;
  watchdog_deadline: string | null;
}

describe('tasks in the real daemon', () => {
  it('lists a running task on /status, and after kill -9 the next start reports it orphaned and kills its processes', async () => {
    const d1 = await startDaemon(e, { env: { AGENTD_TASK_IDLE_TIMEOUT: '10m' } });
    daemons.push(d1);
    await d1.waitForState('ready');
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: 'command', prompt: 'sleep 300 & echo $! > gc.pid; echo started; wait' });
    const s = await d1.waitFor((st) => (st.tasks.running as RunningDoc[]).some((t) => t.id === id && t.pid !== null), 15_000);
    const info = (s.tasks.running as RunningDoc[]).find((t) => t.id === id)!;
    expect(info.seconds_since_output).toBeGreaterThanOrEqual(0);
    const deadline = Date.parse(info.watchdog_deadline!);
    expect(deadline).toBeGreaterThan(Date.now() + 8 * 60_000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 10 * 60_000 + 2000);
    const mainPid = info.pid!;
    await waitFor(() => {
      try {
        return readFileSync(join(e.stateDir, 'work', id, 'gc.pid'), 'utf8').trim() !== '';
      } catch {
        return false;
      }
    }, 5000, 'gc.pid');
    const gc = Number(readFileSync(join(e.stateDir, 'work', id, 'gc.pid'), 'utf8'));

    // The task is journalled (a crash before that is covered by the work-dir sweep).
    const journalFile = join(e.stateDir, 'journal', `${id}.json`);
    await waitFor(() => existsSync(journalFile), 5000, 'journal entry');
    d1.signal('SIGKILL');
    await d1.exited;
    // The task's processes outlive a daemon killed with -9 (own process group)…
    expect(alive(mainPid)).toBe(true);
    expect((await p.admin.getTask(p.workspaceId, id, { messagesLimit: 0 })).status).toBe('running');

    // …until the next daemon on this state dir recovers.
    const d2 = await startDaemon(e);
    daemons.push(d2);
    const t = await p.admin.waitForTask(p.workspaceId, id, (x) => x.status === 'failed', 15_000);
    expect(t.failure_reason).toBe('orphaned');
    await waitFor(() => !alive(mainPid) && !alive(gc), 5000, 'leftover processes to be killed');
    expect(t.error).toMatch(/stopped without reporting it; its leftover processes were killed/);
    // The entry is removed once the report was accepted, which the platform may show a
    // moment before the daemon gets its answer: wait for it (a busy machine widens it).
    await waitFor(() => !existsSync(journalFile), 10_000, 'journal entry removed after the orphan report');
    await d2.stop();
  }, 60_000);
});
