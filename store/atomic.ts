// The write path for every file agentd writes (Tailscale's atomicfile habit, plus the
// directory fsync docs/architecture.md §6 asks for): write-file-atomic puts the data in a temp
// file next to the target, fsyncs it, sets the mode, renames it over the target; then
// we fsync the directory so the rename itself survives a power cut. A crash at any
// point leaves either the old file or the new one, never a mix. One file is written
// without the fsyncs (replaceForReaders): daemon.json, which describes the running
// process only.
//
// Modes are set with chmod after creation, so the umask never decides them.
import { constants, promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import type writeFileAtomicType from 'write-file-atomic';
import { DiskFull, NotRegularFile, NotWritable, StoreError, UntrustedOwner, shellQuote } from './errors.js';

// Loaded at the first durable write, not with the store: it loads node:crypto (a SHA-1 for
// its temp names, ~5 ms on Node 20), node:worker_threads and signal-exit, and the daemon's
// only write on the way to ready is daemon.json (replaceForReaders below). A daemon's
// first durable write is a task's journal entry, after ready.
let writeFileAtomicLib: Promise<typeof writeFileAtomicType> | undefined;
const loadWriteFileAtomic = (): Promise<typeof writeFileAtomicType> => (writeFileAtomicLib ??= import('write-file-atomic').then((m) => m.default));

/**
 * Writes `data` to `path` atomically with `mode`; refuses a target that is not a regular
 * file. An existing file keeps its owner (write-file-atomic's default); `owner` sets it.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, o: { mode: number; owner?: { uid: number; gid: number } }): Promise<void> {
  const realDir = await checkTarget(path);
  const lib = await loadWriteFileAtomic();
  try {
    await lib(path, typeof data === 'string' ? data : Buffer.from(data), { mode: o.mode, fsync: true, ...(o.owner ? { chown: o.owner } : {}) });
  } catch (err) {
    throw mapFsError(err, path);
  }
  await fsyncDir(realDir);
}

/**
 * Replaces `path` all or nothing for its readers (a temp file beside it, created
 * exclusively, renamed over it) but without fsyncs: for a file that describes the running
 * process only (daemon.json). A power cut that loses the write also ended the process it
 * describes, and readers take a missing or garbled file as none; the two fsyncs were a
 * wait on the disk on the way to ready (0.5–1.3 ms here, more on a busy disk).
 */
export async function replaceForReaders(path: string, data: string, mode: number): Promise<void> {
  await checkTarget(path);
  // Math.random, not node:crypto: the name only has to differ from another writer's, and
  // 'wx' (O_EXCL) never opens an existing file or a planted link.
  const tmp = `${path}.${process.pid}.${Math.random().toString(16).slice(2, 10)}.tmp`;
  try {
    await fs.writeFile(tmp, data, { mode, flag: 'wx' });
    await fs.chmod(tmp, mode);
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw mapFsError(err, path);
  }
}

/** Refuses a target that is a link or not a regular file; answers the directory it really is in. */
async function checkTarget(path: string): Promise<string> {
  let realDir = dirname(path);
  try {
    // lstat: a symlink is refused, never written through. Root writes units, plists and
    // credentials into directories another user may own; a planted link would turn the
    // write into one on any file the link names. Anything else but a regular file
    // (dir, socket, FIFO, device) is refused too.
    const st = await fs.lstat(path);
    if (st.isSymbolicLink()) throw new UntrustedOwner(`${path} is a symbolic link; agentd never writes a file through a link`, { path, hint: `Remove the link (rm ${shellQuote(path)}), then retry.` });
    if (!st.isFile()) throw new NotRegularFile(`${path} exists and is not a regular file; refusing to replace it`, { path, hint: `Move it away, then retry: mv ${shellQuote(path)} ${shellQuote(path + '.bak')}` });
    realDir = dirname(await fs.realpath(path));
  } catch (err) {
    if (err instanceof StoreError) throw err;
    if (!isCode(err, 'ENOENT')) throw mapFsError(err, path);
  }
  return realDir;
}

/**
 * mkdir -p, then chmod the leaf to `mode` (umask-proof; parents keep theirs). An existing
 * leaf at exactly `mode | keep` is left so (the state dir of a system install is 0711
 * so the task user can pass through it; 0700 everywhere else).
 */
export async function ensureDir(path: string, mode: number, keep = 0): Promise<void> {
  try {
    await mkdirp(path, mode);
    const st = await fs.stat(path);
    if (!st.isDirectory()) throw new NotRegularFile(`${path} exists and is not a directory`, { path });
    if ((st.mode & 0o7777) !== mode && (st.mode & 0o7777) !== (mode | keep)) await fs.chmod(path, mode);
  } catch (err) {
    if (err instanceof StoreError) throw err;
    if (isCode(err, 'ENOENT')) throw new NotWritable(`cannot create the directory ${path}`, { path, cause: err, hint: 'Choose a directory on a normal, writable file system with --config-dir/--state-dir.' });
    if (isCode(err, 'ENOTDIR') || isCode(err, 'EEXIST')) throw new NotRegularFile(`${path} (or one of its parents) exists and is not a directory`, { path, cause: err });
    throw mapFsError(err, path);
  }
}

/**
 * mkdir -p by hand: Node 20's `mkdir(…, { recursive: true })` spins forever when the
 * kernel answers ENOENT for a path whose parent exists (e.g. under /proc). Parents get
 * 0777 minus the umask, as with `mkdir -p`; the leaf gets `mode`.
 */
async function mkdirp(path: string, mode: number): Promise<void> {
  try {
    await fs.mkdir(path, { mode });
    return;
  } catch (err) {
    if (isCode(err, 'EEXIST')) return;
    if (!isCode(err, 'ENOENT') || dirname(path) === path) throw err;
  }
  await mkdirp(dirname(path), 0o777);
  try {
    await fs.mkdir(path, { mode });
  } catch (err) {
    if (!isCode(err, 'EEXIST')) throw err;
  }
}

/** unlink; a missing file is fine. Then fsync the directory so the removal is durable. */
export async function removeFile(path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return;
    throw mapFsError(err, path);
  }
  await fsyncDir(dirname(path));
}

/** Makes renames/unlinks in `dir` durable. Some file systems refuse fsync on a directory; that is not an error worth failing a write for. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
    await fh.sync();
  } catch (err) {
    if (!isCode(err, 'EINVAL') && !isCode(err, 'EISDIR') && !isCode(err, 'EPERM') && !isCode(err, 'EACCES')) throw mapFsError(err, dir);
  } finally {
    await fh?.close();
  }
}

/** Maps a Node fs error to the store's typed errors (what happened + what to do). */
export function mapFsError(err: unknown, path: string): Error {
  if (err instanceof StoreError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new NotWritable(`cannot write ${path}: permission denied`, {
      path,
      cause: err,
      hint: 'Run as a user who may write there (for a system install: sudo), or choose another directory with --config-dir/--state-dir.',
    });
  }
  if (code === 'EROFS') return new NotWritable(`cannot write ${path}: read-only file system`, { path, cause: err, hint: 'Choose a writable directory with --config-dir/--state-dir.' });
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DiskFull(`cannot write ${path}: no space left on the device`, { path, cause: err, hint: `Free some space (df -h ${dirname(path)}), then retry.` });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
