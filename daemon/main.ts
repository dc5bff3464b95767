// `agentd run`: everything between the command line and a running Daemon, in order:
//   1. settings from the environment (bad value → exit 78, one line)
//   2. config.json + credentials.json (missing/invalid/insecure → exit 78 with the fix;
//      a plain http:// platform URL to another host unless asked for by name → exit 78)
//   3. the state-directory lock (held → exit 75 naming the running pid)
//   4. the daemon: health port (taken → bound later), register, heartbeats, tasks
//   5. signals: SIGTERM/SIGINT drain → exit 0; second signal → exit 1; SIGHUP reload;
//      a bug → exit 70. Revoked and credential removed → exit 77.
// Start-up errors are thrown as AgentdError (the CLI prints them); once running, this
// module owns the exit.
import type { Logger } from 'pino';
import { EXIT } from '../core/exit-codes.js';
import { resolvePaths, type InstallMode } from '../store/paths.js';
import { acquireStateLock, type StateLock } from '../store/lock.js';
import { LockHeld } from '../store/errors.js';
import { loadSettings } from './config.js';
import { loadEnrolment } from './credentials.js';
import { Daemon } from './daemon.js';
import { AgentdError, ConfigError, hintOf } from '../core/errors.js';
import { isPlainHttpRemote } from '../api/plain-http.js';
import type { AgentConfig } from '../store/config.js';
import { createLogger } from './logger.js';
import { createNotifier } from './sdnotify.js';
import { installSignalHandlers } from './signals.js';

export interface RunOptions {
  configDir?: string;
  stateDir?: string;
  mode?: InstallMode;
  env: NodeJS.ProcessEnv;
  /** Process exit (tests inject). */
  exit?: (code: number) => void;
}

/** The credential would travel in clear: only to this machine, or when asked for by name. */
function refusePlainHttp(config: AgentConfig, allowedByEnv: boolean, configFile: string): void {
  if (!isPlainHttpRemote(config.platform_url) || config.insecure_http === true || allowedByEnv) return;
  throw new ConfigError(
    'platform_url',
    `refusing the plain http:// platform URL ${config.platform_url} (${configFile}): the daemon credential would travel unencrypted to another machine`,
    "Re-enrol with the platform's https:// URL (agentd install --force --platform https://…), or accept the risk by name: set AGENTD_INSECURE_HTTP=1 for the service, or re-enrol with --insecure-http.",
  );
}

/** Margin on top of the drain timeout for reporting, deregistering and closing. */
const STOP_MARGIN_MS = 15_000;

/** Starts the daemon. Resolves once it is running (the process then lives until a signal). */
export async function runDaemon(o: RunOptions): Promise<Daemon> {
  const settings = loadSettings(o.env);
  const paths = resolvePaths({ mode: o.mode, configDir: o.configDir, stateDir: o.stateDir, env: o.env });
  const enrolment = await loadEnrolment(paths);
  refusePlainHttp(enrolment.config, settings.insecureHttp, paths.configFile);
  const logger = createLogger({ level: settings.logLevel, format: settings.logFormat, env: o.env });

  let lock: StateLock;
  try {
    lock = await acquireStateLock(paths.stateDir);
  } catch (err) {
    if (err instanceof LockHeld) {
      throw new AgentdError(`another agentd (pid ${err.pid}) is already running with the state directory ${paths.stateDir}`, { code: err.code, exitCode: EXIT.TEMPFAIL, hint: err.hint, cause: err });
    }
    throw new AgentdError(`cannot lock the state directory ${paths.stateDir}: ${err instanceof Error ? err.message : String(err)}`, { exitCode: EXIT.CANTCREAT, hint: hintOf(err), cause: err });
  }

  const exit = o.exit ?? ((code: number) => process.exit(code));
  let exiting = false;
  const finish = async (code: number): Promise<void> => {
    if (exiting) return;
    exiting = true;
    await lock.release().catch(() => undefined);
    logger.info({ event: 'exit', code }, `agentd exiting with code ${code}`);
    exit(code);
  };

  const notifier = createNotifier({ env: o.env, logger });
  const daemon = new Daemon({
    paths,
    settings,
    enrolment,
    logger,
    env: o.env,
    notifier,
    requestExit: (code, reason) => {
      void daemon
        .stop(reason)
        .catch(() => undefined)
        .finally(() => finish(code));
    },
  });

  installSignalHandlers(
    {
      stop: async (signal) => {
        await daemon.stop(signal);
        await lock.release().catch(() => undefined);
      },
      force: async (signal) => {
        await daemon.force(signal);
        await lock.release().catch(() => undefined);
      },
      reload: () => daemon.reload(),
      fatal: async () => {
        await daemon.close();
        await lock.release().catch(() => undefined);
      },
    },
    { logger, stopDeadlineMs: settings.drainTimeoutMs + STOP_MARGIN_MS, exit: (code) => void finish(code) },
  );

  try {
    await daemon.start();
  } catch (err) {
    await daemon.close().catch(() => undefined);
    await lock.release().catch(() => undefined);
    // A StoreError here is daemon.json that could not be written (the state directory is
    // not writable or full): it carries its own exit code (73) and hint.
    throw err;
  }
  return daemon;
}

export type { Logger };
