// One claimed task from start to report: work dir, child process (runner), adapter
// parsing, idle watchdog, wall-clock limit, output stream, journal,
// and the one terminal call (complete | fail | cancel-ack).
//
// Stopping is idempotent and carries a typed reason (Buildkite's JobRunner.Cancel): the
// first reason wins and becomes the `failure_reason`.
import type { Logger } from 'pino';
import type { PlatformClient } from '../../api/client.js';
import { BadRequest, NotFound, PlatformError } from '../../api/errors.js';
import type { MulticaFailureReason } from '../../api/task-context.js';
import { type FailureReason, type RegisteredRuntime, type Task } from '../../api/types.js';
import type { TaskJournal } from '../../store/journal.js';
import type { OutMessage, RuntimeAdapter, StreamParser } from './adapters/types.js';
import { buildTaskEnv } from './env.js';
import { TextChunker } from './chunks.js';
import { LineSplitter } from './lines.js';
import { OutputStream } from './output.js';
import { signalGroup } from './process-group.js';
import { prepareInput } from './task-input.js';
import { ChildRun, type RunResult } from './runner.js';
import { TaskIsolation } from './isolation.js';
import { longTimeout, sleep } from './timing.js';
import type { RunningTaskInfo } from './types.js';
import { IdleWatchdog } from './watchdog.js';
import { holdThroughputGc } from '../../core/gc-mode.js';

/** The platform calls a task makes. */
export type TaskClient = Pick<
  PlatformClient,
  'startTask' | 'taskStatus' | 'postMessagesJson' | 'postOutput' | 'completeTask' | 'failTask' | 'cancelAck' | 'reportProgress' | 'prepareLease' | 'pinSession' | 'reportUsage'
>;

/** Multica's daemon extends a dispatched task's claim-to-start lease this often while preparing. */
const PREPARE_LEASE_MS = 15_000;

export interface TaskRunDeps {
  client: TaskClient;
  logger: Logger;
  platformUrl: string;
  workRoot: string;
  journal: TaskJournal;
  runtime: RegisteredRuntime;
  adapter: RuntimeAdapter;
  binaryPath: string | null;
  env: NodeJS.ProcessEnv;
  extraEnvAllow?: readonly string[];
  idleMs: number;
  toolIdleMs: number;
  taskTimeoutMs: number;
  killGraceMs: number;
  /** performance.now() when the claim answer arrived (spawn latency). */
  claimedAt: number;
  onSpawn?: (latencyMs: number) => void;
  onWatchdogKill?: () => void;
  onMessagesSent?: (count: number, bytes: number) => void;
  /** Output buffered in memory before the child's pipes are paused. */
  highWaterBytes?: number;
  /** Task user and cgroup (isolation.ts); rejected: tasks must not run (never as the daemon's user instead). */
  isolation?: Promise<TaskIsolation>;
  /** The daemon's health port (MULTICA_DAEMON_PORT), when it listens. */
  daemonPort?: number | null;
  /** prepare-lease period while the task is being prepared (default 15 s; tests shorten it). */
  prepareLeaseMs?: number;
}

/** How a task ended: 'completed', or the failure reason ('cancelled' also for platform cancels). */
export type TaskOutcome = 'completed' | FailureReason | MulticaFailureReason;

type StopKind = FailureReason | 'platform_cancel';
type FailKind = FailureReason | MulticaFailureReason;

export class TaskRun {
  readonly task: Task;
  readonly startedAt = new Date();
  private readonly d: TaskRunDeps;
  private readonly log: Logger;
  private child: ChildRun | null = null;
  private isolation: TaskIsolation | null = null;
  private watchdog: IdleWatchdog | null = null;
  private stopKind: StopKind | null = null;
  private stopError = '';
  private lastOutputAt = Date.now();
  /** Aborts the output flush and terminal retries (hard shutdown, revoked credential). */
  private readonly giveUp = new AbortController();
  private readonly ended: Promise<void>;
  private endResolve!: () => void;
  /** The `start` call; the terminal call waits for it (claimed → running → done). */
  private started: Promise<void> = Promise.resolve();
  /** Set once the terminal call is under way (a failure after it is not re-reported). */
  private reporting = false;
  /** How the child ended (null: it never ran). */
  private exit: RunResult | null = null;
  /** The session id already pinned with POST /session (once per task). */
  private pinnedSession: string | null = null;

  constructor(task: Task, d: TaskRunDeps) {
    this.task = task;
    this.d = d;
    this.log = d.logger.child({ task_id: task.id, runtime: d.runtime.name });
    this.ended = new Promise((r) => (this.endResolve = r));
  }

  /** Stop the task with `reason` (first reason wins): SIGTERM the group, SIGKILL after the grace. */
  stop(reason: StopKind, error: string): void {
    if (this.stopKind === null) {
      this.stopKind = reason;
      this.stopError = error;
      this.log.info({ reason }, `stopping task: ${error}`);
    }
    this.child?.terminate();
  }

  /** The platform says the task is over (cancelled or unknown): stop it, then cancel-ack. */
  platformStop(why: string): void {
    this.stop('platform_cancel', why);
  }

  get id(): string {
    return this.task.id;
  }

  /** Stop waiting for the platform (output flush, terminal call) for this task. */
  abandonReporting(): void {
    this.giveUp.abort(new Error('reporting abandoned'));
  }

  /** Resolves when the task has been reported (or reporting was abandoned). */
  whenDone(): Promise<void> {
    return this.ended;
  }

  info(): RunningTaskInfo {
    const rem = this.watchdog?.remainingMs() ?? null;
    return {
      id: this.task.id,
      runtime_id: this.task.runtime_id,
      runtime: this.d.runtime.name,
      pid: this.child?.pid ?? null,
      started_at: this.startedAt.toISOString(),
      seconds_since_output: Math.max(0, Math.round((Date.now() - this.lastOutputAt) / 1000)),
      watchdog_deadline: rem === null ? null : new Date(Date.now() + rem).toISOString(),
      tool_in_flight: this.watchdog?.isToolInFlight ?? false,
    };
  }

  async run(): Promise<TaskOutcome> {
    try {
      return await this.runInner();
    } catch (err) {
      // A bug or an impossible input must still end the task on the platform and leave
      // no process behind.
      if (this.child?.pid) signalGroup(this.child.pid, 'SIGKILL');
      this.log.error({ err: describe(err) }, 'task runner failed');
      if (this.reporting) throw err;
      return await this.report({ kind: 'fail', reason: 'agent_error', error: `agentd could not run the task: ${describe(err)}` }, null);
    } finally {
      this.endResolve();
    }
  }

  private async runInner(): Promise<TaskOutcome> {
    const { task, d } = this;
    const prepared = prepareInput(task, d.adapter);
    if (!prepared.ok && prepared.reason === 'invalid_task_identity') {
      // Refused before /start, as Multica's daemon refuses it: nothing ran.
      return this.report({ kind: 'fail', reason: prepared.reason, error: prepared.error }, null);
    }
    let isolation: TaskIsolation;
    try {
      isolation = d.isolation ? await d.isolation : TaskIsolation.none();
    } catch (err) {
      this.started = this.callStart();
      return this.report({ kind: 'fail', reason: 'agent_error', error: `agentd cannot isolate tasks on this machine: ${(err as Error).message}` }, null);
    }
    this.isolation = isolation;
    // The claim-to-start lease is extended while the work dir and brief files are made.
    const stopLease = this.extendPrepareLease();
    let workDir: string;
    try {
      workDir = await isolation.prepareWorkDir(d.workRoot, task.id);
    } catch (err) {
      stopLease();
      const msg = `could not create the task's work directory under ${d.workRoot}: ${(err as Error).message}; check that the state directory is writable`;
      this.started = this.callStart();
      return this.report({ kind: 'fail', reason: 'agent_error', error: msg }, null);
    }

    if (!prepared.ok) {
      stopLease();
      this.started = this.callStart();
      return this.report({ kind: 'fail', reason: prepared.reason, error: prepared.error }, workDir);
    }
    if (prepared.files.length > 0) {
      try {
        await isolation.writeWorkFiles(workDir, prepared.files);
      } catch (err) {
        stopLease();
        this.started = this.callStart();
        return this.report({ kind: 'fail', reason: 'agent_error', error: `could not write the task's brief files into ${workDir}: ${(err as Error).message}` }, workDir);
      }
    }
    const agent = prepared.input.agent;
    const cmd = d.adapter.command(task, { binaryPath: d.binaryPath, input: prepared.input });
    const parser = d.adapter.parser();
    const started = (this.started = this.callStart());
    const launched = started.then(() => {
      stopLease();
      return this.bestEffort('progress', () => d.client.reportProgress(task.id, { summary: `Launching ${d.runtime.name}`, step: 1, total: 2 }, { signal: this.giveUp.signal }));
    });
    const output = new OutputStream({
      post: (body, signal) => d.client.postMessagesJson(task.id, body, { signal }),
      // Our platform says so in the claim; a replica without the route answers 404 (the
      // JSON route then says whether the task itself is gone).
      ...(task.raw_output === true ? { postRaw: (body: Buffer, signal: AbortSignal) => d.client.postOutput(task.id, body, { signal }), isRawUnsupported: (err: unknown) => err instanceof NotFound } : {}),
      isFinal: (err) => err instanceof NotFound || err instanceof BadRequest,
      onRetry: (err, n) => {
        if (n === 1 || n % 10 === 0) this.log.warn({ err: describe(err), failures: n }, 'posting task output failed; retrying with the same seqs');
      },
      ready: started,
      onPause: () => this.child?.pause(),
      onResume: () => {
        this.watchdog?.activity();
        this.child?.resume();
      },
      ...(d.highWaterBytes ? { highWaterBytes: d.highWaterBytes, lowWaterBytes: Math.floor((d.highWaterBytes * 3) / 4) } : {}),
      onBulk: holdThroughputGc,
    });
    const emit = (msgs: OutMessage[]): void => {
      for (const m of msgs) {
        const w = toWire(m);
        if (w) output.push(w);
      }
      this.watchdog?.setToolInFlight(parser.toolInFlight);
      if (parser.sessionId && this.pinnedSession === null) this.pinSession(parser.sessionId, workDir);
      for (const reply of parser.takeReplies?.() ?? []) this.child?.writeStdin(reply);
      if (parser.inputDone) this.child?.closeStdin();
    };
    const [outLines, errLines] = d.adapter.output === 'text' ? textSplitters(parser, emit) : lineSplitters(d.adapter, parser, emit);
    const onChunk = (split: Splitter) => (chunk: Buffer) => {
      this.lastOutputAt = Date.now();
      this.watchdog?.activity();
      split.push(chunk);
    };

    const launch = isolation.launch(
      {
        file: cmd.file,
        args: cmd.args,
        cwd: workDir,
        env: buildTaskEnv(d.env, {
          taskId: task.id,
          taskToken: task.auth_token,
          platformUrl: d.platformUrl,
          ...(d.extraEnvAllow ? { extraAllow: d.extraEnvAllow } : {}),
          multica: { workspaceId: task.workspace_id ?? '', agentId: prepared.context.agent_id, agentName: agent?.name, daemonPort: d.daemonPort },
          customEnv: agent?.custom_env,
        }),
        stdin: cmd.stdin,
        ...(cmd.keepStdinOpen ? { keepStdinOpen: true } : {}),
      },
      task.id,
    );
    const child = new ChildRun(
      { ...launch.spec, cgroup: launch.cgroup },
      { killGraceMs: d.killGraceMs, onStdout: onChunk(outLines), onStderr: onChunk(errLines) },
    );
    this.child = child;
    const spawnMs = performance.now() - d.claimedAt;
    d.onSpawn?.(spawnMs);
    this.log.info({ pid: child.pid, spawn_ms: Math.round(spawnMs * 1000) / 1000 }, 'task process started');
    this.lastOutputAt = Date.now();
    // A stop requested before the child existed (e.g. start said the task is gone).
    if (this.stopKind !== null) child.terminate();

    if (child.pid !== null) {
      d.journal
        .record({
          task_id: task.id,
          runtime_id: task.runtime_id,
          runtime: d.runtime.name,
          pid: child.pid,
          pgid: child.pid,
          proc_start: child.startToken,
          started_at: this.startedAt.toISOString(),
          daemon_pid: process.pid,
          work_dir: workDir,
        })
        .catch((err: unknown) => this.log.warn({ err: describe(err) }, 'could not write the task journal; a crash now would leave this task unreported'));
    }

    const watchdog = new IdleWatchdog({
      idleMs: d.idleMs,
      toolIdleMs: d.toolIdleMs,
      // Output paused by backpressure (platform slow or down) is not the task's silence.
      isHeld: () => child.isPaused,
      onFire: (silentMs, windowMs) => {
        d.onWatchdogKill?.();
        this.stop(
          'idle_watchdog',
          `no output for ${fmtDuration(silentMs)} (idle limit ${fmtDuration(windowMs)}${this.watchdog?.isToolInFlight ? ' while a tool call was in flight' : ''}); the task's processes were terminated`,
        );
      },
    });
    this.watchdog = watchdog;
    watchdog.start();

    const limitMs = wallClockLimitMs(task.timeout_s, d.taskTimeoutMs);
    const cancelWall =
      limitMs > 0 && Number.isFinite(limitMs)
        ? longTimeout(() => this.stop('timeout', `the task ran longer than its time limit of ${fmtDuration(limitMs)}`), limitMs)
        : null;
    // Cancellation: the manager's StatusWatch asks the platform for every running task
    // at once and calls platformStop() (no poll per task here).
    const result = await child.done;
    this.exit = result;
    outLines.end();
    errLines.end();
    cancelWall?.();
    watchdog.stop();
    const adapterResult = parser.finish();
    this.log.debug({ code: result.code, signal: result.signal, strays: result.strays }, 'task process ended');

    // Everything the child wrote goes out before the terminal call.
    await output.close(this.giveUp.signal);
    d.onMessagesSent?.(output.sentMessages, output.sentBytes);
    if (output.droppedMessages > 0) {
      this.log.warn({ dropped: output.droppedMessages, reason: describe(output.dead) }, 'some task output could not be delivered');
    }
    // Usage goes out whenever the agent reported some, cancelled or not (as Multica's daemon does).
    if (adapterResult.usage && adapterResult.usage.length > 0) {
      const usage = adapterResult.usage;
      await this.bestEffort('usage', () => d.client.reportUsage(task.id, { usage }, { signal: this.giveUp.signal }));
    }

    if (this.stopKind === 'platform_cancel') return this.report({ kind: 'cancel-ack' }, workDir);
    if (this.stopKind !== null) {
      return this.report({ kind: 'fail', reason: this.stopKind, error: this.stopError }, workDir);
    }
    if (result.spawnError) {
      const missing = (result.spawnError as NodeJS.ErrnoException).code === 'ENOENT' && d.adapter.binary !== null;
      return this.report(
        { kind: 'fail', reason: missing ? 'agent_error.runtime_missing_executable' : 'agent_error', error: `could not start ${cmd.file}: ${result.spawnError.message}` },
        workDir,
      );
    }
    await launched; // a child quicker than /start: the progress steps stay in order
    await this.bestEffort('progress', () => d.client.reportProgress(task.id, { summary: 'Finishing task', step: 2, total: 2 }, { signal: this.giveUp.signal }));
    if (result.code === 0 && !adapterResult.error) {
      return this.report(
        {
          kind: 'complete',
          output: adapterResult.output,
          ...(adapterResult.session_id ? { session_id: adapterResult.session_id } : {}),
        },
        workDir,
      );
    }
    return this.report({ kind: 'fail', reason: adapterResult.failureReason ?? 'agent_error', error: exitError(d.runtime.name, result, adapterResult), ...(adapterResult.session_id ? { session_id: adapterResult.session_id } : {}) }, workDir);
  }

  /**
   * POST prepare-lease every prepareLeaseMs until stopped (the task started, or failed
   * before it could): Multica's server gives a dispatched task 300 s to start, plus 45 s
   * per lease. A platform without the route (404) is not asked again.
   */
  private extendPrepareLease(): () => void {
    const every = this.d.prepareLeaseMs ?? PREPARE_LEASE_MS;
    let stopped = false;
    const t = setInterval(() => {
      if (stopped) return;
      this.d.client.prepareLease(this.task.runtime_id, this.task.id, { signal: this.giveUp.signal, timeoutMs: Math.min(10_000, every) }).catch((err: unknown) => {
        if (err instanceof NotFound && !/task not found/i.test(err.platformError ?? '')) stop();
        else this.log.debug({ err: describe(err) }, 'prepare-lease failed');
      });
    }, every);
    t.unref();
    const stop = (): void => {
      stopped = true;
      clearInterval(t);
    };
    return stop;
  }

  /** POST /session once the agent names its session (the resume pointer, pinned mid-run). */
  private pinSession(sessionId: string, workDir: string): void {
    this.pinnedSession = sessionId;
    void this.started.then(() => this.bestEffort('session', () => this.d.client.pinSession(this.task.id, { session_id: sessionId, work_dir: workDir }, { signal: this.giveUp.signal })));
  }

  /** A call whose failure changes nothing for the task (progress, session, usage): logged at debug. */
  private async bestEffort(what: string, call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (err) {
      this.log.debug({ err: describe(err) }, `${what} not reported`);
    }
  }

  private async platformSaysRunning(): Promise<boolean> {
    try {
      return (await this.d.client.taskStatus(this.task.id, { signal: this.giveUp.signal })).status === 'running';
    } catch {
      return false;
    }
  }

  /** `start` the task; a task the platform no longer has is stopped at once. */
  private async callStart(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.d.client.startTask(this.task.id, { signal: this.giveUp.signal });
        return;
      } catch (err) {
        // A second /start is a 400 on a Multica-shaped platform. The client retries a start
        // whose answer was lost, so a 400 may mean "already started by us": ask before
        // stopping a task that is in fact running.
        if (err instanceof BadRequest && (await this.platformSaysRunning())) return;
        if (err instanceof NotFound || err instanceof BadRequest) {
          this.stop('platform_cancel', `the platform refused to start the task (${describe(err)})`);
          return;
        }
        if (attempt >= 3 || this.giveUp.signal.aborted) {
          this.log.warn({ err: describe(err) }, 'could not mark the task started; running it anyway');
          return;
        }
        await sleep(500 * attempt).catch(() => {});
      }
    }
  }

  private async report(
    r:
      | { kind: 'complete'; output: string; session_id?: string }
      | { kind: 'fail'; reason: FailKind; error: string; session_id?: string }
      | { kind: 'cancel-ack' },
    workDir: string | null,
  ): Promise<TaskOutcome> {
    const { client } = this.d;
    const id = this.task.id;
    const o = { signal: this.giveUp.signal };
    let outcome: TaskOutcome;
    let reported = false;
    this.reporting = true;
    await this.started;
    try {
      if (r.kind === 'complete') {
        outcome = 'completed';
        await client.completeTask(id, { output: r.output, ...(r.session_id ? { session_id: r.session_id } : {}), ...(workDir ? { work_dir: workDir } : {}) }, o);
      } else if (r.kind === 'fail') {
        outcome = r.reason;
        const body = { error: r.error, failure_reason: r.reason, ...(r.session_id ? { session_id: r.session_id } : {}), ...(workDir ? { work_dir: workDir } : {}) };
        try {
          await client.failTask(id, body, o);
        } catch (err) {
          // A platform that knows only the coarse reasons (ours before Multica's
          // vocabulary) refuses a refined one with 400: say `agent_error` instead.
          if (!(err instanceof BadRequest) || !(r.reason.startsWith('agent_error.') || r.reason === 'invalid_task_identity')) throw err;
          await client.failTask(id, { ...body, failure_reason: 'agent_error' }, o);
        }
      } else {
        outcome = 'cancelled';
        await client.cancelAck(id, o);
      }
      reported = true;
      // Only the size of the error: it quotes the task's own stderr, which may hold its
      // secrets. Task output belongs to the platform, not to the daemon's log.
      this.log.info(
        { outcome, exit_code: this.exit?.code ?? null, exit_signal: this.exit?.signal ?? null, ...(r.kind === 'fail' ? { error_bytes: Buffer.byteLength(r.error) } : {}) },
        'task finished',
      );
    } catch (err) {
      outcome = r.kind === 'complete' ? 'completed' : r.kind === 'fail' ? r.reason : 'cancelled';
      // Final 4xx: the platform already considers the task over (e.g. cancelled); nothing to keep.
      reported = err instanceof NotFound || err instanceof BadRequest;
      this.log.warn(
        { err: describe(err), outcome },
        reported
          ? 'the platform refused the task report; it already considers the task over'
          : 'could not report the task; the journal keeps it so the next start reports it orphaned',
      );
    }
    if (reported) {
      await this.d.journal.remove(id).catch((err: unknown) => this.log.warn({ err: describe(err) }, 'could not remove the journal entry'));
    }
    if (workDir) await (this.isolation ?? TaskIsolation.none()).finishWorkDir(workDir).catch(() => {});
    return outcome;
  }
}

/**
 * Our parsers' message types on Multica's wire (text, thinking, tool_use, tool_result,
 * error): a stderr line is an `error` message; a `system` line (claude's init, an event
 * no parser knows) is not sent (the session id it carries goes to /session, the rest to
 * the daemon's debug log).
 */
function toWire(m: OutMessage): OutMessage | null {
  if (m.type === 'system') return null;
  if (m.type === 'stderr') return { ...m, type: 'error' };
  return m;
}

/** What the runner feeds a stream's bytes into. */
interface Splitter {
  push(chunk: Buffer): void;
  end(): void;
}

/** Structured adapters: one parser call per line. */
function lineSplitters(a: RuntimeAdapter, parser: StreamParser, emit: (m: OutMessage[]) => void): [Splitter, Splitter] {
  return [
    new LineSplitter(a.maxLineBytes, (line) => emit(safeParse(parser, 'stdout', line))),
    new LineSplitter(16 * 1024, (line) => emit(safeParse(parser, 'stderr', line))),
  ];
}

/** Largest raw-text chunk: one message (a batch holds several). */
export const TEXT_CHUNK_BYTES = 64 * 1024;
/** How long a partial chunk waits for more output before it goes out. */
export const TEXT_FLUSH_MS = 50;

/**
 * Raw-text adapters: each stream coalesced into chunks. Before one stream's bytes are
 * taken in, the other's pending bytes go out, so chunks keep the order the output
 * arrived in across stdout and stderr.
 */
function textSplitters(parser: StreamParser, emit: (m: OutMessage[]) => void): [Splitter, Splitter] {
  const onText = (stream: 'stdout' | 'stderr') => (bytes: Buffer) => {
    const fn = stream === 'stdout' ? parser.stdoutText : parser.stderrText;
    const plain: OutMessage[] = [{ type: stream === 'stdout' ? 'text' : 'stderr', bytes }];
    let msgs: OutMessage[];
    try {
      msgs = fn ? fn.call(parser, bytes) : plain;
    } catch {
      msgs = plain;
    }
    emit(msgs);
  };
  const out = new TextChunker({ maxBytes: TEXT_CHUNK_BYTES, flushMs: TEXT_FLUSH_MS, emit: onText('stdout') });
  const err = new TextChunker({ maxBytes: TEXT_CHUNK_BYTES, flushMs: TEXT_FLUSH_MS, emit: onText('stderr') });
  const side = (self: TextChunker, other: TextChunker): Splitter => ({
    push(chunk) {
      if (other.pendingBytes > 0) other.flush();
      self.push(chunk);
    },
    end() {
      self.end();
    },
  });
  return [side(out, err), side(err, out)];
}

function safeParse(p: StreamParser, stream: 'stdout' | 'stderr', line: string): OutMessage[] {
  try {
    return stream === 'stdout' ? p.stdoutLine(line) : p.stderrLine(line);
  } catch {
    return [{ type: stream === 'stdout' ? 'text' : 'stderr', content: line }];
  }
}

function exitError(name: string, r: RunResult, a: { error?: string; diagnostics?: string }): string {
  const how = r.code !== null ? `exited with code ${r.code}` : r.signal ? `was killed by ${r.signal}` : 'ended';
  const detail = a.error ?? a.diagnostics;
  return detail ? `${name} ${how}: ${detail.slice(-2000)}` : `${name} ${how}`;
}

/**
 * The task's wall-clock limit: its `timeout_s`, never longer than the configured maximum
 * (AGENTD_TASK_TIMEOUT). A platform's `timeout_s: 1e308` must not remove the limit.
 * 0 only when neither sets one (tests).
 */
export function wallClockLimitMs(timeoutS: unknown, maxMs: number): number {
  const asked = typeof timeoutS === 'number' && Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS * 1000 : null;
  if (maxMs > 0) return asked === null ? maxMs : Math.max(1, Math.min(asked, maxMs));
  return asked === null ? 0 : Math.min(asked, MAX_LIMIT_MS);
}
/** One year, as AGENTD_TASK_TIMEOUT's own ceiling. */
const MAX_LIMIT_MS = 8760 * 3_600_000;

export function fmtDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  const rs = s % 60;
  if (m < 60) return rs ? `${m}m${rs}s` : `${m}m`;
  const h = Math.floor(m / 60);
  const rm = m % 60;
  return rm ? `${h}h${rm}m` : `${h}h`;
}

export function describe(err: unknown): string {
  if (err instanceof PlatformError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
