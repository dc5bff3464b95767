// Timing helpers for the task machinery. Retries use the one backoff of api/backoff.ts.
export { Backoff, sleep } from '../../api/backoff.js';

/** `ms` ± `fraction` (default ±20 %), so many daemons do not poll in step. */
export function jittered(ms: number, fraction = 0.2, random: () => number = Math.random): number {
  return Math.max(0, Math.round(ms * (1 - fraction + 2 * fraction * random())));
}

/** setTimeout's largest delay (a longer one fires at once, with a warning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * setTimeout for any delay: Node turns a delay above 2^31-1 ms (~24.8 days) into 1 ms,
 * which would make a long task limit fire at once. Returns a cancel function.
 */
export function longTimeout(fn: () => void, ms: number): () => void {
  let t: NodeJS.Timeout;
  const due = Date.now() + ms;
  const arm = (left: number): void => {
    t = setTimeout(() => {
      const rest = due - Date.now();
      if (rest > 0) arm(rest);
      else fn();
    }, Math.min(MAX_TIMER_MS, Math.max(0, left)));
    t.unref();
  };
  arm(ms);
  return () => clearTimeout(t);
}
