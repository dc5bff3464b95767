// The heartbeat loop: tells the platform, for every registered runtime, that this
// machine is alive. It is the daemon's lifeline, so it owns everything it needs
// (multica#825, #1637: heartbeats starved behind slow start-up work until the platform
// marked the runtime offline):
//   - its own loop and timer, started as soon as registration returns; it never awaits
//     claims, message posts, task preparation or device-fact gathering;
//   - its own short per-request timeout (no retries inside the client: the loop is the retry);
//   - ±10% jitter on the interval so a fleet restarted together spreads out;
//   - on failure, capped exponential backoff with full jitter (api/backoff.ts), capped
//     at the interval so recovery is noticed within one interval.
//
// It decides nothing about state: it reports each round to its owner (onSuccess,
// onFailure, onUnauthorized, onRuntimeUnknown) and keeps the figures /status and
// /metrics show (last success, latency, consecutive failures).
import type { Logger } from 'pino';
import { Backoff, sleep } from '../api/backoff.js';
import { NotFound, Unauthorized } from '../api/errors.js';
import type { HeartbeatRequest, HeartbeatResponse } from '../api/types.js';
import { Histogram, LATENCY_BUCKETS_S } from './metrics.js';

/** Rounds in a row the WebSocket acks may stand in for HTTP heartbeats. */
const MAX_COVERED_IN_A_ROW = 3;

export interface HeartbeatClient {
  heartbeat(body: HeartbeatRequest, o?: { signal?: AbortSignal; timeoutMs?: number; attempts?: number }): Promise<HeartbeatResponse>;
}

export interface HeartbeatOptions {
  client: HeartbeatClient;
  /** Ids of the registered runtimes, read every round (re-registration changes them). */
  runtimeIds: () => string[];
  intervalMs: number;
  /** Per-request timeout; default min(5 s, interval). */
  timeoutMs?: number;
  logger: Logger;
  random?: () => number;
  now?: () => number;
  /** A round succeeded for every runtime. */
  onSuccess: (latencyMs: number) => void;
  /** A round failed for a reason that may pass (network, 5xx, timeout). */
  onFailure: (err: unknown) => void;
  /** 401: the owner re-reads the credential; true → retry at once, false → stop beating. */
  onUnauthorized: (err: Unauthorized) => Promise<boolean>;
  /** 404: the platform does not know a runtime id; the owner re-registers. */
  onRuntimeUnknown: (err: NotFound) => void;
  /** True while a runtime's liveness travels another way (WebSocket acks): no HTTP heartbeat for it this round. */
  covered?: (runtimeId: string) => boolean;
}

export interface HeartbeatStats {
  lastAttemptAt: number | null;
  lastSuccessAt: number | null;
  lastLatencyMs: number | null;
  consecutiveFailures: number;
  failuresTotal: number;
  roundsTotal: number;
  /** Rounds with no HTTP heartbeat because every runtime acked over the WebSocket. */
  coveredRoundsTotal: number;
  /** Seconds per heartbeat request (successful ones). */
  latency: Histogram;
}

export class HeartbeatLoop {
  readonly stats: HeartbeatStats = {
    lastAttemptAt: null,
    lastSuccessAt: null,
    lastLatencyMs: null,
    consecutiveFailures: 0,
    failuresTotal: 0,
    roundsTotal: 0,
    coveredRoundsTotal: 0,
    latency: new Histogram(LATENCY_BUCKETS_S),
  };
  readonly #o: HeartbeatOptions;
  readonly #backoff: Backoff;
  readonly #random: () => number;
  readonly #now: () => number;
  #ac: AbortController | null = null;
  #running: Promise<void> | null = null;
  #firstFailureAt: number | null = null;
  #coveredInARow = 0;

  constructor(o: HeartbeatOptions) {
    this.#o = o;
    this.#random = o.random ?? Math.random;
    this.#now = o.now ?? Date.now;
    // Base 500 ms (or less under a sub-second test interval), cap one interval.
    this.#backoff = new Backoff({ baseMs: Math.min(500, o.intervalMs), capMs: o.intervalMs, random: this.#random });
  }

  get running(): boolean {
    return this.#ac !== null;
  }

  get timeoutMs(): number {
    return this.#o.timeoutMs ?? Math.min(5000, this.#o.intervalMs);
  }

  /** Starts beating at once (the first beat is not delayed). Idempotent. */
  start(): void {
    if (this.#ac) return;
    const ac = new AbortController();
    this.#ac = ac;
    this.#running = this.#loop(ac.signal).finally(() => {
      if (this.#ac === ac) this.#ac = null;
    });
  }

  /** Stops the loop; an in-flight request is aborted. Resolves when the loop has returned. */
  async stop(): Promise<void> {
    const ac = this.#ac;
    const running = this.#running;
    this.#ac = null;
    ac?.abort(new Error('heartbeat stopped'));
    await running;
  }

  /** Seconds since the last success (null: never), for logs and /status. */
  lastSuccessAgeS(): number | null {
    return this.stats.lastSuccessAt === null ? null : Math.round((this.#now() - this.stats.lastSuccessAt) / 1000);
  }

  async #loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let delay: number;
      const outcome = await this.beatOnce(signal);
      if (signal.aborted) return;
      if (outcome === 'stop') return;
      if (outcome === 'retry-now') continue;
      if (outcome === 'ok') {
        const jitter = 0.9 + 0.2 * this.#random();
        delay = Math.round(this.#o.intervalMs * jitter);
      } else {
        // Full jitter may draw 0: keep a small floor so an instant refusal cannot spin.
        delay = Math.max(50, this.#backoff.next());
      }
      try {
        await sleep(delay, signal);
      } catch {
        return;
      }
    }
  }

  /** One round: a heartbeat per runtime, concurrently. Exposed for tests. */
  async beatOnce(signal?: AbortSignal): Promise<'ok' | 'failed' | 'retry-now' | 'stop'> {
    const all = this.#o.runtimeIds();
    const covered = this.#o.covered;
    const ids = covered ? all.filter((id) => !covered(id)) : all;
    const st = this.stats;
    st.lastAttemptAt = this.#now();
    if (all.length > 0 && ids.length === 0 && this.#coveredInARow < MAX_COVERED_IN_A_ROW) {
      // Every runtime acked over the WebSocket within 2 intervals: the platform sees us.
      this.#coveredInARow += 1;
      st.lastSuccessAt = this.#now();
      st.coveredRoundsTotal += 1;
      this.#o.onSuccess(0);
      return 'ok';
    }
    // Every MAX_COVERED_IN_A_ROW + 1-th round goes over HTTP for all runtimes even while
    // the WebSocket acks: a revoked credential shows as a 401 here (an open WebSocket
    // may outlive it), within 4 intervals instead of never.
    const httpIds = ids.length === 0 ? all : ids;
    this.#coveredInARow = 0;
    st.roundsTotal += 1;
    const timeoutMs = this.timeoutMs;
    // The client has its own timeout; the extra signal bounds the round even if a
    // request hangs somewhere the client's timers do not cover.
    const roundSignal = signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs + 1000)]) : AbortSignal.timeout(timeoutMs + 1000);
    const started = this.#now();
    const results = await Promise.allSettled(
      httpIds.map(async (runtime_id) => {
        const t0 = performance.now();
        await this.#o.client.heartbeat({ runtime_id }, { signal: roundSignal, timeoutMs, attempts: 1 });
        return (performance.now() - t0) / 1000;
      }),
    );
    if (signal?.aborted) return 'stop';
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    const unauthorized = failures.find((e): e is Unauthorized => e instanceof Unauthorized);
    if (unauthorized) return (await this.#o.onUnauthorized(unauthorized)) ? 'retry-now' : 'stop';
    const unknown = failures.find((e): e is NotFound => e instanceof NotFound);
    if (unknown) {
      this.#o.onRuntimeUnknown(unknown);
      return 'stop';
    }
    if (failures.length === 0) {
      for (const r of results) if (r.status === 'fulfilled') st.latency.observe(r.value);
      const latencyMs = this.#now() - started;
      st.lastLatencyMs = latencyMs;
      st.lastSuccessAt = this.#now();
      if (st.consecutiveFailures > 0) {
        const downS = this.#firstFailureAt === null ? 0 : Math.round((this.#now() - this.#firstFailureAt) / 1000);
        this.#o.logger.info({ event: 'heartbeat_recovered', failures: st.consecutiveFailures, down_s: downS }, `heartbeat ok again after ${st.consecutiveFailures} failure(s), ${downS} s without contact`);
      }
      st.consecutiveFailures = 0;
      this.#firstFailureAt = null;
      this.#backoff.reset();
      this.#o.onSuccess(latencyMs);
      return 'ok';
    }
    st.consecutiveFailures += 1;
    st.failuresTotal += 1;
    this.#firstFailureAt ??= this.#now();
    const err = failures[0];
    const age = this.lastSuccessAgeS();
    const n = st.consecutiveFailures;
    // Every failure counts; the log says it at warn for the first few and then every
    // tenth, so a long outage does not flood the journal at a 1 s interval.
    const level = n <= 3 || n % 10 === 0 ? 'warn' : 'debug';
    this.#o.logger[level](
      { event: 'heartbeat_failed', consecutive_failures: n, last_success_s_ago: age, err: describe(err) },
      `heartbeat failed (${n} in a row; last success ${age === null ? 'never' : `${age} s ago`}): ${describe(err)}`,
    );
    this.#o.onFailure(err);
    return 'failed';
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
