// The idle watchdog of one task: fires when the task has written nothing for its window.
//
// One timer per task, re-armed lazily. Output only records `lastActivity` (a number
// store per chunk, no timer churn under a chatty child). When the timer fires it checks
// the real deadline: activity since it was armed → re-arm for the remainder; otherwise
// fire. The timer is always armed for the exact deadline it knows about, so the watchdog
// fires within a timer tick of the deadline (the Multica daemon ticks at window/2 and
// can fire up to 15 minutes late on a 30-minute window).
//
//   idle ──activity()──> idle (lastActivity = now, no timer work)
//     │ timer: now < lastActivity + window → re-arm(remainder)
//     │ timer: now ≥ lastActivity + window → fired (onFire called once, timer gone)
//     └ stop() → stopped
//
// While an adapter knows a tool call is in flight (claude tool_use without tool_result)
// the window is the tool window (2 h by default): a long build is silent but busy.

import { MAX_TIMER_MS } from './timing.js';

export interface WatchdogOptions {
  /** Idle window in ms; 0 (or less) disables the watchdog. */
  idleMs: number;
  /** Window while a tool call is in flight; 0 disables the watchdog during tool calls. */
  toolIdleMs: number;
  /** Called once when the task has been silent for its window. */
  onFire: (silentMs: number, windowMs: number) => void;
  /** Monotonic clock in ms (injectable for tests). */
  now?: () => number;
  /**
   * True while the daemon itself holds the task's output back (backpressure: the child
   * blocks on its full pipe). That silence is ours, not the task's: it never fires then.
   */
  isHeld?: () => boolean;
}

// setTimeout clamps delays above 2^31-1 ms to 1 ms; a long window is re-armed in steps.

export class IdleWatchdog {
  private readonly idleMs: number;
  private readonly toolIdleMs: number;
  private readonly onFire: WatchdogOptions['onFire'];
  private readonly now: () => number;
  private readonly isHeld: () => boolean;
  private lastActivity: number;
  private toolInFlight = false;
  private timer: NodeJS.Timeout | null = null;
  /** Monotonic time the armed timer is due at (for re-arming when the window shrinks). */
  private armedFor = Infinity;
  private done = false;
  private firedFlag = false;

  constructor(o: WatchdogOptions) {
    this.idleMs = o.idleMs;
    this.toolIdleMs = o.toolIdleMs;
    this.onFire = o.onFire;
    this.now = o.now ?? (() => performance.now());
    this.isHeld = o.isHeld ?? (() => false);
    this.lastActivity = this.now();
  }

  /** Start watching (the task's start counts as activity). */
  start(): void {
    this.lastActivity = this.now();
    this.arm();
  }

  /** Output was seen. Deliberately cheap: no timer work here. */
  activity(): void {
    this.lastActivity = this.now();
  }

  /** The adapter saw a tool call start (true) or finish (false). */
  setToolInFlight(inFlight: boolean): void {
    if (inFlight === this.toolInFlight) return;
    this.toolInFlight = inFlight;
    // A longer window is handled lazily when the timer fires; a shorter one (tool call
    // finished) may need the timer earlier than it is armed for.
    this.arm();
  }

  get isToolInFlight(): boolean {
    return this.toolInFlight;
  }

  get fired(): boolean {
    return this.firedFlag;
  }

  /** The current window in ms (0: disabled). */
  window(): number {
    return this.toolInFlight ? this.toolIdleMs : this.idleMs;
  }

  /** ms since the last activity. */
  silentMs(): number {
    return Math.max(0, this.now() - this.lastActivity);
  }

  /** ms until the watchdog fires if nothing is written (null: disabled or stopped). */
  remainingMs(): number | null {
    const w = this.window();
    if (this.done || w <= 0) return null;
    return Math.max(0, this.lastActivity + w - this.now());
  }

  stop(): void {
    this.done = true;
    this.clear();
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
  }

  private arm(): void {
    if (this.done) return;
    const w = this.window();
    if (w <= 0) {
      this.clear();
      return;
    }
    const deadline = this.lastActivity + w;
    // Already armed for this deadline or an earlier one: the lazy check covers it.
    if (this.timer && this.armedFor <= deadline) return;
    this.clear();
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, deadline - this.now()));
    this.armedFor = this.now() + delay;
    this.timer = setTimeout(() => this.check(), delay);
    // A watchdog alone must not keep the daemon alive.
    this.timer.unref?.();
  }

  private check(): void {
    this.timer = null;
    this.armedFor = Infinity;
    if (this.done) return;
    const w = this.window();
    if (w <= 0) return;
    if (this.isHeld()) {
      this.lastActivity = this.now();
      this.arm();
      return;
    }
    const silent = this.now() - this.lastActivity;
    if (silent < w) {
      this.arm();
      return;
    }
    this.done = true;
    this.firedFlag = true;
    this.onFire(silent, w);
  }
}
