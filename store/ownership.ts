// Who may own agentd's directories and files, and how root hands them to the service
// user without ever following a path another user can change.
//
// Root (`agentd install`, `agentd credentials set`) writes into directories the service
// user owns, and the service's tasks write into their work directories. A walk by path
// (chown -R, readdir + recurse) can be redirected by a process that swaps a directory
// for a symlink between two steps; so root never walks a tree: it opens each one known
// path with O_NOFOLLOW and changes the open inode (fchown/fchmod), and it never touches
// what is inside a task's work directory. A directory or file owned by anyone but root,
// the caller or the service user is refused: its owner could swap what root then writes
// through, or what the daemon then trusts (a config.json pointing the credential at
// another URL).
import { constants, promises as fs, readFileSync } from 'node:fs';
import { isCode, mapFsError } from './atomic.js';
import { NotRegularFile, StoreError, UntrustedOwner, shellQuote } from './errors.js';

export interface Ids {
  uid: number;
  gid: number;
}

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const DIRECTORY = constants.O_DIRECTORY ?? 0;

/** uid/gid of a local account from /etc/passwd (system accounts are local), or null. */
export function localUser(name: string, passwd = '/etc/passwd'): (Ids & { home: string }) | null {
  let text: string;
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 7) return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' };
  }
  return null;
}

/**
 * The owners agentd trusts for its config and state: root, whoever runs this process,
 * and the service user of a system install (`agentd`, or AGENTD_SERVICE_USER for one
 * installed under another name).
 */
export function trustedOwners(serviceUser = process.env.AGENTD_SERVICE_USER || 'agentd'): Set<number> {
  const set = new Set<number>([0]);
  if (typeof process.geteuid === 'function') set.add(process.geteuid());
  const svc = localUser(serviceUser);
  if (svc) set.add(svc.uid);
  return set;
}

export function untrusted(path: string, what: string, uid: number): UntrustedOwner {
  return new UntrustedOwner(`${path} is ${what} owned by uid ${uid}, not by root or the agentd service user; refusing to use it`, {
    path,
    hint: `Another user could change what agentd reads or writes there. Remove it (or give it to root: chown root: ${shellQuote(path)}) and run the command again.`,
  });
}

/** Refuses a symlink, a non-directory, or a directory owned by an untrusted user. Missing is fine (false). */
export async function checkDir(path: string, trusted: Set<number> = trustedOwners()): Promise<boolean> {
  let st;
  try {
    st = await fs.lstat(path);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false;
    throw mapFsError(err, path);
  }
  if (st.isSymbolicLink()) throw new UntrustedOwner(`${path} is a symbolic link; agentd's directories must be real directories`, { path, hint: `Replace the link with a directory: rm ${shellQuote(path)}, then run the command again.` });
  if (!st.isDirectory()) throw new NotRegularFile(`${path} exists and is not a directory`, { path });
  if (!trusted.has(st.uid)) throw untrusted(path, 'a directory', st.uid);
  return true;
}

/** Refuses a symlink or a file owned by an untrusted user at `path`; missing is fine (false). */
export async function checkFile(path: string, trusted: Set<number> = trustedOwners()): Promise<boolean> {
  let st;
  try {
    st = await fs.lstat(path);
  } catch (err) {
    if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return false;
    throw mapFsError(err, path);
  }
  if (st.isSymbolicLink()) throw new UntrustedOwner(`${path} is a symbolic link; agentd never writes or trusts a file through a link`, { path, hint: `Remove the link (rm ${shellQuote(path)}) and run the command again.` });
  if (!trusted.has(st.uid)) throw untrusted(path, 'a file', st.uid);
  return true;
}

/**
 * Makes `path` a directory owned by `ids` with `mode`: created when missing; an existing
 * one must be a real directory owned by a trusted user. Ownership and mode are set on
 * the inode opened with O_NOFOLLOW, never by path, and nothing inside it is touched.
 */
export async function claimDir(path: string, ids: Ids, mode: number, trusted: Set<number> = trustedOwners()): Promise<void> {
  const t = new Set([...trusted, ids.uid]);
  if (!(await checkDir(path, t))) {
    try {
      await fs.mkdir(path, { mode });
    } catch (err) {
      if (!isCode(err, 'EEXIST')) throw mapFsError(err, path);
    }
  }
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(path, constants.O_RDONLY | DIRECTORY | NOFOLLOW);
    const st = await fh.stat();
    if (!st.isDirectory()) throw new NotRegularFile(`${path} exists and is not a directory`, { path });
    if (!t.has(st.uid)) throw untrusted(path, 'a directory', st.uid);
    if (st.uid !== ids.uid || st.gid !== ids.gid) await fh.chown(ids.uid, ids.gid);
    if ((st.mode & 0o7777) !== mode) await fh.chmod(mode);
  } catch (err) {
    if (err instanceof StoreError) throw err;
    if (isCode(err, 'ELOOP') || isCode(err, 'ENOTDIR')) throw new UntrustedOwner(`${path} was replaced by a link while agentd set it up; refusing to follow it`, { path, hint: 'Run the command again; if it repeats, find who changes that directory.' });
    throw mapFsError(err, path);
  } finally {
    await fh?.close();
  }
}

/** Gives an existing file to `ids` (opened with O_NOFOLLOW: a link is refused, not followed). Missing is fine. */
export async function claimFile(path: string, ids: Ids, trusted: Set<number> = trustedOwners()): Promise<void> {
  const t = new Set([...trusted, ids.uid]);
  if (!(await checkFile(path, t))) return;
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(path, constants.O_RDONLY | NOFOLLOW | constants.O_NONBLOCK);
    const st = await fh.stat();
    if (!st.isFile()) throw new NotRegularFile(`${path} is not a regular file`, { path });
    if (!t.has(st.uid)) throw untrusted(path, 'a file', st.uid);
    if (st.uid !== ids.uid || st.gid !== ids.gid) await fh.chown(ids.uid, ids.gid);
  } catch (err) {
    if (err instanceof StoreError) throw err;
    if (isCode(err, 'ENOENT')) return;
    if (isCode(err, 'ELOOP')) throw new UntrustedOwner(`${path} is a symbolic link; agentd never writes or trusts a file through a link`, { path });
    throw mapFsError(err, path);
  } finally {
    await fh?.close();
  }
}
