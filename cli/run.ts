// `agentd run`: the daemon in the foreground (what systemd/launchd execute). Flags and
// error printing only; the daemon is daemon/main.ts, loaded lazily (cli/run-daemon.ts).
// The entry of the run build (scripts/esbuild-node.mjs), which dist/agentd.mjs loads.
import { defineCommand, type CommandIO, type FlagSpec, type ParsedArgs } from './command.js';
import { UsageError } from '../core/errors.js';
import { isInstallMode, resolvePaths } from '../store/paths.js';
import { enableCompileCache, flushCompileCache } from './compile-cache.js';
import { errorMessage } from './error-message.js';

const RUN_FLAGS = {
  'config-dir': { type: 'string', value: 'DIR', description: 'Where config.json and credentials.json are (env AGENTD_CONFIG_DIR)' },
  'state-dir': { type: 'string', value: 'DIR', description: 'Lock, journal, work dirs, daemon.json (env AGENTD_STATE_DIR)' },
  mode: { type: 'string', value: 'system|user', description: 'Which default directories to use (env AGENTD_MODE)' },
} as const satisfies Record<string, FlagSpec>;

export const command = defineCommand({
  name: 'run',
  summary: 'Run the daemon in the foreground (what the service executes)',
  usage: 'agentd run [--config-dir DIR] [--state-dir DIR] [--mode system|user]',
  flags: RUN_FLAGS,
  details: [
    'Settings (environment; durations: 500ms, 90s, 30m, 2h or plain seconds):',
    '  AGENTD_HEARTBEAT_INTERVAL  15s     AGENTD_HEALTH_ADDR     127.0.0.1:19514 (0 disables)',
    '  AGENTD_LOG_LEVEL           info    AGENTD_MAX_TASKS       number of CPUs',
    '  AGENTD_LOG_FORMAT          auto (journal under systemd, text on a terminal, else json)',
    '  AGENTD_TASK_IDLE_TIMEOUT   30m     AGENTD_TOOL_IDLE_TIMEOUT 2h',
    '  AGENTD_TASK_TIMEOUT        2h      AGENTD_KILL_GRACE      10s',
    '  AGENTD_POLL_INTERVAL       30s     AGENTD_DRAIN_TIMEOUT   30s',
    '  AGENTD_WORKDIR_RETENTION   24h     AGENTD_MAX_TASKS_<RUNTIME> per-runtime cap',
    '  AGENTD_WEBSOCKET           on      (off: no WebSocket control channel; polls and heartbeats over HTTP)',
    'Exit codes: 0 stopped cleanly · 1 forced stop · 70 bug · 73 state dir not writable ·',
    '  75 another daemon holds the state dir · 77 credential revoked and removed · 78 configuration error',
  ].join('\n'),
  async run({ flags, positionals }, io) {
    // Every failure is printed here, not by cli/main.ts: this module is built apart from
    // the CLI (scripts/esbuild-node.mjs), so its AgentdError is not the class that
    // cli/main.ts's copy of cli/error-message.ts knows.
    try {
      return await start({ flags, positionals }, io);
    } catch (err) {
      const { text, exitCode } = errorMessage(err);
      io.stderr.write(text);
      return exitCode;
    }
  },
});

async function start({ flags, positionals }: ParsedArgs<typeof RUN_FLAGS>, io: CommandIO): Promise<number> {
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0].slice(0, 40)}"`);
  if (flags.mode !== undefined && !isInstallMode(flags.mode)) throw new UsageError(`--mode must be "system" or "user" (got "${flags.mode.slice(0, 40)}")`);
  const where = { configDir: flags['config-dir'], stateDir: flags['state-dir'], mode: flags.mode as 'system' | 'user' | undefined, env: io.env };
  // Before the daemon's chunks load, so that they are what the cache holds (cli/compile-cache.ts).
  let cached: string | null = null;
  try {
    const paths = resolvePaths(where);
    cached = enableCompileCache(paths.stateDir, paths.compileCacheDir);
  } catch {
    // A bad directory setting: runDaemon reports it.
  }
  const { runDaemon, checkCliEnv, typeboxChecker } = await import('./run-daemon.js');
  checkCliEnv(io.env, typeboxChecker);
  // Start-up failures are AgentdErrors (printed above).
  const daemon = await runDaemon(where);
  // Written a moment after ready: the start-up path is compiled by then, and the task
  // manager that loads after ready most likely too (what is not is written at exit).
  if (cached) void daemon.lifecycle.waitFor(['ready']).then(() => setTimeout(flushCompileCache, 2_000).unref());
  // Running: the process lives until a signal; daemon/main.ts owns the exit code.
  return new Promise<number>(() => undefined);
}
