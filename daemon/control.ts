// What the WebSocket control channel (api/control-channel.ts) means to the daemon:
//
//   connected            claim at once (tasks may have been queued while it was down),
//                        and send a `daemon:heartbeat` per runtime now and every
//                        heartbeat interval
//   daemon:task_available     wake the claim loop: no wait for the next poll
//   daemon:heartbeat_ack      that runtime is alive: the HTTP heartbeat loop skips it for
//                        2 × the interval (Multica's rule). When acks stop, the HTTP
//                        heartbeats resume by themselves, within 2 intervals.
//     … runtime_gone     the platform lost the runtime: register again (as a 404)
//     … server_capabilities names agentd-task-status-push: the platform pushes task
//                        ends over this connection; the status poll becomes a safety
//                        net (onStatusPush(true)) until the connection closes
//   agentd:task_status   a running task ended on the platform's side: stop it now
//   daemon:pending_work  ignored: it announces pending runtime actions (update, model
//                        list, local skills), none of which agentd performs
//   acks seen, then none for 4 intervals: the connection is dead without having closed;
//                        drop it and reconnect
//
// Polling and HTTP heartbeats stay the fallback whenever the channel is down.
import type { Logger } from 'pino';
import type { ControlChannel, ControlChannelOptions } from '../api/control-channel.js';
import {
  CAPABILITY_TASK_STATUS_PUSH,
  HEARTBEAT,
  HEARTBEAT_ACK,
  HeartbeatAckSchema,
  TASK_AVAILABLE,
  TASK_STATUS,
  TaskAvailableSchema,
  TaskStatusFrameSchema,
  type ControlFrame,
} from '../api/control-frames.js';
import { Check } from '@sinclair/typebox/value';

export interface ControlLinkOptions {
  open: (o: Omit<ControlChannelOptions, 'baseUrl' | 'getToken' | 'headers' | 'dispatcher'>) => ControlChannel;
  runtimeIds: () => string[];
  heartbeatIntervalMs: number;
  logger: Logger;
  onTaskAvailable: () => void;
  onRuntimeGone: (runtimeId: string) => void;
  /** An ack arrived: the platform sees us (the HTTP heartbeat's success, over the channel). */
  onAck: () => void;
  /** The platform says a task ended on its side (agentd:task_status). */
  onTaskStatus?: (taskId: string, status: string) => void;
  /** Task ends are pushed over the open channel (true), or no longer are (false). */
  onStatusPush?: (live: boolean) => void;
  now?: () => number;
}

export interface ControlStats {
  connected: boolean;
  connects_total: number;
  frames_total: number;
  task_available_total: number;
  task_status_total: number;
  /** The platform pushes task ends over this connection (its acks say so). */
  status_push: boolean;
  acks_total: number;
  last_ack_at: number | null;
}

export class ControlLink {
  readonly stats: ControlStats = { connected: false, connects_total: 0, frames_total: 0, task_available_total: 0, task_status_total: 0, status_push: false, acks_total: 0, last_ack_at: null };
  readonly #o: ControlLinkOptions;
  readonly #now: () => number;
  readonly #channel: ControlChannel;
  readonly #lastAck = new Map<string, number>();
  #beat: NodeJS.Timeout | null = null;
  #everAcked = false;
  #failures = 0;

  constructor(o: ControlLinkOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#channel = o.open({
      runtimeIds: o.runtimeIds,
      onOpen: () => this.#opened(),
      onFrame: (f) => this.#frame(f),
      onClose: (i) => this.#closed(i),
    });
  }

  start(): void {
    this.#channel.start();
  }

  async stop(): Promise<void> {
    this.#stopBeats();
    await this.#channel.stop();
  }

  /** The runtime set changed: reconnect with the new ids (their acks start over). */
  runtimesChanged(): void {
    this.#lastAck.clear();
    this.#channel.reconnect();
  }

  /** True while this runtime's liveness travels over the channel (an ack within 2 intervals). */
  covers(runtimeId: string): boolean {
    const at = this.#lastAck.get(runtimeId);
    return at !== undefined && this.#now() - at < 2 * this.#o.heartbeatIntervalMs;
  }

  #opened(): void {
    this.stats.connected = true;
    this.stats.connects_total++;
    this.#everAcked = false;
    if (this.#failures > 0) this.#o.logger.info({ event: 'control_channel_up', failures: this.#failures }, 'WebSocket control channel connected again');
    else this.#o.logger.info({ event: 'control_channel_up' }, 'WebSocket control channel connected');
    this.#failures = 0;
    this.#o.onTaskAvailable();
    this.#sendBeats();
    this.#stopBeats();
    this.#beat = setInterval(() => this.#tick(), this.#o.heartbeatIntervalMs);
    this.#beat.unref();
  }

  #tick(): void {
    // No ack for 2 intervals: a push may be going into a dead socket (a NAT or proxy
    // dropped it silently). The status poll is back at its short interval until acks
    // come again, as the HTTP heartbeats are (covers()).
    if (this.stats.status_push && this.stats.last_ack_at !== null && this.#now() - this.stats.last_ack_at >= 2 * this.#o.heartbeatIntervalMs) this.#setStatusPush(false);
    // Acks came and then stopped for 4 intervals: the connection is dead but not closed.
    if (this.#everAcked && this.stats.last_ack_at !== null && this.#now() - this.stats.last_ack_at > 4 * this.#o.heartbeatIntervalMs) {
      this.#channel.drop('no heartbeat ack');
      return;
    }
    this.#sendBeats();
  }

  #sendBeats(): void {
    for (const runtime_id of this.#o.runtimeIds()) this.#channel.send({ type: HEARTBEAT, payload: { runtime_id } });
  }

  #stopBeats(): void {
    if (this.#beat) clearInterval(this.#beat);
    this.#beat = null;
  }

  /** Push is live only on an open connection whose acks name the capability. */
  #setStatusPush(live: boolean): void {
    if (this.stats.status_push === live) return;
    this.stats.status_push = live;
    this.#o.onStatusPush?.(live);
  }

  #closed(i: { upMs: number; reason: string; retryInMs: number }): void {
    const wasUp = this.stats.connected;
    this.stats.connected = false;
    this.#setStatusPush(false);
    this.#stopBeats();
    this.#lastAck.clear();
    this.#failures++;
    // Debug after the first few: a platform without the channel (ours before it had
    // one) refuses every attempt, and polling carries on regardless.
    const level = wasUp || this.#failures <= 2 ? 'info' : 'debug';
    this.#o.logger[level](
      { event: 'control_channel_down', up_ms: i.upMs, reason: i.reason, retry_in_ms: i.retryInMs },
      `WebSocket control channel ${wasUp ? 'closed' : 'unavailable'} (${i.reason}); polling goes on, reconnecting in ${(i.retryInMs / 1000).toFixed(1)} s`,
    );
  }

  #frame(f: ControlFrame): void {
    this.stats.frames_total++;
    switch (f.type) {
      case TASK_AVAILABLE:
        if (f.payload !== undefined && !Check(TaskAvailableSchema, f.payload)) return;
        this.stats.task_available_total++;
        this.#o.onTaskAvailable();
        return;
      case TASK_STATUS:
        if (!Check(TaskStatusFrameSchema, f.payload)) return;
        this.stats.task_status_total++;
        this.#o.onTaskStatus?.(f.payload.task_id, f.payload.status);
        return;
      case HEARTBEAT_ACK: {
        if (!Check(HeartbeatAckSchema, f.payload)) return;
        const ack = f.payload;
        this.#setStatusPush(ack.server_capabilities?.includes(CAPABILITY_TASK_STATUS_PUSH) === true);
        if (ack.runtime_gone === true || ack.status === 'runtime_gone') {
          this.#lastAck.delete(ack.runtime_id);
          this.#o.onRuntimeGone(ack.runtime_id);
          return;
        }
        const now = this.#now();
        this.#lastAck.set(ack.runtime_id, now);
        this.#everAcked = true;
        this.stats.acks_total++;
        this.stats.last_ack_at = now;
        this.#o.onAck();
        return;
      }
      default:
      // pending_work, runtime_profiles_changed, workspaces_changed, rpc_response: nothing agentd acts on.
    }
  }
}
