// Process-group helpers: a task's child is a group leader (spawned detached), so the
// whole tree it starts can be signalled at once with kill(-pgid). On Linux /proc tells
// who is still in a group and when a process started (to tell our process from a
// stranger that reused its pid after a crash).
import { readdirSync, readlinkSync } from 'node:fs';
import { HAS_PROC, readStat } from '../../store/processes.js';

/** Signal every process in group `pgid`. False when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) return false; // never kill(-1) or kill(0)
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    if (code === 'EPERM') return true; // exists but not ours to signal
    throw err;
  }
}

/**
 * Live (non-zombie) members of group `pgid`. On Linux this scans /proc, so zombies left
 * behind by a container's pid 1 that does not reap do not count; elsewhere it answers
 * [pgid] when kill(-pgid, 0) finds the group.
 */
export function groupMembers(pgid: number): number[] {
  if (!HAS_PROC) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM' ? [pgid] : [];
    }
  }
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const st = readStat(name);
    if (st && st.pgrp === pgid && st.state !== 'Z' && st.state !== 'X') out.push(st.pid);
  }
  return out;
}

/** SIGKILL the group and wait (bounded) until none of its members is left running. */
export async function killGroupAndWait(pgid: number, timeoutMs = 2000): Promise<boolean> {
  if (!signalGroup(pgid, 'SIGKILL')) return true;
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (groupMembers(pgid).length === 0) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Process groups with a member whose working directory is inside `root` (Linux). After a
 * crash every process a task started that still sits in its work dir is ours: one daemon
 * owns a state dir (lock). This catches what the journal missed (a crash between spawn
 * and the journal write).
 */
export function groupsWithCwdUnder(root: string): number[] {
  if (!HAS_PROC) return [];
  const prefix = root.endsWith('/') ? root : root + '/';
  const ownGroup = readStat('self')?.pgrp ?? process.pid;
  const groups = new Set<number>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${name}/cwd`);
    } catch {
      continue;
    }
    if (!cwd.startsWith(prefix)) continue;
    const st = readStat(name);
    // Never our own group (the daemon itself never runs inside a work dir, but be sure).
    if (st && st.state !== 'Z' && st.pgrp > 1 && st.pgrp !== ownGroup) groups.add(st.pgrp);
  }
  return [...groups];
}
