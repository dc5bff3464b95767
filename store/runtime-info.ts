// <stateDir>/daemon.json: how to reach the running daemon (its pid and health URL).
// Written once the health port listens, removed on a clean exit; `agentd status`, the
// installer and tests read it (the health port may be a random one: AGENTD_HEALTH_ADDR
// with port 0). Not a secret; replaced atomically for its readers, without fsyncs (it
// describes this process only).
import type { AgentdPaths } from './paths.js';
import { removeFile, replaceForReaders } from './atomic.js';
import { readSmallFile } from './json-file.js';

export interface RuntimeInfoFile {
  pid: number;
  /** http://127.0.0.1:PORT, or null when the health port is disabled. */
  health_url: string | null;
  version: string;
  started_at: string;
}

export const RUNTIME_INFO_MODE = 0o644;

export async function writeRuntimeInfo(paths: AgentdPaths, info: RuntimeInfoFile): Promise<void> {
  // Not through writeFileAtomic: this file describes the running process only, and is
  // written on the way to ready (store/atomic.ts says why that matters).
  await replaceForReaders(paths.runtimeFile, JSON.stringify(info, null, 2) + '\n', RUNTIME_INFO_MODE);
}

/** null when missing, empty or not the expected shape (a stale or foreign file). */
export async function readRuntimeInfo(paths: AgentdPaths): Promise<RuntimeInfoFile | null> {
  const file = await readSmallFile(paths.runtimeFile, 64 * 1024);
  if (!file) return null;
  try {
    const v = JSON.parse(file.text) as Partial<RuntimeInfoFile>;
    if (typeof v.pid !== 'number' || (v.health_url !== null && typeof v.health_url !== 'string')) return null;
    return { pid: v.pid, health_url: v.health_url ?? null, version: String(v.version ?? ''), started_at: String(v.started_at ?? '') };
  } catch {
    return null;
  }
}

/** Removes daemon.json, but only if it still describes `pid` (a newer daemon may own it). */
export async function removeRuntimeInfo(paths: AgentdPaths, pid: number): Promise<void> {
  const cur = await readRuntimeInfo(paths).catch(() => null);
  if (cur && cur.pid !== pid) return;
  await removeFile(paths.runtimeFile);
}
