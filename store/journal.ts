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
import { Type, type Static } from '@sinclair/typebox';
import { matches } from '../api/schema.js';
import { SAFE_ID_RE } from '../api/types.js';

const JournalEntry = Type.Object({
  task_id: Type.String({ pattern: SAFE_ID_RE.source }),
  runtime_id: Type.String(),
  runtime: Type.String(),
  /** The task's main process; it leads its own process group (pgid === pid). */
  pid: Type.Integer({ minimum: 1 }),
  pgid: Type.Integer({ minimum: 1 }),
  /** Linux /proc starttime of pid (clock ticks since boot): proves a live pid is still ours. */
  proc_start: Type.Union([Type.String(), Type.Null()]),
  started_at: Type.String(),
  /** The daemon process that started the task. */
  daemon_pid: Type.Integer(),
  work_dir: Type.String(),
});
export type JournalEntry = Static<typeof JournalEntry>;


export class TaskJournal {
  private ready: Promise<void> | null = null;

  constructor(readonly dir: string) {}

  private fileFor(taskId: string): string {
    if (!SAFE_ID_RE.test(taskId)) {
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
        const v: unknown = JSON.parse(await readFile(join(this.dir, name), 'utf8'));
        if (!matches(JournalEntry, v)) {
          bad.push(name);
          continue;
        }
        entries.push(v);
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
