// undici parses HTTP with llhttp compiled to WebAssembly. By default V8 compiles it with
// its baseline compiler (Liftoff) and then again, in the background, with TurboFan. Both
// of agentd's processes are better off with the baseline code alone:
// - the daemon: TurboFan's compile zones are ~9 MB of resident memory that malloc never
//   returns, for a parser that handles a few small responses a minute (an undici client
//   making 5 requests: anon RSS 28.6 MB by default, 19.1 MB with --liftoff-only;
//   --wasm-lazy-compilation --no-wasm-tier-up was bimodal, 19.6 or 29 MB);
// - a CLI command (`agentd install`): it exits after a request or two, and at exit the
//   main thread waits for the background compile to finish (`agentd install
//   --no-service`, 5 runs each, alternating: median 610 ms by default, 449 ms with it).
//
// When: as late as possible, just before the first HTTP request (llhttp is compiled when
// the first socket connects), not at process start. Changing any V8 flag makes V8 refuse
// the code cache Node ships for its own modules, so every `node:` module loaded after it
// is compiled from source: importing node:crypto took ~5 ms before the change and ~12 ms
// after it, node:http + node:https ~6 ms and ~18 ms (Node 20). Set at start, that was the
// whole module graph of `agentd install` and `agentd run`.
import { setFlagsFromString } from 'node:v8';

let done = false;

/** Idempotent: the first call sets the flag, later calls cost a branch. */
export function baselineWasmOnly(): void {
  if (done) return;
  done = true;
  try {
    setFlagsFromString('--liftoff-only');
  } catch {
    // An engine without this flag: keep its defaults.
  }
}
