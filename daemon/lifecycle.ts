// The one place that owns the daemon's state (docs/architecture.md §3). Every other module asks it
// (`state`, `canClaim()`) or tells it (`transition(to, reason)`); nobody keeps a copy.
//
//   starting ──> registering ──────────────> ready <──────┐
//      │             │  ▲  │ platform down      │ ▲        │ first heartbeat
//      │             │  │  └──> degraded <──────┘ │        │ success
//      │             │  │          │  └───────────┴────────┘
//      │             │  └──────────┤ (runtime unknown / new credential → re-register)
//      │             │             │
//      │             └─> revoked <─┘  (401 twice; from ready too)
//      │                   │ new valid credential → registering
//      │                   │
//      └──── any state but stopped ──> draining ──> stopped
//            (SIGTERM/SIGINT)          (tasks drained, deregistered)
//
// A transition is logged once, with its reason, and told to listeners (health port,
// sd_notify). Moving to the state one is already in is not a transition (nothing is
// logged; the reason is updated). An illegal transition is a bug and throws, except
// into or out of the shutdown states: signals race with every loop, and a loop that
// reports "degraded" after draining began is simply ignored.
import type { Logger } from 'pino';

export type DaemonState = 'starting' | 'registering' | 'ready' | 'degraded' | 'revoked' | 'draining' | 'stopped';

export const TRANSITIONS: Readonly<Record<DaemonState, readonly DaemonState[]>> = {
  starting: ['registering', 'draining', 'stopped'],
  registering: ['ready', 'degraded', 'revoked', 'draining', 'stopped'],
  ready: ['degraded', 'revoked', 'registering', 'draining'],
  degraded: ['ready', 'revoked', 'registering', 'draining'],
  revoked: ['registering', 'draining', 'stopped'],
  draining: ['stopped'],
  stopped: [],
};

export class IllegalTransition extends Error {
  constructor(from: DaemonState, to: DaemonState, reason: string) {
    super(`illegal daemon state transition ${from} → ${to} (${reason})`);
    this.name = 'IllegalTransition';
  }
}

export interface StateChange {
  from: DaemonState;
  to: DaemonState;
  reason: string;
  at: Date;
}

export type StateListener = (change: StateChange) => void;

export class Lifecycle {
  #state: DaemonState = 'starting';
  #reason = 'process started';
  #since: Date;
  readonly #listeners = new Set<StateListener>();
  readonly #logger: Logger | undefined;
  readonly #now: () => Date;

  constructor(o: { logger?: Logger; now?: () => Date } = {}) {
    this.#logger = o.logger;
    this.#now = o.now ?? (() => new Date());
    this.#since = this.#now();
  }

  get state(): DaemonState {
    return this.#state;
  }
  get reason(): string {
    return this.#reason;
  }
  get since(): Date {
    return this.#since;
  }

  /** True only in `ready`: the claim loop reads this before every claim. */
  canClaim(): boolean {
    return this.#state === 'ready';
  }

  /** True once shutdown has begun: loops use it to stop starting new work. */
  isShuttingDown(): boolean {
    return this.#state === 'draining' || this.#state === 'stopped';
  }

  /**
   * Moves to `to`. Returns true when the state changed. Same state: updates the reason
   * only. Out of a shutdown state: ignored (returns false). Otherwise illegal: throws.
   */
  transition(to: DaemonState, reason: string): boolean {
    const from = this.#state;
    if (to === from) {
      this.#reason = reason;
      return false;
    }
    if (!TRANSITIONS[from].includes(to)) {
      if (this.isShuttingDown()) return false;
      throw new IllegalTransition(from, to, reason);
    }
    this.#state = to;
    this.#reason = reason;
    this.#since = this.#now();
    const change: StateChange = { from, to, reason, at: this.#since };
    this.#logger?.[to === 'degraded' || to === 'revoked' ? 'warn' : 'info']({ event: 'state', from, to, reason }, `state ${from} → ${to}: ${reason}`);
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (err) {
        // A listener (health, sd_notify) must never break the state machine.
        this.#logger?.error({ err }, 'state listener failed');
      }
    }
    return true;
  }

  /** Calls `l` on every transition; returns the unsubscribe function. */
  onChange(l: StateListener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** Resolves when the state becomes one of `states` (at once if it already is). */
  waitFor(states: readonly DaemonState[]): Promise<DaemonState> {
    if (states.includes(this.#state)) return Promise.resolve(this.#state);
    return new Promise((resolve) => {
      const off = this.onChange((c) => {
        if (states.includes(c.to)) {
          off();
          resolve(c.to);
        }
      });
    });
  }
}
