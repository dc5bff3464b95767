// systemd's notify protocol (Type=notify, WatchdogSec=) without a native addon: Node
// cannot send unix datagrams, and the npm packages for it are native builds, so we run
// the `systemd-notify` binary (the unit sets NotifyAccess=all so a child may speak for
// us; `--pid=<our pid>` tells systemd which process is the main one).
//
// Cost, measured here (systemd 252, Node 20): ~3.4 ms wall and ~0.5 ms of the daemon's
// CPU per message (spawn + exit). Messages are rare: READY once, STATUS per state
// transition, STOPPING once, WATCHDOG every WATCHDOG_USEC/2 (e.g. every 30 s under
// WatchdogSec=60: ~120 spawns an hour, ~60 ms of CPU).
//
// Without --no-block, systemd-notify waits until systemd has taken the message (a
// barrier), which avoids the race where a short-lived sender exits before systemd can
// attribute its message to our unit. Messages are sent one at a time, in order.
//
// Watchdog coupling (docs/architecture.md §3): ping only while the daemon's own
// loops turn (the heartbeat loop made an attempt within 2 × interval, success or not,
// or the revoked-state credential watch polled). A platform outage must not get the
// daemon killed (a restart cannot fix the platform and would kill running tasks); a
// wedged process must.
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';

export interface Notifier {
  readonly enabled: boolean;
  /** WATCHDOG_USEC/2 in ms when systemd asked for pings for this process, else null. */
  readonly watchdogIntervalMs: number | null;
  ready(status: string): void;
  status(status: string): void;
  stopping(status: string): void;
  watchdog(): void;
  /** Starts the watchdog timer; `alive()` decides each tick whether to ping. */
  startWatchdog(alive: () => boolean): void;
  /** Stops the timer and waits for queued messages (bounded). */
  close(): Promise<void>;
}

export interface NotifierOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Binary to run (tests point this at a recorder). */
  binary?: string;
  pid?: number;
}

export function createNotifier(o: NotifierOptions): Notifier {
  const socket = o.env.NOTIFY_SOCKET;
  if (!socket) return NOOP;
  return new SystemdNotifier(o, socket);
}

const NOOP: Notifier = {
  enabled: false,
  watchdogIntervalMs: null,
  ready() {},
  status() {},
  stopping() {},
  watchdog() {},
  startWatchdog() {},
  close: async () => {},
};

/** WATCHDOG_USEC applies to us when WATCHDOG_PID is unset or names our pid. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 1000 / 2));
}

class SystemdNotifier implements Notifier {
  readonly enabled = true;
  readonly watchdogIntervalMs: number | null;
  readonly #o: NotifierOptions;
  readonly #socket: string;
  readonly #pid: number;
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #warned = false;

  constructor(o: NotifierOptions, socket: string) {
    this.#o = o;
    this.#socket = socket;
    this.#pid = o.pid ?? process.pid;
    this.watchdogIntervalMs = watchdogIntervalMs(o.env, this.#pid);
  }

  ready(status: string): void {
    this.#send(['READY=1', `STATUS=${oneLine(status)}`]);
  }
  status(status: string): void {
    this.#send([`STATUS=${oneLine(status)}`]);
  }
  stopping(status: string): void {
    this.#send(['STOPPING=1', `STATUS=${oneLine(status)}`]);
  }
  watchdog(): void {
    this.#send(['WATCHDOG=1']);
  }

  startWatchdog(alive: () => boolean): void {
    if (this.watchdogIntervalMs === null || this.#timer) return;
    this.#timer = setInterval(() => {
      if (alive()) this.watchdog();
      else this.#o.logger.warn({ event: 'watchdog_skipped' }, 'daemon loops are not turning: withholding the systemd watchdog ping');
    }, this.watchdogIntervalMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.race([this.#queue, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  #send(vars: string[]): void {
    this.#queue = this.#queue.then(() => this.#spawn(vars));
  }

  #spawn(vars: string[]): Promise<void> {
    return new Promise((resolve) => {
      const args = [`--pid=${this.#pid}`, ...vars];
      // Only what systemd-notify needs: never the daemon's AGENTD_* environment.
      const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: this.#socket, PATH: this.#o.env.PATH ?? '/usr/bin:/bin' };
      let settled = false;
      const done = (problem?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (problem && !this.#warned) {
          // Once: a missing binary would otherwise log on every watchdog tick.
          this.#warned = true;
          this.#o.logger.warn({ event: 'sd_notify_failed', problem }, `systemd-notify failed (${problem}); systemd may not see READY/WATCHDOG`);
        }
        resolve();
      };
      const child = spawn(this.#o.binary ?? 'systemd-notify', args, { stdio: 'ignore', env });
      // A barrier that never returns must not stall later messages.
      const timer = setTimeout(() => (child.kill('SIGKILL'), done('timed out after 5 s')), 5000);
      child.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
      child.on('exit', (code) => done(code === 0 ? undefined : `exit ${code}`));
    });
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 200);
}
