// One backoff helper for every retry in agentd (Tailscale's util/backoff habit: one type,
// capped, jittered, abortable, resets on success, injectable randomness for tests).
//
// Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the wait is
// uniform in [0, min(cap, base·2^n)]. Many daemons that lost the platform at the same
// moment therefore spread their reconnects instead of arriving in waves.

export interface RetryPolicy {
  /** Total tries including the first one (1 = no retry). */
  attempts: number;
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseMs: 250, capMs: 5_000 };

export class Backoff {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly random: () => number;
  private n = 0;

  constructor(o: { baseMs: number; capMs: number; random?: () => number }) {
    if (!(o.baseMs >= 0) || !(o.capMs >= 0)) throw new RangeError('Backoff: baseMs and capMs must be >= 0');
    this.baseMs = o.baseMs;
    this.capMs = o.capMs;
    this.random = o.random ?? Math.random;
  }

  /** Consecutive failures recorded so far (calls to next() since the last reset()). */
  get failures(): number {
    return this.n;
  }

  /** The ceiling of the next wait, without consuming it (for logs: "retry within N ms"). */
  ceiling(): number {
    // 2^n overflows to Infinity for large n; Math.min keeps it at the cap.
    return Math.min(this.capMs, this.baseMs * 2 ** this.n);
  }

  /** Records a failure and returns how long to wait before the next try. */
  next(): number {
    const ceiling = this.ceiling();
    this.n++;
    // random() is in [0, 1); scaling by ceiling+1 makes the ceiling itself reachable.
    return Math.min(ceiling, Math.floor(this.random() * (ceiling + 1)));
  }

  /** After a success: the next failure starts from the base again. */
  reset(): void {
    this.n = 0;
  }
}

/** Waits `ms`; rejects with `signal.reason` as soon as the signal aborts (or at once if it already has). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
