// What the health port shows: the /status document, its Multica-shaped twin /health,
// and the /metrics exposition. Pure functions of a snapshot, so they are easy to test
// and cannot reach a token: the snapshot type has no field that could hold one.
import { readdirSync } from 'node:fs';
import type { RegisteredRuntime } from '../api/types.js';
import type { ControlStats } from './control.js';
import type { HeartbeatStats } from './heartbeat.js';
import { TRANSITIONS, type DaemonState } from './lifecycle.js';
import { MetricsWriter } from './metrics.js';
import { emptyTaskStats, type RunningTaskInfo, type TaskStats } from './tasks/types.js';

export interface Snapshot {
  version: string;
  pid: number;
  startedAt: Date;
  now: Date;
  state: DaemonState;
  reason: string;
  stateSince: Date;
  daemonId: string;
  workspaceId: string;
  platformUrl: string;
  deviceName: string;
  mode: string;
  healthUrl: string | null;
  /** Did the platform answer the last register/heartbeat? null: not asked yet. */
  platformReachable: boolean | null;
  heartbeatIntervalMs: number;
  heartbeat: HeartbeatStats;
  runtimes: RegisteredRuntime[];
  maxTasks: number;
  running: RunningTaskInfo[];
  tasks: TaskStats | null;
  /** The WebSocket control channel (null: not started, or AGENTD_WEBSOCKET=off). */
  control?: ControlStats | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const ageS = (now: Date, ms: number | null): number | null => (ms === null ? null : Math.max(0, Math.round((now.getTime() - ms) / 1000)));

export function statusDoc(s: Snapshot): Record<string, unknown> {
  const { running: _running, ...counters } = s.tasks ?? emptyTaskStats();
  return {
    version: s.version,
    pid: s.pid,
    started_at: s.startedAt.toISOString(),
    uptime_s: Math.round((s.now.getTime() - s.startedAt.getTime()) / 1000),
    state: s.state,
    reason: s.reason,
    state_since: s.stateSince.toISOString(),
    daemon_id: s.daemonId,
    workspace_id: s.workspaceId,
    platform_url: s.platformUrl,
    platform_reachable: s.platformReachable,
    device_name: s.deviceName,
    mode: s.mode,
    health_url: s.healthUrl,
    heartbeat: {
      interval_s: s.heartbeatIntervalMs / 1000,
      last_attempt_at: iso(s.heartbeat.lastAttemptAt),
      last_success_at: iso(s.heartbeat.lastSuccessAt),
      last_success_age_s: ageS(s.now, s.heartbeat.lastSuccessAt),
      latency_ms: s.heartbeat.lastLatencyMs,
      consecutive_failures: s.heartbeat.consecutiveFailures,
      failures_total: s.heartbeat.failuresTotal,
      covered_by_websocket_total: s.heartbeat.coveredRoundsTotal,
    },
    websocket: s.control
      ? {
          connected: s.control.connected,
          connects_total: s.control.connects_total,
          task_available_total: s.control.task_available_total,
          task_status_total: s.control.task_status_total,
          status_push: s.control.status_push,
          acks_total: s.control.acks_total,
          last_ack_at: iso(s.control.last_ack_at),
          last_ack_age_s: ageS(s.now, s.control.last_ack_at),
        }
      : null,
    runtimes: s.runtimes.map((r) => ({ id: r.id, name: r.name, type: r.type, version: r.version ?? null, status: r.status ?? null })),
    tasks: { max: s.maxTasks, running: s.running },
    counters,
  };
}

/** The /status document plus the fields tools written for the Multica daemon read. */
export function healthDoc(s: Snapshot): Record<string, unknown> {
  const starting = s.state === 'starting' || s.state === 'registering';
  return {
    status: starting ? 'starting' : 'running',
    pid: s.pid,
    uptime: formatUptime(s.now.getTime() - s.startedAt.getTime()),
    daemon_id: s.daemonId,
    device_name: s.deviceName,
    server_url: s.platformUrl,
    cli_version: s.version,
    active_task_count: s.running.length,
    agents: s.runtimes.map((r) => r.name),
    workspaces: [{ id: s.workspaceId }],
    ...statusDoc(s),
  };
}

function formatUptime(ms: number): string {
  const t = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${t % 60}s`;
}

function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length - 1; // minus the fd readdir itself opened
  } catch {
    return null;
  }
}

export function metricsText(s: Snapshot): string {
  const t = s.tasks ?? emptyTaskStats();
  const hb = s.heartbeat;
  const cpu = process.cpuUsage();
  const w = new MetricsWriter()
    .gauge('agentd_build_info', 'Version of the running agentd.', 1, { version: s.version })
    .family(
      'agentd_state',
      'gauge',
      'Daemon lifecycle state (1 for the current state).',
      (Object.keys(TRANSITIONS) as DaemonState[]).map((st) => ({ labels: { state: st }, value: st === s.state ? 1 : 0 })),
    )
    .gauge('agentd_state_since_seconds', 'Unix time of the last state transition.', s.stateSince.getTime() / 1000)
    .histogram('agentd_heartbeat_latency_seconds', 'Latency of successful heartbeat requests.', hb.latency)
    .counter('agentd_heartbeat_rounds_total', 'Heartbeat rounds attempted (one request per runtime each).', hb.roundsTotal)
    .counter('agentd_heartbeat_failures_total', 'Heartbeat rounds that failed.', hb.failuresTotal)
    .gauge('agentd_heartbeat_consecutive_failures', 'Heartbeat rounds failed in a row.', hb.consecutiveFailures)
    .gauge('agentd_heartbeat_last_success_timestamp_seconds', 'Unix time of the last successful heartbeat (0: never).', (hb.lastSuccessAt ?? 0) / 1000)
    .counter('agentd_heartbeat_covered_rounds_total', 'Heartbeat rounds left out because every runtime acked over the WebSocket.', hb.coveredRoundsTotal)
    .gauge('agentd_websocket_connected', 'The WebSocket control channel is open (1) or not (0).', s.control?.connected ? 1 : 0)
    .counter('agentd_websocket_connects_total', 'WebSocket control channel connections opened.', s.control?.connects_total ?? 0)
    .counter('agentd_websocket_task_available_total', 'daemon:task_available wake-ups received.', s.control?.task_available_total ?? 0)
    .counter('agentd_websocket_task_status_total', 'agentd:task_status frames received (tasks the platform ended).', s.control?.task_status_total ?? 0)
    .gauge('agentd_websocket_status_push', 'The platform pushes task ends over the open channel (1): the status poll is a safety net.', s.control?.status_push ? 1 : 0)
    .gauge('agentd_runtimes', 'Registered runtimes.', s.runtimes.length)
    .gauge('agentd_tasks_running', 'Tasks running now.', s.running.length)
    .gauge('agentd_tasks_max', 'Task slots (AGENTD_MAX_TASKS).', s.maxTasks)
    .counter('agentd_tasks_claimed_total', 'Tasks claimed.', t.claimed_total)
    .family(
      'agentd_tasks_finished_total',
      'counter',
      'Tasks finished, by outcome (completed or the failure reason).',
      Object.entries({ completed: 0, ...t.finished_total }).map(([outcome, value]) => ({ labels: { outcome }, value })),
    )
    .counter('agentd_task_watchdog_kills_total', 'Tasks stopped by the idle watchdog.', t.watchdog_kills_total)
    .counter('agentd_claim_requests_total', 'Claim requests sent.', t.claim_requests_total)
    .counter('agentd_claim_errors_total', 'Claim requests that failed.', t.claim_errors_total)
    .counter('agentd_task_messages_sent_total', 'Task output messages accepted by the platform.', t.messages_sent_total)
    .counter('agentd_task_message_sent_bytes_total', 'Bytes of task output accepted by the platform.', t.message_bytes_sent_total)
    .gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', process.memoryUsage.rss())
    .gauge('process_heap_bytes', 'V8 heap in use, in bytes.', process.memoryUsage().heapUsed)
    .counter('process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', (cpu.user + cpu.system) / 1e6)
    .gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', Math.round(performance.timeOrigin / 10) / 100);
  const fds = openFds();
  if (fds !== null) w.gauge('process_open_fds', 'Number of open file descriptors.', fds);
  return w.toString();
}
