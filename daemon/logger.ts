// The daemon's logger: pino, one JSON line per event on stdout, written synchronously
// (journald and launchd take stdout; a pino transport would add a worker thread and
// 11–13 MB of RSS, docs/architecture.md §7). When stdout is a terminal the same
// lines are shown as short human text by a tiny formatter (no pino-pretty, no worker).
//
// Redaction is configuration applied once, here: `authorization`, `token` and `*.token`
// keys are censored, and as a last line of defence every written line is scrubbed of
// anything shaped like an agentd token (mit_/mdt_/mat_ + 40 hex), so a token that slips
// into a message or an error stack still never reaches the journal.
import pino, { type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

const TOKEN_RE = /\b(m[dia]t)_[0-9a-fA-F]{40}\b/g;

/** Replaces every token-shaped substring: `mdt_…` → `mdt_[redacted]`. */
export function scrubTokens(text: string): string {
  return text.replace(TOKEN_RE, '$1_[redacted]');
}

export const REDACT_PATHS = [
  'authorization',
  'token',
  '*.token',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'auth_token',
  '*.auth_token',
];

export interface LoggerOptions {
  level: LogLevel;
  /** Human-readable lines instead of JSON (default: when stdout is a TTY). */
  pretty?: boolean;
  /** Where lines go (default: fd 1, synchronous). Tests pass a collector. */
  destination?: { write(line: string): unknown };
}

export function createLogger(o: LoggerOptions): Logger {
  const sink = o.destination ?? pino.destination({ fd: 1, sync: true });
  const pretty = o.pretty ?? Boolean(process.stdout.isTTY);
  const stream: DestinationStream = {
    write(line: string) {
      const clean = scrubTokens(line);
      sink.write(pretty ? formatPretty(clean) : clean);
    },
  };
  return pino(
    {
      level: o.level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

const LEVEL_TAG: Record<string, string> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR', fatal: 'FATAL' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** One JSON line → `HH:MM:SS LEVEL msg key=value …` (keeps every field but the noise). */
export function formatPretty(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 19) : '';
  const tag = LEVEL_TAG[String(rec.level)] ?? String(rec.level);
  const extras: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (OMIT.has(k)) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: string; stack?: string };
      extras.push(`err=${JSON.stringify(e.message ?? '')}`);
      continue;
    }
    extras.push(`${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`);
  }
  return `${time} ${tag} ${String(rec.msg ?? '')}${extras.length ? ' ' + extras.join(' ') : ''}\n`;
}
