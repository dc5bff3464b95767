// Pure text helpers for the operator page: ages, countdowns, status labels, token uses.
// No DOM here, so they are easy to reason about (and to test).
import type { DaemonSummary, TaskDetail } from '../../api/types.js';

/** "just now", "12 s ago", "4 min ago", "3 h ago", "2 d ago"; a future time (clock skew) counts as now. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** m:ss (or h:mm:ss) for a countdown; never negative. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** "This fleet token enrols up to 10 machines (10 uses left)." */
export function usesText(uses: number, usesLeft: number, ephemeral: boolean): string {
  const eph = ephemeral ? ' They are ephemeral: removed from the platform after a time offline (10 min unless the platform sets otherwise).' : '';
  if (uses <= 1) return `The token inside enrols one machine.${eph}`;
  return `This fleet token enrols up to ${uses} machines (${usesLeft} use${usesLeft === 1 ? '' : 's'} left).${eph}`;
}

export type Tone = 'ok' | 'off' | 'bad' | 'run';

/** One word for a daemon's state, and its badge colour. Revoked wins over everything. */
export function daemonState(d: DaemonSummary): { label: string; tone: Tone } {
  if (d.revoked) return { label: 'revoked', tone: 'bad' };
  if (d.deregistered) return { label: 'deregistered', tone: 'off' };
  return d.online ? { label: 'online', tone: 'ok' } : { label: 'offline', tone: 'off' };
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
export const isTerminal = (status: string): boolean => TERMINAL.has(status);

/** "failed: idle_watchdog", "running", "cancelled" … and its badge colour. */
export function taskState(t: Pick<TaskDetail, 'status' | 'failure_reason'>): { label: string; tone: Tone } {
  const tone: Tone = t.status === 'completed' ? 'ok' : t.status === 'failed' ? 'bad' : t.status === 'cancelled' ? 'off' : 'run';
  const reason = t.failure_reason && !(t.status === 'cancelled' && t.failure_reason === 'cancelled') ? `: ${t.failure_reason}` : '';
  return { label: `${t.status}${reason}`, tone };
}

/** Local time of an RFC 3339 stamp, or "—". */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : d.toLocaleString();
}

export const shortId = (id: string): string => id.slice(0, 8);

/** What exchanges did to this daemon id: re-enrolments, and refused take-overs (daemon_id_in_use). */
export function enrolmentNote(d: DaemonSummary): string {
  const parts: string[] = [];
  if (d.refused_enrolments) {
    const last = d.last_refused_enrolment_at ? `, last ${formatTime(d.last_refused_enrolment_at)}` : '';
    parts.push(`${d.refused_enrolments} enrolment${d.refused_enrolments === 1 ? '' : 's'} with this id refused (no proof of its credential${last})`);
  }
  if (d.reenrolled_at) parts.push(`re-enrolled ${formatTime(d.reenrolled_at)}`);
  return parts.join(' · ');
}

/**
 * The agent form's environment box: one KEY=value per line; blank lines and `#` comments
 * are skipped. Returns the map, or the first line that is not KEY=value (to show as an error).
 */
export function parseEnvLines(text: string): { env: Record<string, string> } | { badLine: string } {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) return { badLine: line };
    env[m[1]!] = m[2]!;
  }
  return { env };
}

/** The agent form's arguments box: one argument per line, kept as written (no shell splitting); blank lines skipped. */
export function parseArgLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** "LOG_LEVEL, TOKEN · 2 args": names only, never values (an env value may be a secret). */
export function agentExtras(a: { custom_env: Record<string, string>; custom_args: string[] }): string {
  const keys = Object.keys(a.custom_env);
  const parts = [keys.length ? keys.join(', ') : null, a.custom_args.length ? `${a.custom_args.length} arg${a.custom_args.length === 1 ? '' : 's'}` : null];
  return parts.filter(Boolean).join(' · ') || '—';
}
