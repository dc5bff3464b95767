// Times are stored as epoch milliseconds (cheap comparisons in SQL) and leave the
// platform as RFC 3339 strings.
export function iso(ms: number): string;
export function iso(ms: number | null | undefined): string | null;
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "45s", "15m", "2h", "1d" or plain seconds ("90") → milliseconds; null if malformed. */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = Math.round(n * UNIT_MS[unit]!);
  return Number.isFinite(ms) ? ms : null;
}
