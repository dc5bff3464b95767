// Duration flags (--timeout 60s): the same forms as the AGENTD_* settings.
import { UsageError } from '../core/errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDurationFlag(flag: string, value: string | undefined, def: number): number {
  if (value === undefined) return def;
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new UsageError(`${flag} must be a duration such as 30s, 2m or plain seconds (got "${value.slice(0, 40)}")`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's']);
}
