// What /proc (or kill(pid, 0) elsewhere) says about a process on this machine: is it
// running, and when did it start. The one place that decides whether a pid is alive, for
// the state-dir lock, the installer's readiness wait and the task recovery scan.
import { readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  state: string;
  pgrp: number;
  /** Start time in clock ticks since boot (field 22): with the pid, identifies a process. */
  startTicks: string;
}

export function readStat(pid: number | string): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces or ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state), rest[2] field 5 (pgrp), rest[19] field 22 (starttime).
  return { pid: Number(pid), state: rest[0] ?? '?', pgrp: Number(rest[2]), startTicks: rest[19] ?? '' };
}

export const HAS_PROC = process.platform === 'linux';

/** The start time token of `pid` (Linux), or null when unknown or not running. */
export function processStartToken(pid: number): string | null {
  if (!HAS_PROC) return null;
  const st = readStat(pid);
  return st && st.state !== 'Z' ? st.startTicks : null;
}

/** True when `pid` is running (a zombie is not running: its exit is only not yet reaped). */
export function processAlive(pid: number): boolean {
  if (HAS_PROC) {
    const st = readStat(pid);
    return st !== null && st.state !== 'Z' && st.state !== 'X';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
