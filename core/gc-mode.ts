// While task output floods through a process (the daemon reading a task's pipe, the
// platform storing it), V8 collects garbage without incremental marking; otherwise with
// it, as by default.
//
// Why: a flood's garbage is mostly outside the JS heap (a Buffer per pipe or socket
// read, 16–64 KB each), and V8 answers that with a full collection every ~30 MB of it.
// Done incrementally, each one marks in steps between JS, on a helper thread beside it
// and with the write barrier on, for a heap of ~10 MB; done at once it is one pause of
// ~10 ms. 256 MB through the `command` runtime (bench/tasks.mjs, 3 alternating pairs,
// both processes with it against both without): end to end 145–146 → 175–186 MB/s, daemon
// CPU 5.0–5.3 → 3.7–3.9 ms/MB, platform 3.9–4.3 → 2.9–3.2.
// Why not always: the memory reducer, which gives the heap back after start-up and after
// a burst, works by incremental marking: the idle daemon's RSS 60 s after ready was
// 55.9 MB with it and 60.7 MB without (bench/idle.mjs). And a full pause grows with the
// heap, which for a platform serving many daemons is larger: the platform holds it only
// for a flood's large bodies (platform/routes.ts).
//
// The flag is process-wide and V8 reads it whenever it decides to start a collection: it
// is set when the first flood takes a hold, and set back LINGER_MS after the last one let
// go (bursts a moment apart do not flip it each time). Like api/wasm-flags.ts, this changes
// V8's flags at run time, so `node:` modules loaded afterwards compile without Node's code
// cache; it happens only once output floods, long after start-up.
import { setFlagsFromString } from 'node:v8';

export const LINGER_MS = 1000;

/**
 * Holds on the throughput mode, counted: the function returned releases one (once).
 * `setFlags` is V8's; a test passes its own.
 */
export function createGcMode(setFlags: (flags: string) => void = setFlagsFromString, lingerMs = LINGER_MS): () => () => void {
  let holders = 0;
  // Pending while the last flood's linger runs: the mode is still on then.
  let restore: NodeJS.Timeout | null = null;
  const set = (flags: string) => {
    try {
      setFlags(flags);
    } catch {
      // An engine without this flag: keep its defaults.
    }
  };
  return () => {
    if (restore) {
      clearTimeout(restore);
      restore = null;
    } else if (holders === 0) set('--no-incremental-marking');
    holders++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--holders > 0) return;
      restore = setTimeout(() => {
        restore = null;
        set('--incremental-marking');
      }, lingerMs);
      restore.unref();
    };
  };
}

/** The process's one. */
export const holdThroughputGc = createGcMode();
