// Task work directories under <stateDir>/work/<task id>: created 0700 when a task
// starts, stamped when it finishes, removed by housekeeping after the retention time.
import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir } from './atomic.js';
import { SAFE_ID_RE } from '../api/types.js';

export function workDirFor(workRoot: string, taskId: string): string {
  if (!SAFE_ID_RE.test(taskId)) {
    throw new Error(`task id ${JSON.stringify(taskId)} cannot name a work directory`);
  }
  return join(workRoot, taskId);
}

export async function createWorkDir(workRoot: string, taskId: string): Promise<string> {
  await ensureDir(workRoot, 0o700);
  const dir = workDirFor(workRoot, taskId);
  await ensureDir(dir, 0o700);
  return dir;
}

/** Stamp the finish time (mtime) that retention counts from. */
export async function markWorkDirFinished(dir: string): Promise<void> {
  const now = new Date();
  try {
    await utimes(dir, now, now);
  } catch {
    // a task may have removed its own work dir
  }
}

/** Remove work dirs whose finish stamp is older than `olderThanMs`, except `keep`. Returns the count. */
export async function removeStaleWorkDirs(workRoot: string, olderThanMs: number, keep: ReadonlySet<string>): Promise<number> {
  let names: string[];
  try {
    names = await readdir(workRoot);
  } catch {
    return 0;
  }
  const cutoff = Date.now() - olderThanMs;
  let removed = 0;
  for (const name of names) {
    if (keep.has(name)) continue;
    const dir = join(workRoot, name);
    try {
      const st = await stat(dir);
      if (!st.isDirectory() || st.mtimeMs > cutoff) continue;
      await rm(dir, { recursive: true, force: true });
      removed++;
    } catch {
      // vanished or not removable: try again next round
    }
  }
  return removed;
}
