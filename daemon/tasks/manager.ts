// The task manager: ONE claim loop per daemon (not one per runtime) feeding a semaphore
// of maxTasks slots, with optional per-runtime caps under it (multica#5554).
//
//   loop: canClaim()? ─no─> wait (woken by a freed slot, or re-check every second)
//         free slots? ─no─> wait for a slot
//         claim {runtime_ids with capacity, max_tasks = free (≤ 32), wait_s: 25}
//           tasks → start each at once, claim again right away (more work is likely queued)
//           empty after a held long poll → claim again
//           empty at once, several times in a row → the platform does not hold long
//             polls: poll every pollIntervalMs (jittered) instead
//           error → back off (jittered, capped)
//
// Stopping claiming is not cancelling (Buildkite's StopGracefully): stopClaiming() aborts
// an in-flight long poll and lets running tasks finish; drain() waits for them up to a
// deadline, then stops the rest with a typed reason; cancelAll() stops them now.
import type { Logger } from 'pino';
import { BadRequest, NotFound, RequestAborted, Unauthorized } from '../../api/errors.js';
import { MAX_CLAIM_TASKS, MAX_CLAIM_WAIT_S, SAFE_ID_RE, isTerminalTaskStatus, type FailureReason, type RegisteredRuntime, type Task } from '../../api/types.js';
import { sanitizeText } from '../../api/text.js';
import { TaskJournal } from '../../store/journal.js';
import { adapterFor } from './adapters/index.js';
import type { RuntimeAdapter } from './adapters/types.js';
import { groupMembers, groupsWithCwdUnder, killGroupAndWait, signalGroup } from './process-group.js';
import { processAlive, processStartToken } from '../../store/processes.js';
import { findOnPath } from './runtimes.js';
import { TaskIsolation } from './isolation.js';
import { StatusWatch } from './status-watch.js';
import { TaskRun, describe, type TaskOutcome } from './task-run.js';
import { Backoff, jittered, sleep } from './timing.js';
import { emptyTaskStats, type CreateTaskManager, type RunningTaskInfo, type TaskManager, type TaskManagerOptions, type TaskStats } from './types.js';
import { join } from 'node:path';

/** Answers faster than this with no task count as "the platform did not hold the poll". */
const QUICK_EMPTY_MS = 1000;
/** This many quick empty answers in a row switch to interval polling. */
const QUICK_EMPTY_LIMIT = 3;
/**
 * Unsent output held in memory across all running tasks (each task gets its share,
 * 256 KiB to 8 MiB). A flooding task needs room for two batches on their way, one
 * filling and one waiting, so its pipes are still read while the platform stores.
 */
const OUTPUT_BUDGET_BYTES = 64 * 1024 * 1024;
/** How often old task work directories are swept. */
const HOUSEKEEPING_MS = 10 * 60_000;
/** How long reporting may take after a forced stop before it is abandoned. */
const REPORT_GRACE_MS = 10_000;

interface Slot {
  run: TaskRun;
  runtime: RegisteredRuntime;
}

export const createTaskManager: CreateTaskManager = (opts) => new Manager(opts);

/** How long a pushed end for a task not running here is kept for its launch. */
const PUSHED_END_TTL_MS = 120_000;
/** At most this many kept (a hostile or buggy platform cannot grow the map). */
const PUSHED_END_MAX = 1000;

class Manager implements TaskManager {
  private readonly o: TaskManagerOptions;
  private readonly log: Logger;
  private readonly journal: TaskJournal;
  private readonly workRoot: string;
  private readonly slots = new Map<string, Slot>();
  /** Task ends pushed for tasks not (yet) running here: id → status, when. */
  private readonly pushedEnds = new Map<string, { status: string; at: number }>();
  private readonly adapters = new Map<string, { adapter: RuntimeAdapter; binaryPath: string | null }>();
  private readonly noAdapter = new Set<string>();
  private claimAbort = new AbortController();
  /** Aborts the claim in flight (a long poll on ids that no longer exist) without ending the loop. */
  private claimRound: AbortController | null = null;
  /** Set by a wake-up that arrived while a claim was in flight: claim again at once after it. */
  private wokenDuringClaim = false;
  /** The batch claim route answered 404: claim per runtime (Multica's legacy route) from now on. */
  private legacyClaims = false;
  private loopPromise: Promise<void> | null = null;
  private wakeFn: (() => void) | null = null;
  private stopped = false;
  private housekeeping: { stop(): void | Promise<void> } | null = null;
  private readonly s: TaskStats = emptyTaskStats();
  /** Task user + per-task cgroups; a rejection fails every task (they never fall back to the daemon's user). */
  private readonly isolation: Promise<TaskIsolation>;
  /** Cancellation polling for all running tasks at once. */
  private readonly statusWatch: StatusWatch;

  constructor(o: TaskManagerOptions) {
    this.o = o;
    this.log = o.logger.child({ component: 'tasks' });
    this.statusWatch = new StatusWatch({
      client: o.client,
      intervalMs: o.statusPollMs,
      logger: this.log,
      tasks: () => [...this.slots.values()].map((sl) => sl.run),
    });
    this.journal = new TaskJournal(join(o.stateDir, 'journal'));
    this.workRoot = join(o.stateDir, 'work');
    this.isolation = TaskIsolation.detect({ taskUser: o.taskUser ?? null, stateDir: o.stateDir, log: this.log });
    this.isolation.catch((err: unknown) => this.log.error({ err: describe(err) }, 'tasks cannot run: task isolation is not available'));
    for (const rt of o.runtimes) this.adapterOf(rt);
  }

  /**
   * The adapter for a registered runtime, resolved on first sight of its id. The daemon
   * replaces the runtime list in place when it registers again (a heartbeat 404, a new
   * credential): the new ids must be claimable at once. A map filled only in the
   * constructor left every new id without an adapter, so the loop claimed for nothing
   * and idled for ever while /status said ready.
   */
  private adapterOf(rt: RegisteredRuntime): { adapter: RuntimeAdapter; binaryPath: string | null } | null {
    const known = this.adapters.get(rt.id);
    if (known) return known;
    if (this.noAdapter.has(rt.id)) return null;
    const adapter = adapterFor(rt);
    if (!adapter) {
      this.noAdapter.add(rt.id);
      this.log.warn({ runtime: rt.name, type: rt.type }, 'no adapter for this runtime; its tasks will fail');
      return null;
    }
    const binaryPath = adapter.binary ? findOnPath(adapter.binary, process.env) : null;
    const entry = { adapter, binaryPath };
    this.adapters.set(rt.id, entry);
    return entry;
  }

  // ------------------------------------------------------------------ recovery

  async recoverOrphans(): Promise<void> {
    const { entries, bad } = await this.journal.list();
    for (const name of bad) {
      this.log.warn({ file: name }, 'unreadable task journal entry removed');
      await this.journal.removeBad(name).catch(() => {});
    }
    for (const e of entries) {
      if (this.slots.has(e.task_id)) continue;
      const killed = await killIfOurs(e.pgid, e.pid, e.proc_start);
      const error = `the agentd process running this task (pid ${e.daemon_pid}) stopped without reporting it${killed ? '; its leftover processes were killed' : ''}`;
      try {
        await this.o.client.failTask(e.task_id, { error, failure_reason: 'orphaned' });
        this.log.info({ task_id: e.task_id, killed }, 'reported a task left behind by the previous daemon as orphaned');
        this.count('orphaned');
        await this.journal.remove(e.task_id);
      } catch (err) {
        if (err instanceof NotFound || err instanceof BadRequest) {
          // Already terminal or unknown on the platform: nothing left to report.
          await this.journal.remove(e.task_id);
        } else {
          this.log.warn({ task_id: e.task_id, err: describe(err) }, 'could not report an orphaned task; will retry at the next start');
        }
      }
    }
    // Task cgroups a crashed daemon left: everything in them is a task's.
    const iso = await this.isolation.catch(() => null);
    const leftovers = iso ? await iso.killLeftovers() : 0;
    if (leftovers > 0) this.log.warn({ cgroups: leftovers }, 'killed the processes of task cgroups a previous daemon left');
    // Leftovers the journal does not know (a crash between spawn and the journal write):
    // anything still running inside a task work dir belongs to a task of this state dir.
    const mine = new Set([...this.slots.values()].map((sl) => sl.run.info().pid));
    for (const pgid of groupsWithCwdUnder(this.workRoot)) {
      if (mine.has(pgid)) continue; // a task this process runs
      this.log.warn({ pgid }, 'killing a leftover task process group found in a work directory');
      signalGroup(pgid, 'SIGTERM');
      await sleep(200);
      await killGroupAndWait(pgid);
    }
    // The platform also fails tasks it handed to this daemon that never got journalled
    // (claimed, then the daemon died before the child started).
    for (const rt of this.o.runtimes) {
      try {
        await this.o.client.recoverOrphans(rt.id);
      } catch (err) {
        this.log.warn({ runtime: rt.name, err: describe(err) }, 'recover-orphans failed');
      }
    }
  }

  // ------------------------------------------------------------------ claim loop

  start(): void {
    if (this.loopPromise || this.stopped) return;
    this.loopPromise = this.claimLoop(this.claimAbort.signal).catch((err: unknown) => {
      this.log.error({ err: describe(err) }, 'claim loop crashed');
    });
    void this.startHousekeeping();
  }

  stopClaiming(): void {
    this.stopped = true;
    this.claimAbort.abort(new Error('claiming stopped'));
    this.wake();
  }

  private wake(): void {
    const w = this.wakeFn;
    this.wakeFn = null;
    if (w) w();
    else this.wokenDuringClaim = true;
  }

  taskAvailable(): void {
    this.wake();
  }

  taskStatus(taskId: string, status: string): void {
    if (!isTerminalTaskStatus(status)) return;
    const slot = this.slots.get(taskId);
    if (slot) {
      slot.run.platformStop(`the platform pushed that the task is ${status}`);
      return;
    }
    // Not running here yet: a cancel right after the claim can arrive before the claim's
    // answer is read. Kept for a while, and applied when the task launches (the status
    // poll's next round could be a minute away while pushes are live).
    const now = Date.now();
    for (const [id, e] of this.pushedEnds) if (now - e.at > PUSHED_END_TTL_MS || this.pushedEnds.size >= PUSHED_END_MAX) this.pushedEnds.delete(id);
    this.pushedEnds.set(taskId, { status, at: now });
  }

  statusPush(live: boolean): void {
    this.statusWatch.setPushed(live);
  }

  runtimesChanged(): void {
    // A claim in flight still names the old ids (a held long poll could sit there 25 s):
    // end it, and claim at once with the new ones. The loop itself keeps running: one
    // loop, whatever the runtime set.
    this.claimRound?.abort(new Error('runtime set changed'));
    this.wake();
  }

  /** Sleep until woken (slot freed, stop) or `ms` passes. */
  private idle(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        if (this.wakeFn === done) this.wakeFn = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakeFn = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private capFor(rt: RegisteredRuntime): number | undefined {
    const caps = this.o.maxTasksPerRuntime;
    return caps[rt.name] ?? caps[rt.name.toLowerCase()] ?? caps[rt.name.toUpperCase()];
  }

  private runningOf(runtimeId: string): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.runtime.id === runtimeId) n++;
    return n;
  }

  /** Runtime ids that may take a task now, and how many tasks one claim may take. */
  private claimable(): { ids: string[]; max: number } {
    const free = Math.min(MAX_CLAIM_TASKS, this.o.maxTasks - this.slots.size);
    if (free <= 0) return { ids: [], max: 0 };
    let max = free;
    const ids: string[] = [];
    for (const rt of this.o.runtimes) {
      if (!this.adapterOf(rt)) continue; // nothing here could run its tasks
      const cap = this.capFor(rt);
      if (cap === undefined) {
        ids.push(rt.id);
        continue;
      }
      const left = cap - this.runningOf(rt.id);
      if (left <= 0) continue;
      ids.push(rt.id);
      // One claim may hand out tasks of any listed runtime: never more than the tightest
      // listed cap allows, so no runtime can exceed its cap.
      max = Math.min(max, left);
    }
    return { ids, max: ids.length ? max : 0 };
  }

  private async claimLoop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ baseMs: 1000, capMs: 60_000 });
    let quickEmpty = 0;
    let lastSuccess = Date.now();
    while (!signal.aborted) {
      if (!this.o.canClaim()) {
        await this.idle(1000, signal);
        continue;
      }
      const { ids, max } = this.claimable();
      if (max <= 0) {
        await this.idle(5000, signal);
        continue;
      }
      const polling = quickEmpty >= QUICK_EMPTY_LIMIT;
      const t0 = performance.now();
      let tasks: Task[];
      const round = new AbortController();
      this.claimRound = round;
      this.wokenDuringClaim = false;
      // One listener per round, removed after it (AbortSignal.any would keep a little
      // memory per call on a root signal that lives for months).
      const onRoot = (): void => round.abort(signal.reason);
      signal.addEventListener('abort', onRoot, { once: true });
      const roundSignal = round.signal;
      try {
        this.s.claim_requests_total++;
        tasks = await this.claimOnce(ids, max, roundSignal);
        backoff.reset();
        lastSuccess = Date.now();
      } catch (err) {
        if (signal.aborted) break;
        if (round.signal.aborted) continue; // the runtime set changed: claim again with the new ids
        if (err instanceof RequestAborted) break;
        this.s.claim_errors_total++;
        const wait = backoff.next();
        const log = err instanceof Unauthorized ? this.log.error.bind(this.log) : this.log.warn.bind(this.log);
        log(
          { err: describe(err), failures: backoff.failures, retry_in_ms: wait },
          `claiming tasks failed; last success ${Math.round((Date.now() - lastSuccess) / 1000)}s ago`,
        );
        await this.idle(wait, signal);
        continue;
      } finally {
        signal.removeEventListener('abort', onRoot);
        if (this.claimRound === round) this.claimRound = null;
      }
      const tClaimed = performance.now();
      if (tasks.length > 0) {
        quickEmpty = 0;
        this.launchClaimed(tasks, ids, max, tClaimed);
        continue; // more work is likely queued: claim again at once
      }
      if (tClaimed - t0 < QUICK_EMPTY_MS) {
        quickEmpty++;
        if (quickEmpty === QUICK_EMPTY_LIMIT) {
          this.log.info({ interval_ms: this.o.pollIntervalMs }, 'the platform does not hold claim requests; polling at an interval');
        }
      } else {
        quickEmpty = 0;
      }
      if (this.wokenDuringClaim) continue; // a wake-up (task available, slot freed) came in while claiming
      if (polling || quickEmpty >= QUICK_EMPTY_LIMIT) await this.idle(jittered(this.o.pollIntervalMs), signal);
    }
  }

  /**
   * One claim: the batch route, or, once it answered 404 (a server without it), the
   * per-runtime legacy route for each runtime, as Multica's daemon does. A 404 naming a
   * runtime (`runtime not found`) is not a missing route: it stays an error, and the
   * heartbeat's re-registration deals with it.
   */
  private async claimOnce(ids: string[], max: number, signal: AbortSignal): Promise<Task[]> {
    if (!this.legacyClaims) {
      try {
        const res = await this.o.client.claimTasks({ daemon_id: this.o.daemonId, runtime_ids: ids, max_tasks: max, wait_s: MAX_CLAIM_WAIT_S }, { signal });
        return res.tasks;
      } catch (err) {
        if (!(err instanceof NotFound) || /runtime not found/i.test(err.platformError ?? '')) throw err;
        this.legacyClaims = true;
        this.log.info({ err: describe(err) }, 'the platform has no batch claim route; claiming per runtime');
      }
    }
    const tasks: Task[] = [];
    for (const id of ids) {
      if (tasks.length >= max) break;
      const res = await this.o.client.claimLegacy(id, { signal });
      if (res.task) tasks.push(res.task);
    }
    return tasks;
  }

  // ------------------------------------------------------------------ tasks

  /**
   * A claim answer is trusted only as far as the claim asked: at most `max` tasks, of
   * the runtimes listed, with ids that can name a URL and a directory. Tasks past that
   * are released: never started, so the platform's claim lease (30 s on the reference
   * platform) queues them again for another daemon.
   */
  private launchClaimed(tasks: Task[], ids: string[], max: number, claimedAt: number): void {
    let launched = 0;
    const released: string[] = [];
    for (const t of tasks) {
      // The client checked the shape (api/types.ts Task: id and runtime_id are strings);
      // what it cannot know is whether they may name a URL segment and a directory.
      if (!SAFE_ID_RE.test(t.id) || !SAFE_ID_RE.test(t.runtime_id)) {
        // Not reportable either: every task route is built from the id.
        const shown = JSON.stringify(sanitizeText(t.id).slice(0, 60));
        this.log.error({ task_id: shown }, 'the platform handed over a task whose id or runtime id is not letters, digits, \'.\', \'_\' or \'-\' (or starts with \'.\'); ignored');
        continue;
      }
      const ours = this.o.runtimes.some((r) => r.id === t.runtime_id);
      if (launched >= max || (ours && !ids.includes(t.runtime_id))) {
        released.push(t.id);
        continue;
      }
      launched++;
      this.launch(t, claimedAt);
    }
    if (released.length > 0) {
      this.log.warn(
        { asked: max, got: tasks.length, released: released.length, task_ids: released.slice(0, 10) },
        `the platform handed over ${tasks.length} task(s) for a claim of at most ${max} (AGENTD_MAX_TASKS and per-runtime caps); ${released.length} not started, the platform will queue them again`,
      );
    }
  }

  private launch(task: Task, claimedAt: number): void {
    this.s.claimed_total++;
    const runtime = this.o.runtimes.find((r) => r.id === task.runtime_id);
    const a = runtime ? this.adapterOf(runtime) : null;
    if (!runtime || !a) {
      this.log.error({ task_id: task.id, runtime_id: task.runtime_id }, 'claimed a task for a runtime this daemon does not run');
      void this.o.client
        .failTask(task.id, { error: `this daemon has no runtime ${task.runtime_id}`, failure_reason: 'runtime_offline' })
        .catch(() => {});
      this.count('runtime_offline');
      return;
    }
    if (this.slots.has(task.id)) return; // the same task twice: already running
    const run = new TaskRun(task, {
      client: this.o.client,
      logger: this.o.logger,
      platformUrl: this.o.platformUrl,
      workRoot: this.workRoot,
      journal: this.journal,
      isolation: this.isolation,
      runtime,
      adapter: a.adapter,
      binaryPath: a.binaryPath,
      env: process.env,
      idleMs: this.o.taskIdleTimeoutMs,
      toolIdleMs: this.o.toolIdleTimeoutMs,
      taskTimeoutMs: this.o.taskTimeoutMs,
      killGraceMs: this.o.killGraceMs,
      claimedAt,
      daemonPort: this.o.daemonPort ?? null,
      // One output budget for the daemon, shared by its slots: memory stays bounded
      // however many tasks flood at once.
      // Up to 8 MiB a task: two 2 MiB raw bodies in flight, one filling, one queued.
      highWaterBytes: Math.max(256 * 1024, Math.min(8 * 1024 * 1024, Math.floor(OUTPUT_BUDGET_BYTES / Math.max(1, this.o.maxTasks)))),
      onSpawn: (ms) => {
        this.s.spawn_latency_seconds_last = ms / 1000;
      },
      onWatchdogKill: () => {
        this.s.watchdog_kills_total++;
      },
      onMessagesSent: (count, bytes) => {
        this.s.messages_sent_total += count;
        this.s.message_bytes_sent_total += bytes;
      },
    });
    this.slots.set(task.id, { run, runtime });
    const pushed = this.pushedEnds.get(task.id);
    if (pushed) {
      this.pushedEnds.delete(task.id);
      if (Date.now() - pushed.at <= PUSHED_END_TTL_MS) run.platformStop(`the platform pushed that the task is ${pushed.status} (before it started here)`);
    }
    this.statusWatch.ensureRunning();
    this.log.info({ task_id: task.id, runtime: runtime.name }, 'task claimed');
    run
      .run()
      .then(
        (outcome) => this.count(outcome),
        (err: unknown) => {
          this.log.error({ task_id: task.id, err: describe(err) }, 'task runner crashed');
          this.count('agent_error');
        },
      )
      .finally(() => {
        this.slots.delete(task.id);
        this.wake(); // a slot is free
      });
  }

  private count(outcome: TaskOutcome): void {
    this.s.finished_total[outcome] = (this.s.finished_total[outcome] ?? 0) + 1;
  }

  async drain(timeoutMs: number, reason: FailureReason): Promise<void> {
    this.stopClaiming();
    const all = [...this.slots.values()].map((s) => s.run.whenDone());
    if (all.length === 0) return this.stopHousekeeping();
    let timer: NodeJS.Timeout | null = null;
    const timedOut = await Promise.race([
      Promise.all(all).then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, timeoutMs)))),
    ]);
    if (timer) clearTimeout(timer);
    if (timedOut) await this.cancelAll(reason);
    await this.stopHousekeeping();
  }

  async cancelAll(reason: FailureReason): Promise<void> {
    const slots = [...this.slots.values()];
    const error =
      reason === 'daemon_shutdown'
        ? 'agentd is shutting down and the task did not finish within the drain timeout'
        : `agentd stopped the task (${reason})`;
    for (const s of slots) s.run.stop(reason, error);
    // Processes end within killGraceMs; reporting gets a bounded extra moment (the
    // platform may be unreachable, or the credential revoked).
    const deadline = setTimeout(() => {
      for (const s of slots) s.run.abandonReporting();
    }, this.o.killGraceMs + REPORT_GRACE_MS);
    await Promise.all(slots.map((s) => s.run.whenDone()));
    clearTimeout(deadline);
  }

  running(): RunningTaskInfo[] {
    return [...this.slots.values()].map((s) => s.run.info());
  }

  stats(): TaskStats {
    return { ...this.s, running: this.slots.size, finished_total: { ...this.s.finished_total } };
  }

  // ------------------------------------------------------------------ housekeeping

  private async startHousekeeping(): Promise<void> {
    let sweeping = false;
    const sweep = async (): Promise<void> => {
      if (sweeping) return; // a slow disk: never two sweeps at once
      sweeping = true;
      try {
        const keep = new Set(this.slots.keys());
        const iso = await this.isolation.catch(() => null);
        const n = iso ? await iso.sweepWorkDirs(this.workRoot, this.o.workdirRetentionMs, keep) : 0;
        if (n > 0) this.log.info({ removed: n }, 'removed old task work directories');
      } catch (err) {
        this.log.warn({ err: describe(err) }, 'work directory housekeeping failed');
      } finally {
        sweeping = false;
      }
    };
    await sweep();
    if (this.stopped) return;
    // A plain interval, not a cron library: node-cron formats dates with Intl, which maps
    // ICU's data in (+8 MB resident, measured) for a sweep every ten minutes.
    const t = setInterval(() => void sweep(), HOUSEKEEPING_MS);
    t.unref();
    this.housekeeping = { stop: () => clearInterval(t) };
  }

  private async stopHousekeeping(): Promise<void> {
    const h = this.housekeeping;
    this.housekeeping = null;
    await h?.stop();
  }
}

/**
 * Kill a journalled process group if it is still ours. A live leader must have the same
 * start time as recorded (else its pid was reused by a stranger). A dead leader with live
 * group members is still ours: a pid is not reused while its process group exists.
 */
async function killIfOurs(pgid: number, pid: number, procStart: string | null): Promise<boolean> {
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  if (processAlive(pid)) {
    const now = processStartToken(pid);
    if (procStart === null || now === null || now !== procStart) return false;
    signalGroup(pgid, 'SIGTERM');
    await sleep(200);
    return killGroupAndWait(pgid);
  }
  if (groupMembers(pgid).length === 0) return false;
  return killGroupAndWait(pgid);
}
