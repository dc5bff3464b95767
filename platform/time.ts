// Times are stored as epoch milliseconds (cheap comparisons in SQL) and leave the
// platform as RFC 3339 strings.
export function iso(ms: number): string;
export function iso(ms: number | null | undefined): string | null;
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}
