// Task work directories under <stateDir>/work/<task id>: created 0700 when a task
// starts, stamped when it finishes, removed by housekeeping after the retention time.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
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

/**
 * Writes files into a task's work dir (the brief files of a Multica-shaped task).
 * Scratch data, re-created for every task: no fsync, and synchronous calls on purpose:
 * a dozen small writes into a fresh local directory take well under a millisecond
 * inline, while as a dozen thread-pool round trips they added 2–48 ms between the claim
 * and the agent's start on a loaded 2-core machine (bench/multica-ws.mjs). A path may not
 * leave the work dir. A file with `block` markers that already exists keeps its own
 * text: the marked block is replaced, or appended when there is none.
 */
export interface WorkFile {
  /** Relative to the work dir. */
  path: string;
  content: string;
  /** Markers of a block that replaces only its own part of an existing file. */
  block?: { begin: string; end: string };
}

/** What `f` leaves in its file, given what the file held before (null: no such file). */
export function workFileContent(f: WorkFile, existing: string | null): string {
  if (!f.block) return f.content;
  const block = `${f.block.begin}\n${f.content.replace(/\n+$/, '')}\n${f.block.end}\n`;
  if (existing === null) return block;
  const start = existing.indexOf(f.block.begin);
  if (start < 0) return `${existing}${existing.endsWith('\n') || existing === '' ? '' : '\n'}\n${block}`;
  const end = existing.indexOf(f.block.end, start);
  return existing.slice(0, start) + block + (end < 0 ? '' : existing.slice(end + f.block.end.length).replace(/^\n/, ''));
}

export function writeWorkFiles(dir: string, files: readonly WorkFile[]): void {
  const root = resolve(dir);
  for (const f of files) {
    const target = resolve(root, f.path);
    if (!target.startsWith(root + sep)) throw new Error(`${f.path} is outside the work directory`);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    let existing: string | null = null;
    if (f.block) {
      try {
        existing = readFileSync(target, 'utf8');
      } catch {
        // no such file: the block is the whole file
      }
    }
    const data = workFileContent(f, existing);
    writeFileSync(target, data, { mode: 0o644 });
  }
}
