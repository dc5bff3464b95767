// The daemon's settings from the environment (AGENTD_*), on top of config.json and
// credentials.json (store/). One table (core/settings.ts pieces) declares each variable:
// its TypeBox schema, its default, and the words a person reads when it is wrong.
//
// Checked here with TypeBox's Value.Check, not env-schema: both take this same JSON
// schema, but env-schema loads ajv, which costs ~30 ms of the 200 ms start-to-ready budget
// even bundled (bench/settings-load.mjs). Commands where start-up time does not matter
// (`agentd doctor`, the platform) check the same table with
// env-schema (core/env-schema-settings.ts) and read the same messages.
import { availableParallelism } from 'node:os';
import { Type } from '@sinclair/typebox';
import { Errors } from '@sinclair/typebox/errors';
import { Check } from '@sinclair/typebox/value';
import { ConfigError } from '../core/errors.js';
import { invalidSetting, rawSettings, settingsSchema, type SettingSpec, type SettingsChecker } from '../core/settings.js';
import { DURATION_FORMS, DURATION_PATTERN, parseDuration } from '../core/durations.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** auto: journal when stdout is the journal (JOURNAL_STREAM), text on a terminal, else JSON. */
export type LogFormat = 'auto' | 'json' | 'journal' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'journal', 'text'];

export interface HealthAddr {
  host: string;
  /** 0: any free port (tests). */
  port: number;
}

export interface DaemonSettings {
  heartbeatIntervalMs: number;
  /** null: the health port is disabled (AGENTD_HEALTH_ADDR=0). */
  healthAddr: HealthAddr | null;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** 0 disables the idle watchdog. */
  taskIdleTimeoutMs: number;
  toolIdleTimeoutMs: number;
  taskTimeoutMs: number;
  killGraceMs: number;
  maxTasks: number;
  /** AGENTD_MAX_TASKS_<RUNTIME>, keyed by lower-case runtime name. */
  maxTasksPerRuntime: Record<string, number>;
  pollIntervalMs: number;
  drainTimeoutMs: number;
  workdirRetentionMs: number;
  /** AGENTD_TASK_USER: tasks run as this user (system install); null: as the daemon's user. */
  taskUser: string | null;
  /** AGENTD_INSECURE_HTTP=1: accept a plain http:// platform URL to another host. */
  insecureHttp: boolean;
  /** Use the platform's WebSocket control channel (AGENTD_WEBSOCKET=on, the default). */
  webSocket: boolean;
}

// A duration (core/durations.ts): 500ms, 90s, 30m, 2h, 1d, or plain seconds (15, 1.5).
const DURATION_ACCEPTED = `a duration such as ${DURATION_FORMS}, at most 8760h`;
/** One year: longer is surely a typo, and deadlines must stay valid Dates (/status prints them). */
export const MAX_DURATION_MS = 8760 * 3_600_000;

type VarSpec = SettingSpec & { default: string };

const duration = (def: string, accepted = DURATION_ACCEPTED): VarSpec => ({ schema: Type.String({ pattern: DURATION_PATTERN }), default: def, accepted });
const count = (def: string): VarSpec => ({ schema: Type.String({ pattern: '^[1-9][0-9]{0,3}$' }), default: def, accepted: 'a whole number from 1 to 9999' });

export const DAEMON_SETTINGS = {
  AGENTD_HEARTBEAT_INTERVAL: duration('15s', `${DURATION_ACCEPTED}, at least 100ms`),
  AGENTD_HEALTH_ADDR: {
    schema: Type.String({ pattern: '^(0|(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5})$' }),
    default: '127.0.0.1:19514',
    accepted: 'HOST:PORT on a loopback address (127.0.0.1:19514, [::1]:19514, localhost:0 for any free port) or 0 to disable',
  },
  AGENTD_LOG_LEVEL: { schema: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l))), default: 'info', accepted: LOG_LEVELS.join(', ') },
  AGENTD_LOG_FORMAT: { schema: Type.Union(LOG_FORMATS.map((l) => Type.Literal(l))), default: 'auto', accepted: `${LOG_FORMATS.join(', ')} (auto: journal under systemd, text on a terminal, else json)` },
  AGENTD_TASK_IDLE_TIMEOUT: duration('30m', `${DURATION_ACCEPTED}, or 0 to disable`),
  AGENTD_TOOL_IDLE_TIMEOUT: duration('2h', `${DURATION_ACCEPTED}, or 0 to disable`),
  AGENTD_TASK_TIMEOUT: duration('2h', `${DURATION_ACCEPTED}, more than 0`),
  AGENTD_KILL_GRACE: duration('10s'),
  AGENTD_MAX_TASKS: count(String(availableParallelism())),
  AGENTD_POLL_INTERVAL: duration('30s', `${DURATION_ACCEPTED}, at least 1s`),
  AGENTD_DRAIN_TIMEOUT: duration('30s'),
  AGENTD_WORKDIR_RETENTION: duration('24h'),
  AGENTD_TASK_USER: { schema: Type.String({ pattern: '^(|[a-z_][a-z0-9_-]{0,31})$' }), default: '', accepted: 'a user name (lower-case letters, digits, _ and -), or empty for the daemon\'s own user' },
  AGENTD_INSECURE_HTTP: { schema: Type.Union([Type.Literal('0'), Type.Literal('1')]), default: '0', accepted: '1 (accept a plain http:// platform URL to another host) or 0' },
  AGENTD_WEBSOCKET: { schema: Type.Union([Type.Literal('on'), Type.Literal('off')]), default: 'on', accepted: 'on or off' },
} satisfies Record<string, VarSpec>;

const VARS = DAEMON_SETTINGS;
type VarName = keyof typeof VARS;
const PER_RUNTIME_PREFIX = 'AGENTD_MAX_TASKS_';

/** The JSON schema of the daemon's environment (every variable optional, strings). */
export const EnvSchema = settingsSchema(VARS);

const bad = (name: string, value: string, accepted: string): ConfigError => invalidSetting(name, value, accepted);

/** The daemon's checker: TypeBox, ~2 ms to load (see the header). */
export const typeboxChecker: SettingsChecker = (table, env) => {
  const raw = rawSettings(table, env);
  const schema = table === VARS ? EnvSchema : settingsSchema(table);
  if (!Check(schema, raw)) {
    const first = Errors(schema, raw).First();
    const name = first?.path.split('/')[1] ?? '';
    const spec = table[name];
    if (spec) throw bad(name, raw[name] ?? '', spec.accepted);
    throw new ConfigError('environment', `the AGENTD_* environment is not valid: ${first?.message ?? 'unknown error'}`);
  }
  return raw;
};

const LOOPBACK_HOSTS = new Set(['localhost', '::1', '[::1]']);
function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function parseHealthAddr(value: string): HealthAddr | null {
  if (value === '0') return null;
  const i = value.lastIndexOf(':');
  const rawHost = value.slice(0, i);
  const port = Number(value.slice(i + 1));
  const spec = VARS.AGENTD_HEALTH_ADDR;
  // The health port answers without authentication: loopback only (docs/architecture.md §3).
  if (!isLoopback(rawHost) || !Number.isInteger(port) || port > 65535) throw bad('AGENTD_HEALTH_ADDR', value, spec.accepted);
  return { host: rawHost.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * Reads and checks every AGENTD_* setting. Throws ConfigError (exit 78) naming the first
 * bad variable, its value and what is accepted.
 */
export function loadSettings(env: NodeJS.ProcessEnv, check: SettingsChecker = typeboxChecker): DaemonSettings {
  const raw = check(VARS, env) as Record<VarName, string>;
  const dur = (name: VarName, min = 0): number => {
    const ms = parseDuration(raw[name]);
    if (ms === null || ms < min || ms > MAX_DURATION_MS) throw bad(name, raw[name], VARS[name].accepted);
    return ms;
  };
  const maxTasks = Number(raw.AGENTD_MAX_TASKS);
  const maxTasksPerRuntime: Record<string, number> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(PER_RUNTIME_PREFIX) || value === undefined || value.trim() === '') continue;
    const runtime = name.slice(PER_RUNTIME_PREFIX.length).toLowerCase();
    if (!/^[a-z0-9_-]+$/.test(runtime) || !/^[0-9]{1,4}$/.test(value.trim())) {
      throw bad(name, value, 'a whole number from 0 to 9999 (a per-runtime cap under AGENTD_MAX_TASKS; 0 stops that runtime)');
    }
    maxTasksPerRuntime[runtime] = Number(value.trim());
  }
  return {
    heartbeatIntervalMs: dur('AGENTD_HEARTBEAT_INTERVAL', 100),
    healthAddr: parseHealthAddr(raw.AGENTD_HEALTH_ADDR),
    logLevel: raw.AGENTD_LOG_LEVEL as LogLevel,
    logFormat: raw.AGENTD_LOG_FORMAT as LogFormat,
    taskIdleTimeoutMs: dur('AGENTD_TASK_IDLE_TIMEOUT'),
    toolIdleTimeoutMs: dur('AGENTD_TOOL_IDLE_TIMEOUT'),
    taskTimeoutMs: dur('AGENTD_TASK_TIMEOUT', 1),
    killGraceMs: dur('AGENTD_KILL_GRACE'),
    maxTasks,
    maxTasksPerRuntime,
    pollIntervalMs: dur('AGENTD_POLL_INTERVAL', 1000),
    drainTimeoutMs: dur('AGENTD_DRAIN_TIMEOUT'),
    workdirRetentionMs: dur('AGENTD_WORKDIR_RETENTION'),
    taskUser: raw.AGENTD_TASK_USER === '' ? null : raw.AGENTD_TASK_USER,
    insecureHttp: raw.AGENTD_INSECURE_HTTP === '1',
    webSocket: raw.AGENTD_WEBSOCKET === 'on',
  };
}
