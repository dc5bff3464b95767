// Node's module compile cache (Node >= 22.1, the runtime the artifact ships) for `agentd
// run`: V8 keeps the code it compiled for the daemon's chunks in <state>/compile-cache/,
// and the next start reads it instead of parsing and compiling ~1 MB of JS again
// (bench/startup-cache.mjs: start → ready on Node 24, cold and warm, each its own line).
// Node 20 has no such API: nothing happens there.
//
// Enabled before the daemon's chunks load (cli/run.ts), in a directory only this user
// can write: cached code is run as is, so a cache another user could write would be
// code that user makes the daemon run. Node checks each entry against the file's
// content and its own version, so an upgraded agentd never runs stale code; entries of
// older builds stay until `agentd uninstall --purge` removes the state directory.
// Only inside a state directory that exists: the daemon creates and checks that one
// itself (store/lock.ts, store/ownership.ts), with its own modes.
import { lstatSync, mkdirSync } from 'node:fs';
import module from 'node:module';

interface CompileCacheApi {
  enableCompileCache?: (dir: string) => { status: number; directory?: string; message?: string };
  flushCompileCache?: () => void;
}

const api = module as unknown as CompileCacheApi;

/** A directory of ours: not a link, owned by this user, writable by nobody else. */
function ours(path: string): boolean {
  const st = lstatSync(path);
  return st.isDirectory() && (process.getuid === undefined || st.uid === process.getuid()) && (st.mode & 0o022) === 0;
}

/**
 * Turns the cache on in `dir` (created 0700 inside an existing state directory) and
 * returns the directory Node uses, or null: an old Node, a missing state directory, a
 * directory that is not ours, or any error (the daemon then starts without a cache).
 */
export function enableCompileCache(stateDir: string, dir: string): string | null {
  if (typeof api.enableCompileCache !== 'function') return null;
  try {
    // The state directory too: another user who may write there could swap the cache
    // directory for theirs between the check below and Node opening it.
    if (!ours(stateDir)) return null;
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return null;
    }
    if (!ours(dir)) return null;
    const r = api.enableCompileCache(dir);
    return r.directory ?? null;
  } catch {
    return null;
  }
}

/** Writes what was compiled so far (Node also writes it at exit; a killed daemon does not get there). */
export function flushCompileCache(): void {
  try {
    api.flushCompileCache?.();
  } catch {
    // A full disk or a removed directory: the next start compiles again.
  }
}
