// The running daemon: wires the lifecycle, the platform client, the health port, the
// heartbeat loop, the task manager and the credential state together, and decides what
// each event means for the daemon's state (docs/architecture.md, "States"):
//
//   start():  health port listens + daemon.json ─> registering ─> (register loop)
//             ─> ready ─> heartbeat loop + recover orphans ─> claim loop
//   READY=1 to systemd: once the first registration attempt ended (either way) or
//             READY_BOUND_MS passed, whichever is first: `systemctl start` returns in
//             seconds whatever the platform does; STATUS= says whether it was reachable
//   heartbeat failure ─> degraded (tasks untouched) ─> first success ─> ready
//   401 ─> CredentialState (credential-state.ts) decides: re-read and retry once, or
//          revoked: claims stop, running tasks cancelled ─> a new valid credential ─>
//          registering ─> ready (no restart); credentials.json deleted ─> exit 77
//   404 on heartbeat (runtime unknown to the platform) ─> registering again
//   stop():  draining (no claims; heartbeats go on) ─> drain tasks ─> deregister ─> stopped
//
// One root AbortController: every loop's signal derives from it, so stop() ends them all.
import type { Logger } from 'pino';
import { PlatformClient } from '../api/client.js';
import { Backoff, sleep } from '../api/backoff.js';
import { NotFound, Unauthorized } from '../api/errors.js';
import type { RegisterRequest, RegisteredRuntime, RuntimeInfo } from '../api/types.js';
import { VERSION } from '../api/version.js';
import type { AgentdPaths } from '../store/paths.js';
import { removeRuntimeInfo, writeRuntimeInfo } from '../store/runtime-info.js';
import type { DaemonSettings } from './config.js';
import { CredentialState } from './credential-state.js';
import type { Enrolment } from './credentials.js';
import { currentDeviceInfo, gatherRichDeviceInfo } from './device.js';
import { EXIT } from '../core/exit-codes.js';
import { HealthPortInUse, startHealthServer, type HealthServer, type HealthSource } from './health.js';
import { ControlLink } from './control.js';
import { HeartbeatLoop } from './heartbeat.js';
import { Lifecycle } from './lifecycle.js';
import { healthDoc, metricsText, statusDoc, type Snapshot } from './report.js';
import type { Notifier } from './sdnotify.js';
import { detectRuntimes, loadTaskManager } from './tasks-seam.js';
import type { TaskManager } from './tasks/types.js';

export interface DaemonOptions {
  paths: AgentdPaths;
  settings: DaemonSettings;
  enrolment: Enrolment;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  notifier: Notifier;
  /** The daemon must end with `code` (e.g. 77: revoked and the credential was removed). */
  requestExit: (code: number, reason: string) => void;
}

/** How often the revoked daemon polls credentials.json when fs.watch says nothing. */
const CREDENTIAL_POLL_MS = 5_000;
const REGISTER_TIMEOUT_MS = 10_000;
const DEREGISTER_TIMEOUT_MS = 3_000;
const STATUS_POLL_MS = 5_000;
/** Device probing waits this long after ready, off the start-up path. */
const DEVICE_FACTS_DELAY_MS = 1_000;
/**
 * READY=1 waits for the first registration attempt at most this long. Up locally
 * (health port, lock, config) is what the service manager can check; a platform that
 * does not answer is shown in STATUS=, /readyz and `agentd status`, not by blocking
 * `systemctl start` (before this, start never returned while the platform was down).
 */
export const READY_BOUND_MS = 5_000;

export class Daemon {
  readonly lifecycle: Lifecycle;
  readonly client: PlatformClient;
  readonly heartbeat: HeartbeatLoop;
  readonly startedAt = new Date();
  readonly #o: DaemonOptions;
  readonly #log: Logger;
  readonly #root = new AbortController();
  readonly #cred: CredentialState;
  /** Registered runtimes; replaced IN PLACE on re-registration (the task manager holds this array). */
  readonly #runtimes: RegisteredRuntime[] = [];
  #localRuntimes: RuntimeInfo[] = [];
  #startCalled = false;
  #tasks: TaskManager | null = null;
  /** The WebSocket control channel (null until the first registration, or when AGENTD_WEBSOCKET=off). */
  #control: ControlLink | null = null;
  #health: HealthServer | null = null;
  #lastRegisterAttemptAt: number | null = null;
  #registering = false;
  #registerAgain = false;
  #announcedReady = false;
  /** Did the platform answer the last call (register/heartbeat)? null: not asked yet. */
  #platformReachable: boolean | null = null;
  #enrichScheduled = false;
  #stopping: Promise<void> | null = null;
  #closed = false;

  constructor(o: DaemonOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.lifecycle = new Lifecycle({ logger: o.logger });
    this.#cred = new CredentialState({
      paths: o.paths,
      enrolment: o.enrolment,
      logger: o.logger,
      pollMs: Math.min(CREDENTIAL_POLL_MS, o.settings.heartbeatIntervalMs),
      onRevoked: (where) => this.#onRevoked(where),
      onRecovered: (reason) => {
        this.lifecycle.transition('registering', reason);
        void this.#registerAndRun();
      },
      onRemoved: () => {
        this.#log.error({ event: 'credential_removed' }, `${o.paths.credentialsFile} was removed while the credential was revoked: stopping (exit ${EXIT.REVOKED})`);
        o.requestExit(EXIT.REVOKED, 'credential revoked and removed');
      },
    });
    this.client = new PlatformClient({
      baseUrl: this.#config.platform_url,
      getToken: () => this.#cred.token,
      getSource: () => ({ workspace_id: this.#config.workspace_id, daemon_id: this.#config.daemon_id }),
    });
    this.heartbeat = new HeartbeatLoop({
      client: this.client,
      runtimeIds: () => this.#runtimes.map((r) => r.id),
      intervalMs: o.settings.heartbeatIntervalMs,
      logger: o.logger,
      onSuccess: () => this.#onHeartbeatOk(),
      onFailure: (err) => this.#onHeartbeatFailed(err),
      onUnauthorized: (err) => this.#onUnauthorized(err, 'heartbeat'),
      onRuntimeUnknown: (err) => this.#onRuntimeUnknown(err),
      covered: (id) => this.#control?.covers(id) ?? false,
    });
    this.lifecycle.onChange((c) => {
      if (c.to === 'draining' || c.to === 'stopped') return;
      // Before READY=1 a STATUS= alone would say nothing systemd shows; READY carries it.
      if (this.#announcedReady) o.notifier.status(this.#statusLine());
    });
  }

  /** The enrolment as the credential state holds it now (re-read on recovery and SIGHUP). */
  get #config() {
    return this.#cred.config;
  }

  /** "ready, platform reachable: registered 1 runtime(s): command" (STATUS=). */
  #statusLine(): string {
    const p = this.#platformReachable === null ? 'not contacted yet' : this.#platformReachable ? 'reachable' : 'unreachable';
    return `${this.lifecycle.state}, platform ${p}: ${this.lifecycle.reason}`;
  }

  /** READY=1, once: up locally and the first registration attempt ended, or the bound passed. */
  #announceReady(): void {
    if (this.#announcedReady || this.#closed || this.lifecycle.isShuttingDown()) return;
    this.#announcedReady = true;
    this.#o.notifier.ready(this.#statusLine());
  }

  get platformReachable(): boolean | null {
    return this.#platformReachable;
  }

  get healthUrl(): string | null {
    return this.#health?.url ?? null;
  }

  // ------------------------------------------------------------------ start

  /** The health port was taken at start: bind it with backoff (1 s … 30 s) until it is free. */
  async #bindHealthLater(addr: NonNullable<DaemonSettings['healthAddr']>): Promise<void> {
    const backoff = new Backoff({ baseMs: 1_000, capMs: 30_000 });
    const signal = this.#root.signal;
    while (!signal.aborted && !this.#closed) {
      await sleep(backoff.next(), signal).catch(() => undefined);
      if (signal.aborted || this.#closed) return;
      try {
        const health = await startHealthServer(addr, this.#healthSource(), this.#log);
        if (this.#closed) {
          await health.close();
          return;
        }
        this.#health = health;
        await writeRuntimeInfo(this.#o.paths, { pid: process.pid, health_url: this.healthUrl, version: VERSION, started_at: this.startedAt.toISOString() });
        this.#log.info({ event: 'health_port_bound', health_url: this.healthUrl, attempts: backoff.failures }, `health port ${this.healthUrl} is listening now`);
        return;
      } catch (err) {
        const n = backoff.failures;
        if (err instanceof HealthPortInUse) {
          if (n % 10 === 0) this.#log.warn({ event: 'health_port_in_use', addr: err.where, holder: err.holder, attempt: n }, `${err.message}; still retrying`);
        } else {
          this.#log.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot bind the health port; giving up on it until the next start');
          return;
        }
      }
    }
  }

  /** Opens the health port, writes daemon.json and starts registering in the background. */
  async start(): Promise<void> {
    // Work that overlaps start-up: runtime detection (the task manager loads after ready).
    this.#startCalled = true;
    const detected = detectRuntimes(this.#o.env);
    detected.catch(() => undefined);

    const addr = this.#o.settings.healthAddr;
    if (addr) {
      try {
        this.#health = await startHealthServer(addr, this.#healthSource(), this.#log);
      } catch (err) {
        if (!(err instanceof HealthPortInUse)) throw err;
        this.#log.error({ event: 'health_port_in_use', addr: err.where, holder: err.holder }, `${err.message}. ${err.hint ?? ''}`);
        void this.#bindHealthLater(addr);
      }
    }
    // A signal during start-up may already have closed us: leave nothing behind.
    if (this.#closed) {
      await this.#health?.close();
      return;
    }
    await writeRuntimeInfo(this.#o.paths, { pid: process.pid, health_url: this.healthUrl, version: VERSION, started_at: this.startedAt.toISOString() });
    this.#log.info(
      { event: 'started', version: VERSION, health_url: this.healthUrl, daemon_id: this.#config.daemon_id, platform_url: this.#config.platform_url, state_dir: this.#o.paths.stateDir },
      `agentd ${VERSION} starting as ${this.#config.device_name}; health port ${this.healthUrl ?? 'disabled'}`,
    );
    this.#o.notifier.startWatchdog(() => this.loopsTurning());
    this.lifecycle.transition('registering', `registering with ${this.#config.platform_url}`);
    const bound = setTimeout(() => this.#announceReady(), READY_BOUND_MS);
    bound.unref();
    this.#localRuntimes = await detected;
    void this.#registerAndRun();
  }

  /** Register (retrying), then ready: heartbeats, orphan recovery, claiming. Never throws. */
  async #registerAndRun(): Promise<void> {
    // A request to register while a registration is under way (a heartbeat 404 while the
    // first one still recovers orphans) is not dropped: the running one goes round again.
    // Dropping it left the daemon in `registering` with its heartbeat stopped, for ever.
    if (this.#registering) {
      this.#registerAgain = true;
      return;
    }
    this.#registering = true;
    try {
      do {
        this.#registerAgain = false;
        const ok = await this.#registerLoop();
        if (!ok || this.lifecycle.isShuttingDown()) return;
        const names = this.#runtimes.map((r) => r.name).join(', ');
        this.lifecycle.transition('ready', `registered ${this.#runtimes.length} runtime(s): ${names}`);
        this.#announceReady();
        this.heartbeat.start();
        this.#enrichDeviceFacts();
        // First registration: create the task manager and its one claim loop. Any later
        // one (heartbeat 404, new credential): the same loop, told the ids changed.
        if (this.#tasks) this.#tasks.runtimesChanged();
        else await this.#startTasks();
        if (this.#control) this.#control.runtimesChanged();
        else this.#startControl();
      } while (this.#registerAgain && !this.lifecycle.isShuttingDown() && this.lifecycle.state !== 'revoked');
    } catch (err) {
      this.#log.error({ err }, 'registration failed unexpectedly');
    } finally {
      this.#registering = false;
    }
  }

  async #registerLoop(): Promise<boolean> {
    const interval = this.#o.settings.heartbeatIntervalMs;
    const backoff = new Backoff({ baseMs: Math.min(500, interval), capMs: Math.max(1000, Math.min(interval, 30_000)) });
    const signal = this.#root.signal;
    while (!signal.aborted && !this.lifecycle.isShuttingDown() && this.lifecycle.state !== 'revoked') {
      this.#lastRegisterAttemptAt = Date.now();
      try {
        const res = await this.client.register(this.#registerBody(), { signal, timeoutMs: REGISTER_TIMEOUT_MS, attempts: 1 });
        this.#platformReachable = true;
        this.#cred.accepted();
        const oldIds = this.#runtimes.map((r) => r.id).join(',');
        this.#runtimes.splice(0, this.#runtimes.length, ...res.runtimes);
        const newIds = this.#runtimes.map((r) => r.id).join(',');
        if (oldIds && oldIds !== newIds) this.#log.warn({ old: oldIds, new: newIds }, 'the platform gave the runtimes new ids');
        return true;
      } catch (err) {
        if (signal.aborted || this.lifecycle.isShuttingDown()) return false;
        if (err instanceof Unauthorized) {
          this.#platformReachable = true; // it answered: the credential is the problem
          if (await this.#onUnauthorized(err, 'register')) continue;
          this.#announceReady();
          return false;
        }
        const wait = Math.max(100, backoff.next());
        const msg = err instanceof Error ? err.message : String(err);
        this.#platformReachable = false;
        this.lifecycle.transition('degraded', `cannot register with ${this.#config.platform_url}: ${msg}`);
        this.#announceReady();
        const n = backoff.failures;
        if (n <= 3 || n % 10 === 0) this.#log.warn({ event: 'register_failed', attempt: n, retry_in_ms: wait, err: msg }, `registration failed (attempt ${n}): ${msg}; retrying in ${(wait / 1000).toFixed(1)} s`);
        await sleep(wait, signal).catch(() => undefined);
      }
    }
    return false;
  }

  #registerBody(): RegisterRequest {
    return {
      workspace_id: this.#config.workspace_id,
      daemon_id: this.#config.daemon_id,
      device_name: this.#config.device_name,
      cli_version: VERSION,
      runtimes: this.#localRuntimes,
      device: currentDeviceInfo(),
    };
  }

  /** After ready: gather the slow device facts once and send them with one re-registration. */
  #enrichDeviceFacts(): void {
    if (this.#enrichScheduled) return;
    this.#enrichScheduled = true;
    const t = setTimeout(() => {
      void gatherRichDeviceInfo().then(async () => {
        if (this.lifecycle.state !== 'ready') return; // the next registration carries them anyway
        try {
          const res = await this.client.register(this.#registerBody(), { signal: this.#root.signal, timeoutMs: REGISTER_TIMEOUT_MS, attempts: 1 });
          if (res.runtimes.map((r) => r.id).join(',') === this.#runtimes.map((r) => r.id).join(',')) this.#log.debug({ event: 'device_facts_sent' }, 'device facts sent');
          else {
            this.#runtimes.splice(0, this.#runtimes.length, ...res.runtimes);
            this.#tasks?.runtimesChanged();
          }
        } catch (err) {
          this.#log.debug({ err: err instanceof Error ? err.message : String(err) }, 'could not send device facts; the next registration will');
        }
      });
    }, DEVICE_FACTS_DELAY_MS);
    t.unref();
  }

  async #startTasks(): Promise<void> {
    if (this.#tasks || !this.#startCalled) return;
    const createTaskManager = await loadTaskManager();
    if (this.lifecycle.isShuttingDown() || this.#tasks) return;
    const s = this.#o.settings;
    const tm = createTaskManager({
      client: this.client,
      logger: this.#log,
      daemonId: this.#config.daemon_id,
      platformUrl: this.#config.platform_url,
      stateDir: this.#o.paths.stateDir,
      runtimes: this.#runtimes,
      canClaim: () => this.lifecycle.canClaim(),
      maxTasks: s.maxTasks,
      maxTasksPerRuntime: s.maxTasksPerRuntime,
      taskIdleTimeoutMs: s.taskIdleTimeoutMs,
      toolIdleTimeoutMs: s.toolIdleTimeoutMs,
      taskTimeoutMs: s.taskTimeoutMs,
      killGraceMs: s.killGraceMs,
      pollIntervalMs: s.pollIntervalMs,
      statusPollMs: STATUS_POLL_MS,
      workdirRetentionMs: s.workdirRetentionMs,
      taskUser: s.taskUser,
      daemonPort: this.#health ? Number(new URL(this.#health.url).port) : null,
    });
    this.#tasks = tm;
    if (this.#control?.stats.status_push) tm.statusPush(true);
    // Orphans first: recover-orphans fails the tasks the platform thinks this daemon
    // holds, so claiming before it finished could fail a fresh claim.
    await tm.recoverOrphans().catch((err: unknown) => this.#log.warn({ err }, 'orphan recovery failed; will retry at the next start'));
    if (!this.lifecycle.isShuttingDown()) tm.start();
  }

  /** The WebSocket control channel, once registered: claim wake-ups and heartbeats over it. */
  #startControl(): void {
    if (!this.#o.settings.webSocket || this.#control || this.lifecycle.isShuttingDown()) return;
    this.#control = new ControlLink({
      open: (o) => this.client.controlChannel(o),
      runtimeIds: () => this.#runtimes.map((r) => r.id),
      heartbeatIntervalMs: this.#o.settings.heartbeatIntervalMs,
      logger: this.#log,
      onTaskAvailable: () => this.#tasks?.taskAvailable(),
      onTaskStatus: (taskId, status) => this.#tasks?.taskStatus(taskId, status),
      onStatusPush: (live) => this.#tasks?.statusPush(live),
      onAck: () => this.#onHeartbeatOk(),
      onRuntimeGone: (id) =>
        this.#onRuntimeUnknown(new NotFound(`the platform says runtime ${id} is gone (WebSocket heartbeat ack)`, { route: 'WS daemon:heartbeat', status: 404, platformError: 'runtime not found' })),
    });
    this.#control.start();
  }

  // ------------------------------------------------------------------ heartbeat outcomes

  #onHeartbeatOk(): void {
    this.#cred.accepted();
    this.#platformReachable = true;
    if (this.lifecycle.state === 'degraded') this.lifecycle.transition('ready', 'heartbeat succeeded: platform reachable again');
  }

  #onHeartbeatFailed(err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    this.#platformReachable = false;
    const st = this.lifecycle.state;
    if (st === 'ready' || st === 'degraded') this.lifecycle.transition('degraded', `heartbeat failed: ${msg}`);
  }

  #onRuntimeUnknown(err: NotFound): void {
    if (this.lifecycle.isShuttingDown() || this.lifecycle.state === 'revoked') return;
    this.lifecycle.transition('registering', `the platform does not know a runtime of this daemon (${err.message}); registering again`);
    void this.#registerAndRun();
  }

  /** A 401 anywhere: the credential state decides. True when the caller should retry at once. */
  async #onUnauthorized(err: Unauthorized, where: string): Promise<boolean> {
    if (this.lifecycle.state === 'revoked' || this.lifecycle.isShuttingDown()) return false;
    return this.#cred.refused(where, err.status);
  }

  #onRevoked(where: string): void {
    this.lifecycle.transition('revoked', `the platform refused the daemon credential twice (${where}): it was revoked or rotated`);
    // The control channel would only be refused with this credential: the next
    // registration (a new credential) opens a new one.
    const control = this.#control;
    this.#control = null;
    void control?.stop();
    if (this.#tasks && this.#tasks.running().length > 0) {
      // They could not report anyway: every call with this credential fails.
      void this.#tasks.cancelAll('runtime_offline').catch((err: unknown) => this.#log.warn({ err }, 'cancelling tasks after revocation failed'));
    }
  }

  // ------------------------------------------------------------------ SIGHUP

  /** Re-reads config.json and credentials.json (SIGHUP). Settings from the environment need a restart. */
  reload(): Promise<void> {
    return this.#cred.reload();
  }

  // ------------------------------------------------------------------ health

  /** The loops turn: a heartbeat, registration attempt or credential poll happened recently. */
  loopsTurning(): boolean {
    const interval = this.#o.settings.heartbeatIntervalMs;
    const limit = 2 * interval + this.heartbeat.timeoutMs + 1000;
    const last = Math.max(this.heartbeat.stats.lastAttemptAt ?? 0, this.#lastRegisterAttemptAt ?? 0, this.#cred.lastPollAt ?? 0, this.lifecycle.since.getTime(), this.startedAt.getTime());
    return Date.now() - last <= limit;
  }

  snapshot(): Snapshot {
    return {
      version: VERSION,
      pid: process.pid,
      startedAt: this.startedAt,
      now: new Date(),
      state: this.lifecycle.state,
      reason: this.lifecycle.reason,
      stateSince: this.lifecycle.since,
      daemonId: this.#config.daemon_id,
      workspaceId: this.#config.workspace_id,
      platformUrl: this.#config.platform_url,
      deviceName: this.#config.device_name,
      mode: this.#o.paths.mode,
      healthUrl: this.healthUrl,
      platformReachable: this.#platformReachable,
      heartbeatIntervalMs: this.#o.settings.heartbeatIntervalMs,
      heartbeat: this.heartbeat.stats,
      runtimes: this.#runtimes,
      maxTasks: this.#o.settings.maxTasks,
      running: this.#tasks?.running() ?? [],
      tasks: this.#tasks?.stats() ?? null,
      control: this.#control?.stats ?? null,
    };
  }

  #healthSource(): HealthSource {
    return {
      alive: () => {
        const ok = this.loopsTurning();
        const age = this.heartbeat.lastSuccessAgeS();
        return { ok, reason: ok ? `loops turning; last heartbeat success ${age === null ? 'never' : `${age} s ago`}` : 'no heartbeat, registration or credential check attempted recently: the daemon looks wedged' };
      },
      ready: () => ({ ok: this.lifecycle.state === 'ready', state: this.lifecycle.state, reason: this.lifecycle.reason, platform_reachable: this.#platformReachable }),
      status: () => statusDoc(this.snapshot()),
      health: () => healthDoc(this.snapshot()),
      metrics: () => metricsText(this.snapshot()),
    };
  }

  // ------------------------------------------------------------------ stop

  /** Graceful stop: no new claims, running tasks drained (then stopped), deregister. Idempotent. */
  stop(reason: string): Promise<void> {
    this.#stopping ??= this.#stop(reason);
    return this.#stopping;
  }

  async #stop(reason: string): Promise<void> {
    const s = this.#o.settings;
    const wasRevoked = this.lifecycle.state === 'revoked';
    const running = this.#tasks?.running().length ?? 0;
    this.lifecycle.transition('draining', `${reason}: no new tasks; waiting up to ${s.drainTimeoutMs / 1000} s for ${running} running task(s)`);
    this.#o.notifier.stopping(`draining: ${running} running task(s)`);
    this.#cred.close();
    this.#tasks?.stopClaiming();
    // Heartbeats go on while tasks drain: the platform must not think we are gone.
    await this.#tasks?.drain(s.drainTimeoutMs, 'daemon_shutdown');
    this.#root.abort(new Error('daemon stopping'));
    await this.#control?.stop();
    await this.heartbeat.stop();
    if (this.#runtimes.length > 0 && !wasRevoked) {
      try {
        await this.client.deregister({ runtime_ids: this.#runtimes.map((r) => r.id) }, { timeoutMs: DEREGISTER_TIMEOUT_MS, attempts: 1 });
        this.#log.info({ event: 'deregistered' }, 'deregistered from the platform');
      } catch (err) {
        this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not deregister (the platform will mark this daemon offline)');
      }
    }
    this.lifecycle.transition('stopped', 'drained and deregistered');
    await this.close();
  }

  /** Second signal: stop every task now (bounded), then close. */
  async force(reason: string): Promise<void> {
    this.lifecycle.transition('draining', `${reason}: stopping at once`);
    this.#root.abort(new Error('daemon stopping at once'));
    this.#tasks?.stopClaiming();
    const cancel = this.#tasks?.cancelAll('daemon_shutdown') ?? Promise.resolve();
    await Promise.race([cancel.catch(() => undefined), sleep(Math.min(3_000, this.#o.settings.killGraceMs + 1_000))]);
    await this.close();
  }

  /** Releases what the process holds: health port, daemon.json, timers, connections. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#root.abort(new Error('daemon closed'));
    this.#cred.close();
    await this.#control?.stop().catch(() => undefined);
    await this.heartbeat.stop().catch(() => undefined);
    await this.#health?.close().catch(() => undefined);
    await removeRuntimeInfo(this.#o.paths, process.pid).catch((err: unknown) => this.#log.warn({ err }, 'could not remove daemon.json'));
    await this.#o.notifier.close();
    await Promise.race([this.client.close().catch(() => undefined), sleep(1_000)]);
  }
}
