// Crash recovery: the state a daemon killed with -9 leaves behind (a task claimed and
// running on the platform, its process group still alive, its journal entry on disk) is
// reported `orphaned` by the next manager on the same state dir, and the leftovers die.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStartToken } from '../../store/processes.js';
import { TaskJournal } from '../../store/journal.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { alive, enrol, startHarness, waitFor } from './tasks-harness.js';

let p: TestPlatform;
const cleanup: Array<() => void> = [];

beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  for (const c of cleanup) c();
  await p?.stop();
});

/** A detached process group like a task's: `sh` leading, with a background grandchild. */
function leftoverGroup(cwd?: string): { pid: number } {
  const child = spawn('/bin/sh', ['-c', 'sleep 300 & sleep 300'], { detached: true, stdio: 'ignore', ...(cwd ? { cwd } : {}) });
  child.unref();
  const pid = child.pid!;
  cleanup.push(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  return { pid };
}

describe('crash recovery', () => {
  it('a journalled task of a dead daemon is failed orphaned and its process group killed', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'agentd-recover-'));
    cleanup.push(() => rmSync(stateDir, { recursive: true, force: true }));
    // "Previous daemon": claims and starts a task, its child runs, then it dies (no report).
    const prev = await enrol(p);
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: 'command', prompt: 'sleep 300' });
    const claimed = await prev.client.claimTasks({ daemon_id: prev.daemonId, runtime_ids: prev.runtimes.map((r) => r.id), max_tasks: 1 });
    expect(claimed.tasks.map((t) => t.id)).toEqual([id]);
    await prev.client.startTask(id);
    const g = leftoverGroup();
    await waitFor(() => processStartToken(g.pid) !== null, 2000, 'leftover to start');
    await new TaskJournal(join(stateDir, 'journal')).record({
      task_id: id,
      runtime_id: claimed.tasks[0]!.runtime_id,
      runtime: 'command',
      pid: g.pid,
      pgid: g.pid,
      proc_start: processStartToken(g.pid),
      started_at: new Date().toISOString(),
      daemon_pid: 999_999,
      work_dir: join(stateDir, 'work', id),
    });

    // The restarted daemon: same identity (credential) and state dir, new process.
    const h = await startHarness({ platform: p, stateDir, start: false, enrolled: prev });
    try {
      await h.mgr.recoverOrphans();
      const t = await p.admin.getTask(p.workspaceId, id, { messagesLimit: 0 });
      expect(t.status).toBe('failed');
      expect(t.failure_reason).toBe('orphaned');
      expect(t.error).toMatch(/pid 999999.*leftover processes were killed/);
      await waitFor(() => !alive(g.pid), 3000, 'leftover group to die');
      expect((await new TaskJournal(join(stateDir, 'journal')).list()).entries).toEqual([]);
      expect(h.mgr.stats().finished_total.orphaned).toBe(1);
    } finally {
      await h.close();
    }
  });

  it('a journalled pid that now belongs to a stranger is not killed', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'agentd-recover-'));
    cleanup.push(() => rmSync(stateDir, { recursive: true, force: true }));
    const g = leftoverGroup();
    await waitFor(() => processStartToken(g.pid) !== null, 2000, 'process to start');
    await new TaskJournal(join(stateDir, 'journal')).record({
      task_id: 'no-such-task',
      runtime_id: 'r',
      runtime: 'command',
      pid: g.pid,
      pgid: g.pid,
      proc_start: '1', // recorded start time differs: the pid was reused
      started_at: new Date().toISOString(),
      daemon_pid: 999_999,
      work_dir: '/nonexistent',
    });
    const h = await startHarness({ platform: p, stateDir, start: false });
    try {
      await h.mgr.recoverOrphans();
      expect(alive(g.pid)).toBe(true);
      // The platform does not know the task (404): nothing to keep in the journal.
      expect((await new TaskJournal(join(stateDir, 'journal')).list()).entries).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('recover-orphans fails tasks claimed by the previous process that never reached the journal', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'agentd-recover-'));
    cleanup.push(() => rmSync(stateDir, { recursive: true, force: true }));
    const h0 = await startHarness({ platform: p, stateDir, start: false });
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: 'command', prompt: 'true' });
    // Claimed (the daemon died before spawning): no journal entry.
    await h0.e.client.claimTasks({ daemon_id: h0.e.daemonId, runtime_ids: h0.e.runtimes.map((r) => r.id), max_tasks: 1 });
    await h0.mgr.recoverOrphans();
    const t = await p.admin.getTask(p.workspaceId, id, { messagesLimit: 0 });
    expect(t.status).toBe('failed');
    expect(t.failure_reason).toBe('orphaned');
    await h0.close();
  });

  it('processes left in a work dir without a journal entry (crash before the journal write) are killed', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'agentd-recover-'));
    cleanup.push(() => rmSync(stateDir, { recursive: true, force: true }));
    const wd = join(stateDir, 'work', 'task-x');
    mkdirSync(wd, { recursive: true });
    const g = leftoverGroup(wd);
    const outsider = leftoverGroup(); // same kind of process, not in a work dir
    await waitFor(() => processStartToken(g.pid) !== null && processStartToken(outsider.pid) !== null, 2000, 'processes to start');
    const h = await startHarness({ platform: p, stateDir, start: false });
    try {
      await h.mgr.recoverOrphans();
      await waitFor(() => !alive(g.pid), 3000, 'work-dir leftover to die');
      expect(alive(outsider.pid)).toBe(true);
    } finally {
      await h.close();
    }
  });
});
