// Process signals and fatal errors, in one place (close-with-grace's habit):
//   SIGTERM / SIGINT (first)  → graceful stop: `stop(signal)`; the deadline timer starts
//                               BEFORE the stop work, so a stop that wedges still ends
//                               (exit 1 when it fires).
//   SIGTERM / SIGINT (second) → `force(signal)`: stop at once, exit 1.
//   SIGHUP                    → `reload()`: re-read config and credentials.
//   uncaughtException / unhandledRejection → logged, `fatal()` (bounded clean-up), exit 70.
// The exit itself goes through `exit` (injectable for tests) so every path has one
// documented code (multica#2497: a failure must never exit 0).
import type { Logger } from 'pino';
import { EXIT } from '../core/exit-codes.js';

export interface SignalHooks {
  stop(signal: NodeJS.Signals): Promise<void>;
  force(signal: NodeJS.Signals): Promise<void>;
  reload(): Promise<void>;
  /** Best-effort clean-up before exit 70 (remove daemon.json, release the lock). */
  fatal(): Promise<void>;
}

export interface SignalOptions {
  logger: Logger;
  /** How long a graceful stop may take before exit 1 (drain timeout + reporting margin). */
  stopDeadlineMs: number;
  /** How long a forced stop may take before exit 1 regardless. */
  forceDeadlineMs?: number;
  exit?: (code: number) => void;
  proc?: NodeJS.EventEmitter;
}

export interface SignalHandle {
  /** True once a stop signal arrived. */
  readonly stopping: boolean;
  uninstall(): void;
}

export function installSignalHandlers(hooks: SignalHooks, o: SignalOptions): SignalHandle {
  const proc = o.proc ?? process;
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const log = o.logger;
  let stops = 0;
  let reloading: Promise<void> | null = null;

  const bounded = (ms: number, what: string): NodeJS.Timeout => {
    const t = setTimeout(() => {
      log.error({ event: 'stop_deadline', deadline_ms: ms }, `${what} did not finish within ${ms} ms; exiting now`);
      exit(EXIT.FAILURE);
    }, ms);
    t.unref();
    return t;
  };

  const onStop = (signal: NodeJS.Signals): void => {
    stops += 1;
    if (stops === 1) {
      log.info({ event: 'signal', signal }, `${signal} received: draining (send it again to stop at once)`);
      const t = bounded(o.stopDeadlineMs, 'graceful stop');
      hooks.stop(signal).then(
        () => {
          clearTimeout(t);
          // A forced stop makes the drain end early; that is still exit 1, not a clean stop.
          exit(stops > 1 ? EXIT.FAILURE : EXIT.OK);
        },
        (err: unknown) => {
          clearTimeout(t);
          log.error({ err }, 'graceful stop failed');
          exit(EXIT.FAILURE);
        },
      );
      return;
    }
    if (stops === 2) {
      log.warn({ event: 'signal', signal }, `${signal} received again: stopping at once`);
      const t = bounded(o.forceDeadlineMs ?? 5_000, 'forced stop');
      hooks.force(signal).finally(() => {
        clearTimeout(t);
        exit(EXIT.FAILURE);
      });
    }
  };

  const onHup = (): void => {
    if (reloading) return;
    log.info({ event: 'signal', signal: 'SIGHUP' }, 'SIGHUP received: re-reading config and credentials');
    reloading = hooks
      .reload()
      .catch((err: unknown) => log.error({ err }, 'reload failed; keeping the current settings'))
      .finally(() => (reloading = null));
  };

  let fatalSeen = false;
  const onFatal = (err: unknown, origin: string): void => {
    if (fatalSeen) return;
    fatalSeen = true;
    log.fatal({ err, origin }, `${origin}: this is a bug; exiting with code ${EXIT.SOFTWARE}`);
    const t = bounded(1_500, 'clean-up after a fatal error');
    hooks
      .fatal()
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(t);
        exit(EXIT.SOFTWARE);
      });
  };

  const term = (): void => onStop('SIGTERM');
  const int = (): void => onStop('SIGINT');
  const uncaught = (err: unknown): void => onFatal(err, 'uncaughtException');
  const unhandled = (err: unknown): void => onFatal(err, 'unhandledRejection');
  proc.on('SIGTERM', term);
  proc.on('SIGINT', int);
  proc.on('SIGHUP', onHup);
  proc.on('uncaughtException', uncaught);
  proc.on('unhandledRejection', unhandled);
  return {
    get stopping() {
      return stops > 0;
    },
    uninstall() {
      proc.off('SIGTERM', term);
      proc.off('SIGINT', int);
      proc.off('SIGHUP', onHup);
      proc.off('uncaughtException', uncaught);
      proc.off('unhandledRejection', unhandled);
    },
  };
}
