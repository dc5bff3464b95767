// Duration flags (--timeout 60s): the grammar of the AGENTD_* settings (core/durations.ts).
import { DURATION_FORMS, parseDuration } from '../core/durations.js';
import { UsageError } from '../core/errors.js';

export function parseDurationFlag(flag: string, value: string | undefined, def: number): number {
  if (value === undefined) return def;
  const ms = parseDuration(value);
  if (ms === null) throw new UsageError(`${flag} must be a duration such as ${DURATION_FORMS} (got "${value.slice(0, 40)}")`);
  return ms;
}
