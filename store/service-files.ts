// Files the service installer puts on disk: the systemd unit / launchd plist (through
// the one atomic write path, skipped when unchanged so a re-install does not touch a
// file the service manager already loaded). Ownership of agentd's directories is
// store/ownership.ts (per path, never a tree walk).
import { promises as fs } from 'node:fs';
import { ensureDir, isCode, mapFsError, removeFile, writeFileAtomic } from './atomic.js';
import { claimDir, claimFile, trustedOwners, type Ids } from './ownership.js';
import type { AgentdPaths } from './paths.js';

/** Writes a unit/plist file (0644, world-readable like every unit). Returns false when it was already identical. */
export async function writeServiceFile(path: string, text: string, dirMode = 0o755, mode = 0o644): Promise<boolean> {
  try {
    if ((await fs.readFile(path, 'utf8')) === text) return false;
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw mapFsError(err, path);
  }
  await ensureParent(path, dirMode);
  await writeFileAtomic(path, text, { mode });
  return true;
}

/**
 * The ownership a system install needs: the service user owns its config (credential
 * 0600) and state, which `agentd install` (root) wrote; the task user owns the work root
 * and its HOME. Each known path is opened with O_NOFOLLOW and changed on the inode;
 * nothing is ever walked (tasks may be running and writing in their work dirs now).
 */
export async function claimServiceDirs(p: AgentdPaths, svc: Ids, task: Ids, serviceUser: string): Promise<void> {
  const trusted = trustedOwners(serviceUser);
  await claimDir(p.configDir, svc, 0o700, trusted);
  await claimFile(p.configFile, svc, trusted);
  await claimFile(p.credentialsFile, svc, trusted);
  // 0711: the task user passes through to its work root and HOME, and lists nothing.
  await claimDir(p.stateDir, svc, 0o711, trusted);
  await claimFile(p.daemonIdFile, svc, trusted);
  await claimDir(p.workRoot, task, 0o700, trusted);
  await claimDir(p.taskHome, task, 0o700, trusted);
}

/** Removes a unit/plist file; a missing one is fine. Returns whether it existed. */
export async function removeServiceFile(path: string): Promise<boolean> {
  const existed = await fs.stat(path).then(
    () => true,
    () => false,
  );
  await removeFile(path);
  return existed;
}

/** Removes a unit's drop-in directory (`agentd.service.d`) and what is in it; missing is fine. */
export async function removeServiceDropins(dir: string): Promise<void> {
  try {
    await fs.rm(dir, { recursive: true, force: true });
  } catch (err) {
    throw mapFsError(err, dir);
  }
}

/** mkdir -p with a mode, for directories the service needs before it first starts (log dir). */
export async function ensureServiceDir(path: string, mode: number): Promise<void> {
  await ensureDir(path, mode);
}

async function ensureParent(path: string, mode: number): Promise<void> {
  const parent = path.slice(0, path.lastIndexOf('/')) || '/';
  try {
    await fs.mkdir(parent, { recursive: true, mode });
  } catch (err) {
    throw mapFsError(err, parent);
  }
}

/**
 * Gives `path` to the owner of its directory when they differ. For writers running as
 * root into a directory the service user owns (e.g. `agentd credentials` replacing
 * /etc/agentd/credentials.json of a system service that runs as `agentd`): without it
 * the daemon could no longer read its own 0600 credential.
 */
export async function adoptDirOwner(path: string): Promise<void> {
  let dir;
  try {
    dir = await fs.lstat(path.slice(0, path.lastIndexOf('/')) || '/');
  } catch (err) {
    if (isCode(err, 'ENOENT')) return;
    throw mapFsError(err, path);
  }
  // On the file opened with O_NOFOLLOW (a link is refused), never by path.
  await claimFile(path, { uid: dir.uid, gid: dir.gid });
}
