// The daemon's logger: pino, one JSON line per event on stdout, written synchronously
// (journald and launchd take stdout; a pino transport would add a worker thread and
// 11–13 MB of RSS, docs/architecture.md §7). When stdout is a terminal the same
// lines are shown as short human text by a tiny formatter (no pino-pretty, no worker).
// Under systemd, when JOURNAL_STREAM says stdout is the journal, each event is one
// readable line (message first, then key=value) behind the journald priority prefix
// (<3> error, <4> warn, <6> info, <7> debug), so `systemctl status` shows the message and
// `journalctl -p warning` filters. AGENTD_LOG_FORMAT=json|journal|text overrides.
//
// Redaction is configuration applied once, here: `authorization`, `token` and `*.token`
// keys are censored, and as a last line of defence every written line is scrubbed of
// anything shaped like an agentd token (mit_/mdt_/mat_ + 40 hex), so a token that slips
// into a message or an error stack still never reaches the journal.
import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import pino, { type Logger, type DestinationStream } from 'pino';
import type { LogFormat, LogLevel } from './config.js';

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
  /** 'auto' (default): journal when stdout is the journal, text on a TTY, else JSON. */
  format?: LogFormat;
  /** For 'auto' (tests inject). */
  env?: NodeJS.ProcessEnv;
  /** Where lines go (default: fd 1, synchronous). Tests pass a collector. */
  destination?: { write(line: string): unknown };
}

export function createLogger(o: LoggerOptions): Logger {
  const sink = o.destination ?? pino.destination({ fd: 1, sync: true });
  const format = o.pretty !== undefined && (o.format ?? 'auto') === 'auto' ? (o.pretty ? 'text' : 'json') : resolveLogFormat(o.format ?? 'auto', o.env ?? process.env);
  const render = format === 'text' ? formatPretty : format === 'journal' ? formatJournal : (l: string) => l;
  const stream: DestinationStream = {
    write(line: string) {
      // Scrubbed before formatting: every format's output is derived from the clean line.
      sink.write(render(scrubTokens(line)));
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

/** `JOURNAL_STREAM=<dev>:<inode>` names stdout's journald stream; it matches only while fd 1 is still that stream. */
export function stdoutIsJournal(env: NodeJS.ProcessEnv, fd = 1): boolean {
  const want = env.JOURNAL_STREAM;
  if (!want) return false;
  try {
    const st = fstatSync(fd);
    return want === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

export function resolveLogFormat(format: LogFormat, env: NodeJS.ProcessEnv): Exclude<LogFormat, 'auto'> {
  if (format !== 'auto') return format;
  if (stdoutIsJournal(env)) return 'journal';
  // isatty, not process.stdout.isTTY: the daemon writes fd 1 itself, and building the
  // process.stdout stream only to ask was ~2 ms of start-up (cli/main.ts).
  return isatty(1) ? 'text' : 'json';
}

const LEVEL_TAG: Record<string, string> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR', fatal: 'FATAL' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** `key=value …` of a record's fields (strings with blanks or quotes JSON-quoted, so a line never splits). */
function fields(rec: Record<string, unknown>, withStack: boolean): string[] {
  const extras: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (OMIT.has(k)) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: string; stack?: string };
      extras.push(`err=${JSON.stringify(e.message ?? '')}`);
      if (withStack && e.stack) extras.push(`stack=${JSON.stringify(e.stack)}`);
      continue;
    }
    extras.push(`${k}=${typeof v === 'string' ? (/[\s"\\]/.test(v) || v === '' ? JSON.stringify(v) : v) : JSON.stringify(v)}`);
  }
  return extras;
}

function parseRecord(line: string): Record<string, unknown> | null {
  try {
    const rec = JSON.parse(line) as unknown;
    return rec && typeof rec === 'object' ? (rec as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** One JSON line → `HH:MM:SS LEVEL msg key=value …` (keeps every field but the noise). */
export function formatPretty(line: string): string {
  const rec = parseRecord(line);
  if (!rec) return line;
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 19) : '';
  const tag = LEVEL_TAG[String(rec.level)] ?? String(rec.level);
  const extras = fields(rec, false);
  return `${time} ${tag} ${String(rec.msg ?? '')}${extras.length ? ' ' + extras.join(' ') : ''}\n`;
}

/** sd-daemon(3) priorities: what journald files the line under (fatal is crit). */
export const JOURNAL_PRIORITY: Record<string, number> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

/** One JSON line → `<N>msg key=value …`: journald adds the time and pid itself. */
export function formatJournal(line: string): string {
  const rec = parseRecord(line);
  if (!rec) return `<6>${line.replace(/\n(?!$)/g, ' ')}`;
  const prio = JOURNAL_PRIORITY[String(rec.level)] ?? 6;
  // One event, one journal entry: a message with newlines would become several.
  const msg = String(rec.msg ?? '').replace(/\r?\n/g, ' ');
  const extras = fields(rec, prio <= 3);
  return `<${prio}>${msg}${extras.length ? ' ' + extras.join(' ') : ''}\n`;
}
