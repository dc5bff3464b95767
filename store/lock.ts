// One daemon per state directory: a lock file holding the owner's pid (docs/architecture.md §6).
//
//   acquire:  write "<pid>\n" to a private temp file, then link() it to agentd.lock.
//             link is atomic and fails with EEXIST, so the lock file is never seen
//             half-written (an O_EXCL create followed by a write would be).
//   EEXIST:   read the pid. Alive → LockHeld. Dead (or garbage) → stale: rename it to a
//             unique name (only one of several racing takers can move that inode), check
//             that what we moved is the inode we judged stale, drop it, and link again.
//   release:  unlink, only if the lock file is still ours (same inode).
//
// A pid equal to ours that this process does not hold is stale too: in a container the
// daemon is often pid 1 on every start.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, fsyncDir, isCode, mapFsError } from './atomic.js';
import { LockHeld } from './errors.js';
import { processAlive } from './processes.js';
import { STATE_DIR_TRAVERSE } from './paths.js';

export const LOCK_FILE_NAME = 'agentd.lock';

/** Lock files this process holds (path → inode; PENDING while acquiring). */
const held = new Map<string, number>();
const PENDING = -1;

export interface StateLock {
  readonly path: string;
  release(): Promise<void>;
}

export async function acquireStateLock(stateDir: string): Promise<StateLock> {
  await ensureDir(stateDir, 0o700, STATE_DIR_TRAVERSE);
  const lockPath = join(stateDir, LOCK_FILE_NAME);
  if (held.has(lockPath)) throw new LockHeld(lockPath, process.pid);
  // Claimed before the first await, so a concurrent acquire in this process sees it.
  held.set(lockPath, PENDING);
  let acquired = false;
  const tmp = join(stateDir, `.${LOCK_FILE_NAME}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    try {
      await fs.writeFile(tmp, `${process.pid}\n`, { mode: 0o644, flag: 'wx' });
    } catch (err) {
      throw mapFsError(err, tmp);
    }
    // Three rounds are plenty: each failed round means a racing process changed the lock.
    for (let round = 0; round < 3; round++) {
      try {
        await fs.link(tmp, lockPath);
        const ino = (await fs.stat(lockPath)).ino;
        held.set(lockPath, ino);
        acquired = true;
        await fsyncDir(stateDir).catch(() => {}); // durability of a lock file is nice-to-have
        return { path: lockPath, release: () => release(lockPath, ino) };
      } catch (err) {
        if (!isCode(err, 'EEXIST')) throw mapFsError(err, lockPath);
      }
      const owner = await readOwner(lockPath);
      if (owner === null) continue; // vanished between link and read: try again
      if (owner.pid !== null && owner.pid !== process.pid && processAlive(owner.pid)) throw new LockHeld(lockPath, owner.pid);
      await takeOverStale(lockPath, owner.ino);
    }
    const owner = await readOwner(lockPath);
    throw new LockHeld(lockPath, owner?.pid ?? 0);
  } finally {
    if (!acquired) held.delete(lockPath);
    await fs.unlink(tmp).catch(() => {});
  }
}

async function readOwner(lockPath: string): Promise<{ pid: number | null; ino: number } | null> {
  try {
    const fh = await fs.open(lockPath, 'r');
    try {
      const [st, text] = await Promise.all([fh.stat(), fh.readFile('utf8')]);
      const pid = /^\s*(\d+)\s*$/.test(text) ? Number(text.trim()) : null;
      return { pid: pid !== null && pid > 0 ? pid : null, ino: st.ino };
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (isCode(err, 'ENOENT')) return null;
    throw mapFsError(err, lockPath);
  }
}

async function takeOverStale(lockPath: string, staleIno: number): Promise<void> {
  const aside = `${lockPath}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await fs.rename(lockPath, aside);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return; // another process moved it first
    throw mapFsError(err, lockPath);
  }
  const movedIno = (await fs.stat(aside)).ino;
  if (movedIno !== staleIno) {
    // Between our read and our rename, someone else replaced the stale lock with a live
    // one and we moved *theirs*: put it back (link fails if yet another one is there).
    await fs.link(aside, lockPath).catch(() => {});
  }
  await fs.unlink(aside).catch(() => {});
}

async function release(lockPath: string, ino: number): Promise<void> {
  if (held.get(lockPath) !== ino) return;
  held.delete(lockPath);
  try {
    // Same inode AND our pid: a file system may reuse a freed inode number at once.
    const owner = await readOwner(lockPath);
    if (owner && owner.ino === ino && owner.pid === process.pid) await fs.unlink(lockPath);
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw mapFsError(err, lockPath);
  }
}
