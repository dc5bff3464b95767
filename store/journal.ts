// The task journal: one small JSON file per running task under <stateDir>/journal,
// written atomically when the task's process starts and removed when the task has been
// reported. A daemon that died with tasks running (kill -9, power loss) finds them here
// at its next start and reports them `orphaned` instead of leaving them "running".
//
// One file per task (not one shared file) so concurrent task starts and ends never
// rewrite each other's records.
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, removeFile, writeFileAtomic } from './atomic.js';

export interface JournalEntry {
  task_id: string;
  runtime_id: string;
  runtime: string;
  /** The task's main process; it leads its own process group (pgid === pid). */
  pid: number;
  pgid: number;
  /** Linux /proc starttime of pid (clock ticks since boot): proves a live pid is still ours. */
  proc_start: string | null;
  started_at: string;
  /** The daemon process that started the task. */
  daemon_pid: number;
  work_dir: string;
}

const SAFE_ID = /^[A-Za-z0-9._-]{1,200}$/;

export class TaskJournal {
  private ready: Promise<void> | null = null;

  constructor(readonly dir: string) {}

  private fileFor(taskId: string): string {
    if (!SAFE_ID.test(taskId) || taskId.startsWith('.')) {
      throw new Error(`task id ${JSON.stringify(taskId)} cannot name a journal file`);
    }
    return join(this.dir, `${taskId}.json`);
  }

  private ensureDir(): Promise<void> {
    this.ready ??= ensureDir(this.dir, 0o700).catch((err: unknown) => {
      this.ready = null; // try again next time (e.g. after the disk was fixed)
      throw err;
    });
    return this.ready;
  }

  /** Record a running task (temp file + fsync + rename + dir fsync). */
  async record(e: JournalEntry): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(this.fileFor(e.task_id), JSON.stringify(e) + '\n', { mode: 0o600 });
  }

  /** Forget a task (it was reported). Missing is fine. */
  async remove(taskId: string): Promise<void> {
    await removeFile(this.fileFor(taskId));
  }

  /** Every recorded task; unreadable or foreign files are skipped (and reported in `bad`). */
  async list(): Promise<{ entries: JournalEntry[]; bad: string[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], bad: [] };
      throw err;
    }
    const entries: JournalEntry[] = [];
    const bad: string[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      try {
        const v = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as Partial<JournalEntry>;
        if (typeof v.task_id !== 'string' || typeof v.pid !== 'number' || typeof v.runtime_id !== 'string') {
          bad.push(name);
          continue;
        }
        entries.push(v as JournalEntry);
      } catch {
        bad.push(name);
      }
    }
    return { entries, bad };
  }

  /** Remove a file `list()` could not read (it can never be reported). */
  async removeBad(name: string): Promise<void> {
    try {
      await unlink(join(this.dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
