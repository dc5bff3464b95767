// The seam between the daemon's lifecycle (daemon/*.ts) and its task machinery
// (daemon/tasks/*). The lifecycle owns state, heartbeat, health and signals; the task
// manager owns claiming, running, watching and reporting tasks. Neither reaches into
// the other's modules: they meet only through these types.
import type { Logger } from 'pino';
import type { PlatformClient } from '../../api/client.js';
import type { FailureReason, RegisteredRuntime } from '../../api/types.js';

export interface TaskManagerOptions {
  client: PlatformClient;
  logger: Logger;
  daemonId: string;
  platformUrl: string;
  /** State directory: the journal and work dirs live under it. */
  stateDir: string;
  /** Runtimes as the platform registered them (ids) joined with the local adapter name. */
  runtimes: RegisteredRuntime[];
  /** True while the daemon may claim (lifecycle state `ready`). Read before every claim. */
  canClaim: () => boolean;
  maxTasks: number;
  /** Per-runtime caps under the global one, by runtime name (AGENTD_MAX_TASKS_<RUNTIME>). */
  maxTasksPerRuntime: Record<string, number>;
  /** 0 disables. */
  taskIdleTimeoutMs: number;
  /** Idle window while a tool call is in flight (AGENTD_TOOL_IDLE_TIMEOUT, 2h). */
  toolIdleTimeoutMs: number;
  /** Wall-clock limit when the task has no timeout_s (AGENTD_TASK_TIMEOUT, 2h). */
  taskTimeoutMs: number;
  /** SIGTERM → SIGKILL grace (AGENTD_KILL_GRACE, 10s). */
  killGraceMs: number;
  /** Fallback poll interval when the platform does not hold long-polls (AGENTD_POLL_INTERVAL, 30s). */
  pollIntervalMs: number;
  /** How often a running task's status is checked for cancellation (5s). */
  statusPollMs: number;
  /** Work dirs of finished tasks are removed after this (AGENTD_WORKDIR_RETENTION, 24h). */
  workdirRetentionMs: number;
  /** Run every task as this user (AGENTD_TASK_USER; a system install sets it). Null: the daemon's user. */
  taskUser?: string | null;
  /** The health port, handed to agents as MULTICA_DAEMON_PORT (null: the port is disabled). */
  daemonPort?: number | null;
}

/** What /status shows of one running task. */
export interface RunningTaskInfo {
  id: string;
  runtime_id: string;
  runtime: string;
  pid: number | null;
  started_at: string;
  seconds_since_output: number;
  /** When the idle watchdog fires if nothing is written before then (null: disabled). */
  watchdog_deadline: string | null;
  tool_in_flight: boolean;
}

/** Counters /metrics reads at scrape time (pull, so the task code needs no metrics library). */
export interface TaskStats {
  running: number;
  claimed_total: number;
  /** Finished tasks by outcome: completed | failed reasons (idle_watchdog, timeout, …). */
  finished_total: Record<string, number>;
  watchdog_kills_total: number;
  claim_requests_total: number;
  claim_errors_total: number;
  messages_sent_total: number;
  message_bytes_sent_total: number;
  spawn_latency_seconds_last: number | null;
}

/** All counters at zero: a new manager's, and what /metrics shows before tasks start. */
export function emptyTaskStats(): TaskStats {
  return {
    running: 0,
    claimed_total: 0,
    finished_total: {},
    watchdog_kills_total: 0,
    claim_requests_total: 0,
    claim_errors_total: 0,
    messages_sent_total: 0,
    message_bytes_sent_total: 0,
    spawn_latency_seconds_last: null,
  };
}

export interface TaskManager {
  /** Report tasks a previous process left behind (journal → `orphaned`, recover-orphans). */
  recoverOrphans(): Promise<void>;
  /** Start the claim loop (it claims only while canClaim()). */
  start(): void;
  /** Stop claiming; running tasks go on (graceful stop, Buildkite's StopGracefully). */
  stopClaiming(): void;
  /** Wait up to timeoutMs for running tasks, then cancel the rest with `reason`. Resolves when all are reported. */
  drain(timeoutMs: number, reason: FailureReason): Promise<void>;
  /** Stop every running task now with `reason` (revoked credential, second signal). */
  cancelAll(reason: FailureReason): Promise<void>;
  /** The platform said work is waiting (WebSocket `daemon:task_available`): claim now. */
  taskAvailable(): void;
  /** The platform said a task ended on its side (WebSocket `agentd:task_status`): stop it if it runs here. */
  taskStatus(taskId: string, status: string): void;
  /**
   * Whether the platform pushes task ends over the open control channel. While it does,
   * the cancellation poll is a safety net at a longer interval; when push ends (the
   * channel closed), the poll is back at statusPollMs at once, and when push starts, one
   * check runs at once (a cancel while the channel was down was not pushed).
   */
  statusPush(live: boolean): void;
  /** The runtime list was replaced (re-registration): drop a claim on old ids, claim with the new ones. */
  runtimesChanged(): void;
  running(): RunningTaskInfo[];
  stats(): TaskStats;
}

export type CreateTaskManager = (opts: TaskManagerOptions) => TaskManager;
