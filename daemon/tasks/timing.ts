// Timing helpers for the task machinery. Retries use the one backoff of api/backoff.ts.
export { Backoff, sleep } from '../../api/backoff.js';

/** `ms` ± `fraction` (default ±20 %), so many daemons do not poll in step. */
export function jittered(ms: number, fraction = 0.2, random: () => number = Math.random): number {
  return Math.max(0, Math.round(ms * (1 - fraction + 2 * fraction * random())));
}
