// One daemon per state directory: a lock file holding the owner's pid (docs/architecture.md §6).
//
//   acquire:  write "<pid>\n" to a private temp file, then link() it to agentd.lock.
//             link is atomic and fails with EEXIST, so the lock file is never seen
//             half-written (an O_EXCL create followed by a write would be).
//   EEXIST:   read the pid. Alive → LockHeld. Dead (or garbage) → stale: under a guard
//             directory (one taker at a time), remove it if it is still that inode with
//             no live owner, and link again.
//   release:  unlink, only if the lock file is still ours (same inode).
//
// A pid equal to ours that this process does not hold is stale too: in a container the
// daemon is often pid 1 on every start.
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
  // Math.random, not node:crypto (~5 ms to load at a daemon's start): the name only has to
  // differ from other takers', and the write below is exclusive ('wx').
  const tmp = join(stateDir, `.${LOCK_FILE_NAME}.${process.pid}.${Math.random().toString(16).slice(2, 10)}`);
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

/**
 * A taker that finds the guard dir stays out until it is gone; one left by a taker that
 * died (it is held for milliseconds) is cleared after this long.
 */
const GUARD_STALE_MS = 5000;

/**
 * Removes the stale lock file, one taker at a time: takers serialize on a guard
 * directory (mkdir is atomic), and under it the lock is re-read and removed only if it
 * is still the inode judged stale and still names no live process. Moving the file
 * aside instead (without the guard) let a slow taker move a lock another taker had
 * just won, and two processes ended up holding the directory.
 */
async function takeOverStale(lockPath: string, staleIno: number): Promise<void> {
  const guard = `${lockPath}.takeover`;
  try {
    await fs.mkdir(guard, { mode: 0o700 });
  } catch (err) {
    if (!isCode(err, 'EEXIST')) throw mapFsError(err, guard);
    await waitForGuard(guard);
    return; // the caller's next round sees what the other taker left
  }
  try {
    const now = await readOwner(lockPath);
    // Same inode and still no live owner: inode numbers are reused, so the pid counts too.
    const stillStale = now !== null && now.ino === staleIno && (now.pid === null || now.pid === process.pid || !processAlive(now.pid));
    if (stillStale) await fs.unlink(lockPath).catch((err: unknown) => (isCode(err, 'ENOENT') ? undefined : Promise.reject(mapFsError(err, lockPath))));
  } finally {
    await fs.rmdir(guard).catch(() => {});
  }
}

async function waitForGuard(guard: string): Promise<void> {
  for (;;) {
    let st;
    try {
      st = await fs.stat(guard);
    } catch {
      return; // gone
    }
    if (Date.now() - st.mtimeMs > GUARD_STALE_MS) {
      await fs.rmdir(guard).catch(() => {});
      return;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
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
