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
// Set before the first request compiles the module.
import { setFlagsFromString } from 'node:v8';

export function baselineWasmOnly(): void {
  try {
    setFlagsFromString('--liftoff-only');
  } catch {
    // An engine without this flag: keep its defaults.
  }
}
