// The one duration grammar, for AGENTD_* settings, CLI flags and the platform's flags:
// a non-negative number with an optional unit (ms, s, m, h, d); a bare number is seconds.
// Surrounding white space is ignored; nothing else is accepted ("1e3", "-5s", "15 m").
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const DURATION_RE = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)?$/;

/** The same grammar as a schema pattern (for a value a schema checks before parsing). */
export const DURATION_PATTERN = DURATION_RE.source;

/** How the grammar reads in an error message. */
export const DURATION_FORMS = '500ms, 90s, 30m, 2h, 1d or plain seconds';

/** Milliseconds of a duration string, or null when it is not one. */
export function parseDuration(text: string): number | null {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? 's']!;
  return Number.isFinite(ms) ? Math.round(ms) : null;
}
