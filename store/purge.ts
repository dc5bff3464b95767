// What `agentd uninstall --purge` removes from disk: whole agentd directories (config,
// state, the installed builds) and the command link. Refuses paths that cannot be an
// agentd directory (/, a top-level directory), so a bad --state-dir never becomes
// `rm -rf /usr`.
import { promises as fs } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fsyncDir } from './atomic.js';

/** What install.sh writes into each build directory: the directory's own name. */
export const BUILD_MARKER = '.agentd-build';

/** Whether `path` is deep enough to be removed wholesale (at least two levels below /). */
export function safeToPurge(path: string): boolean {
  const p = resolve(path);
  return p.split(sep).filter(Boolean).length >= 2;
}

/** rm -rf `path`; true when something was there. */
export async function removeTree(path: string): Promise<boolean> {
  if (!safeToPurge(path)) throw new Error(`refusing to remove ${path}: not an agentd directory`);
  const existed = await fs.lstat(path).then(
    () => true,
    () => false,
  );
  if (!existed) return false;
  await fs.rm(path, { recursive: true, force: true });
  await fsyncDir(dirname(resolve(path))).catch(() => undefined);
  return true;
}

/** Removes a symbolic link (never what it points at); false when `path` is not one. */
export async function removeSymlink(path: string): Promise<boolean> {
  const st = await fs.lstat(path).catch(() => null);
  if (!st?.isSymbolicLink()) return false;
  await fs.unlink(path);
  return true;
}

/**
 * Removes the agentd builds in `libDir` (the directories whose .agentd-build marker names
 * them, as install.sh's own clean-up does) and its `current` link, then `libDir` itself
 * if that left it empty. Anything else there is kept and returned: AGENTD_INSTALL_DIR
 * may be a shared folder.
 */
export async function removeBuilds(libDir: string): Promise<{ removed: boolean; left: string[] }> {
  const names = await fs.readdir(libDir).catch(() => null);
  if (names === null) return { removed: false, left: [] };
  const left: string[] = [];
  for (const name of names) {
    const p = join(libDir, name);
    const st = await fs.lstat(p).catch(() => null);
    if (!st) continue;
    if (name === 'current' && st.isSymbolicLink()) {
      await fs.unlink(p);
      continue;
    }
    const marker = st.isDirectory() ? await fs.readFile(join(p, BUILD_MARKER), 'utf8').catch(() => null) : null;
    if (marker !== null && marker.trim() === name) await fs.rm(p, { recursive: true, force: true });
    else left.push(p);
  }
  if (left.length === 0) await fs.rmdir(libDir).catch(() => undefined);
  await fsyncDir(dirname(resolve(libDir))).catch(() => undefined);
  return { removed: true, left };
}
