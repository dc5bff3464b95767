// Cancellation polling for every running task of the daemon, in one loop.
//
// Each interval: ONE batched call (POST /api/daemon/tasks/status, agentd's extension)
// for all running tasks, instead of one GET /api/daemon/tasks/{id}/status per task
// (200 tasks at 5 s were 40 requests a second). A terminal status, or a task left out of
// the answer (the platform no longer knows it: what 404 says per task), stops that task.
//
// A platform without the batched route (a Multica server today) answers 404 or 405:
// the watch falls back to the per-task GET for each task, and asks for the batched route
// again after `reprobeMs` (the platform may have been upgraded). An unreachable platform
// stops nothing: the next interval tries again.
//
// Latency: a task is checked at the first interval boundary after it started, and a
// cancel is seen at the first check after it, so within one interval (plus the call).
//
// Pushed (setPushed(true)): the platform sends task ends over the open control channel
// (agentd:task_status), which stop a task at once; the poll is then a safety net for a
// push lost on its way (a replica that missed a notice) at `pushedIntervalMs`. At 5 s it
// was a quarter of the JavaScript a daemon with 200 silent tasks ran (a CPU profile of
// bench/watchdog.mjs: 13 of 49 ms a minute). Push starting runs one check
// at once (a cancel while the channel was down was pushed to nobody); push ending puts
// the next check one `intervalMs` away.
import type { Logger } from 'pino';
import type { PlatformClient } from '../../api/client.js';
import { NotFound, PlatformError } from '../../api/errors.js';
import { MAX_STATUS_TASK_IDS, isTerminalTaskStatus } from '../../api/types.js';
import { sleep } from './timing.js';

export interface WatchedTask {
  readonly id: string;
  /** The platform says the task is over (cancelled, or unknown): stop it. */
  platformStop(why: string): void;
}

export interface StatusWatchOptions {
  client: Pick<PlatformClient, 'taskStatuses' | 'taskStatus'>;
  intervalMs: number;
  logger: Logger;
  /** The tasks running now (read at every check). */
  tasks: () => Iterable<WatchedTask>;
  /** How long to use the per-task fallback before asking for the batched route again. */
  reprobeMs?: number;
  /** Per-task GETs in flight at once in the fallback. */
  fallbackConcurrency?: number;
  /** The safety-net interval while task ends are pushed (60 s). */
  pushedIntervalMs?: number;
}


export class StatusWatch {
  private readonly o: Required<StatusWatchOptions>;
  private loop: Promise<void> | null = null;
  private readonly abort = new AbortController();
  /** Time of the 404 that switched to the per-task fallback (null: batched). */
  private fallbackSince: number | null = null;
  private pushed = false;
  /** Push started: the next check is due now, even if one is in flight (it may predate the gap). */
  private checkDue = false;
  /**
   * The loop's first wait is the unpushed interval even while pushed: a task claimed
   * while the channel was down, and cancelled then, was pushed to nobody.
   */
  private firstRound = true;
  /** Ends the loop's current wait early (the interval changed, or a check is due now). */
  private interrupt: (() => void) | null = null;
  batchedCalls = 0;
  perTaskCalls = 0;

  constructor(o: StatusWatchOptions) {
    this.o = { reprobeMs: 10 * 60_000, fallbackConcurrency: 8, pushedIntervalMs: 60_000, ...o };
  }

  /** The platform pushes task ends (true) or no longer does (false). */
  setPushed(pushed: boolean): void {
    if (this.pushed === pushed) return;
    this.pushed = pushed;
    if (pushed) this.checkDue = true;
    this.interrupt?.();
  }

  /** The wait between checks now. */
  get intervalMs(): number {
    const every = Math.max(50, this.o.intervalMs);
    return this.pushed && !this.firstRound ? Math.max(every, this.o.pushedIntervalMs) : every;
  }

  /** True while the platform is polled per task (it has no batched route). */
  get fallback(): boolean {
    return this.fallbackSince !== null;
  }

  /** Runs the loop while there are tasks; call when a task starts. */
  ensureRunning(): void {
    if (this.loop || this.abort.signal.aborted) return;
    this.firstRound = true;
    this.checkDue = false;
    this.loop = this.run().finally(() => {
      this.loop = null;
    });
  }

  stop(): Promise<void> {
    this.abort.abort(new Error('status watch stopped'));
    return this.loop ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (!(await this.wait(signal))) return;
      this.firstRound = false;
      const tasks = [...this.o.tasks()];
      if (tasks.length === 0) return; // ensureRunning() starts it again with the next task
      await this.check(tasks, signal);
    }
  }

  /**
   * Until the next check is due: one interval, restarted when the interval changes
   * (push ended: `intervalMs` from now), cut short when push starts. False: stopped.
   */
  private async wait(signal: AbortSignal): Promise<boolean> {
    let start = Date.now();
    for (;;) {
      if (signal.aborted) return false;
      if (this.checkDue) {
        this.checkDue = false;
        return true;
      }
      const left = start + this.intervalMs - Date.now();
      if (left <= 0) return true;
      const ac = new AbortController();
      const stop = () => ac.abort();
      signal.addEventListener('abort', stop, { once: true });
      this.interrupt = stop;
      try {
        await sleep(left, ac.signal);
      } catch {
        // Interrupted: the interval changed (push ended: a full one from now) or a check is due.
        start = Date.now();
      } finally {
        this.interrupt = null;
        signal.removeEventListener('abort', stop);
      }
    }
  }

  /** One round: every task's status, batched when the platform allows. */
  async check(tasks: WatchedTask[], signal: AbortSignal = this.abort.signal): Promise<void> {
    if (this.fallbackSince !== null && Date.now() - this.fallbackSince >= this.o.reprobeMs) this.fallbackSince = null;
    if (this.fallbackSince === null) {
      try {
        await this.checkBatched(tasks, signal);
        return;
      } catch (err) {
        if (signal.aborted || !isMissingRoute(err)) return; // unreachable: next interval
        this.fallbackSince = Date.now();
        this.o.logger.info(
          { err: err instanceof Error ? err.message : String(err) },
          'the platform has no batched task status route; asking for each task separately',
        );
      }
    }
    await this.checkEach(tasks, signal);
  }

  private async checkBatched(tasks: WatchedTask[], signal: AbortSignal): Promise<void> {
    for (let i = 0; i < tasks.length; i += MAX_STATUS_TASK_IDS) {
      const part = tasks.slice(i, i + MAX_STATUS_TASK_IDS);
      this.batchedCalls++;
      const { tasks: answer } = await this.o.client.taskStatuses({ task_ids: part.map((t) => t.id) }, { signal, timeoutMs: this.timeoutMs() });
      const status = new Map(answer.map((t) => [t.id, t.status]));
      for (const t of part) {
        const s = status.get(t.id);
        if (s === undefined) t.platformStop('the platform no longer knows the task');
        else if (isTerminalTaskStatus(s)) t.platformStop(`the platform marked the task ${s}`);
      }
    }
  }

  private async checkEach(tasks: WatchedTask[], signal: AbortSignal): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < tasks.length && !signal.aborted) {
        const t = tasks[next++] as WatchedTask;
        this.perTaskCalls++;
        try {
          const { status } = await this.o.client.taskStatus(t.id, { signal, timeoutMs: this.timeoutMs() });
          if (isTerminalTaskStatus(status)) t.platformStop(`the platform marked the task ${status}`);
        } catch (err) {
          if (err instanceof NotFound) t.platformStop('the platform no longer knows the task (404)');
          // Otherwise unreachable: keep running; the next round asks again.
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.fallbackConcurrency, tasks.length) }, worker));
  }

  private timeoutMs(): number {
    return Math.max(1000, this.o.intervalMs * 2);
  }
}

/** 404 or 405 on the batched route: the platform does not offer it. */
function isMissingRoute(err: unknown): boolean {
  return err instanceof NotFound || (err instanceof PlatformError && err.status === 405);
}
