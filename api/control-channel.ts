// The WebSocket control channel of a Multica server: GET /api/daemon/ws?runtime_ids=…,
// with the same Authorization and X-Client-* headers as every HTTP call, through the
// same proxy-aware dispatcher (HTTP(S)_PROXY / NO_PROXY). Frames are JSON text
// `{type, payload}` both ways (api/control-frames.ts).
//
// This module only keeps a connection up and moves frames; what a frame means is the
// daemon's business (daemon/control.ts). It reconnects on its own, as Multica's daemon
// does: 1 s, doubling to 30 s, ±20 % jitter; a connection that stayed up 10 s resets the
// backoff; a change of the runtime set reconnects at once with the new ids. The channel
// is optional: while it is down the daemon polls and heartbeats over HTTP.
//
// undici's WebSocket client is loaded on first start(), not at import: it pulls in the
// fetch machinery (~130 ms on Node 20), which the start-up path must not pay.
import type { Dispatcher } from 'undici';
import { sleep } from './backoff.js';
import { ControlFrameSchema, type ControlFrame } from './control-frames.js';
import { baselineWasmOnly } from './wasm-flags.js';
import { Check } from '@sinclair/typebox/value';

export interface ControlChannelOptions {
  /** http(s)://host:port[/prefix] of the platform; the channel uses ws(s):// on it. */
  baseUrl: string;
  getToken: () => string | undefined;
  /** X-Client-* and User-Agent headers, as on HTTP calls. */
  headers: Record<string, string>;
  dispatcher: Dispatcher;
  /** The runtime ids to subscribe, read at every (re)connect. */
  runtimeIds: () => string[];
  onOpen: () => void;
  onFrame: (frame: ControlFrame) => void;
  /** The connection ended (or never opened); `upMs` 0 when it never opened. */
  onClose: (info: { upMs: number; reason: string; retryInMs: number }) => void;
  random?: () => number;
  /** Backoff bounds (tests shorten them). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  resetAfterMs?: number;
}

export const WS_MIN_BACKOFF_MS = 1_000;
export const WS_MAX_BACKOFF_MS = 30_000;
export const WS_RESET_AFTER_MS = 10_000;
/** Largest frame accepted (a frame is a short notice; anything bigger is not ours). */
const MAX_FRAME_BYTES = 1024 * 1024;

/** ws(s):// URL of the channel for these runtime ids (sorted, comma-joined, as Multica's daemon sends them). */
export function controlChannelUrl(baseUrl: string, runtimeIds: readonly string[]): string {
  const u = new URL(baseUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = u.pathname.replace(/\/+$/, '') + '/api/daemon/ws';
  u.search = '';
  u.hash = '';
  const ids = [...runtimeIds].sort();
  if (ids.length > 0) u.searchParams.set('runtime_ids', ids.join(','));
  return u.toString();
}

/** Next reconnect delay: `base` ±20 %. */
export function jitter(base: number, random: () => number): number {
  return Math.round(base * (0.8 + 0.4 * random()));
}

type WS = InstanceType<typeof import('undici').WebSocket>;

export class ControlChannel {
  readonly #o: ControlChannelOptions;
  readonly #random: () => number;
  #ac: AbortController | null = null;
  #loop: Promise<void> | null = null;
  #ws: WS | null = null;
  /** Set by reconnect(): the current connection closes and the next one opens at once. */
  #restartNow = false;
  #wakeSleep: (() => void) | null = null;
  /** Ends the current connection's wait at once (a closing handshake the server never answers must not stall the loop). */
  #finishCurrent: ((reason: string) => void) | null = null;
  connects = 0;

  constructor(o: ControlChannelOptions) {
    this.#o = o;
    this.#random = o.random ?? Math.random;
  }

  get open(): boolean {
    return this.#ws !== null && this.#ws.readyState === 1;
  }

  start(): void {
    if (this.#ac) return;
    const ac = new AbortController();
    this.#ac = ac;
    this.#loop = this.#run(ac.signal).finally(() => {
      if (this.#ac === ac) this.#ac = null;
    });
  }

  async stop(): Promise<void> {
    const ac = this.#ac;
    this.#ac = null;
    ac?.abort(new Error('control channel stopped'));
    this.#ws?.close(1000, 'daemon stopping');
    this.#wakeSleep?.();
    await this.#loop;
  }

  /** Reconnect now with the current runtime ids (the runtime set changed). */
  reconnect(): void {
    this.#restartNow = true;
    if (this.#ws) this.#ws.close(1000, 'runtime set changed');
    this.#finishCurrent?.('runtime set changed');
    this.#wakeSleep?.();
  }

  /** Sends a frame if the connection is open; false when it is not (the caller falls back to HTTP). */
  send(frame: ControlFrame): boolean {
    const ws = this.#ws;
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Close the current connection (e.g. it went silent); the loop reconnects with backoff. */
  drop(reason: string): void {
    this.#ws?.close(4000, reason.slice(0, 100));
    this.#finishCurrent?.(reason);
  }

  async #run(signal: AbortSignal): Promise<void> {
    const min = this.#o.minBackoffMs ?? WS_MIN_BACKOFF_MS;
    const max = this.#o.maxBackoffMs ?? WS_MAX_BACKOFF_MS;
    const resetAfter = this.#o.resetAfterMs ?? WS_RESET_AFTER_MS;
    // A CommonJS module: Node's loader names its exports, esbuild's bundle hands them over as `default`.
    const mod = await import('undici/lib/web/websocket/websocket.js');
    const WebSocket = mod.WebSocket ?? mod.default.WebSocket;
    let backoff = min;
    while (!signal.aborted) {
      this.#restartNow = false;
      const { upMs, reason } = await this.#connectOnce(WebSocket, signal);
      if (signal.aborted) return;
      if (this.#restartNow) {
        backoff = min;
        this.#o.onClose({ upMs, reason, retryInMs: 0 });
        continue;
      }
      if (upMs >= resetAfter) backoff = min;
      const wait = jitter(backoff, this.#random);
      this.#o.onClose({ upMs, reason, retryInMs: wait });
      await this.#sleep(wait, signal);
      backoff = Math.min(max, backoff * 2);
    }
  }

  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        // A sleep woken early still has its timer: when that fires later it must not
        // clear the wake-up of the sleep after it.
        if (this.#wakeSleep === done) this.#wakeSleep = null;
        resolve();
      };
      this.#wakeSleep = done;
      sleep(ms, signal).then(done, done);
    });
  }

  /** One connection from dial to close. Resolves with how long it was open. */
  #connectOnce(WebSocket: typeof import('undici').WebSocket, signal: AbortSignal): Promise<{ upMs: number; reason: string }> {
    return new Promise((resolve) => {
      const headers: Record<string, string> = { ...this.#o.headers };
      delete headers['content-type'];
      const token = this.#o.getToken();
      if (token) headers.authorization = `Bearer ${token}`;
      let ws: WS;
      try {
        baselineWasmOnly(); // api/wasm-flags.ts (a client's first request normally set it already)
        ws = new WebSocket(controlChannelUrl(this.#o.baseUrl, this.#o.runtimeIds()), { dispatcher: this.#o.dispatcher, headers });
      } catch (err) {
        resolve({ upMs: 0, reason: err instanceof Error ? err.message : String(err) });
        return;
      }
      this.#ws = ws;
      let openedAt = 0;
      let failure = '';
      let settled = false;
      const finish = (reason: string): void => {
        if (settled) return;
        settled = true;
        if (this.#finishCurrent === finish) this.#finishCurrent = null;
        signal.removeEventListener('abort', onAbort);
        if (this.#ws === ws) this.#ws = null;
        resolve({ upMs: openedAt ? Date.now() - openedAt : 0, reason });
      };
      // Stopping does not wait for the server's close frame: a server that never answers
      // it must not hold up the daemon's shutdown.
      const onAbort = (): void => {
        ws.close(1000, 'daemon stopping');
        finish('stopped');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#finishCurrent = finish;
      ws.addEventListener('open', () => {
        if (settled) {
          ws.close(1000, 'no longer wanted'); // given up on while it was dialling
          return;
        }
        openedAt = Date.now();
        this.connects++;
        this.#o.onOpen();
      });
      ws.addEventListener('message', (ev) => {
        if (settled) return; // a connection already left behind
        const data: unknown = ev.data;
        if (typeof data !== 'string' || data.length > MAX_FRAME_BYTES) return;
        let frame: unknown;
        try {
          frame = JSON.parse(data);
        } catch {
          return; // not a frame of ours
        }
        if (Check(ControlFrameSchema, frame)) this.#o.onFrame(frame);
      });
      ws.addEventListener('error', (ev) => {
        const e = (ev as unknown as { error?: unknown }).error;
        failure = e instanceof Error ? e.message : 'connection failed';
      });
      ws.addEventListener('close', (ev) => {
        finish(openedAt ? `closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})` : failure || `refused (${ev.code})`);
      });
    });
  }
}
