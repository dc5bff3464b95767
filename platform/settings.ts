// The platform's settings from the environment and an optional env file
// (`agentd-platform serve --env-file FILE`, the same KEY=value lines a systemd
// EnvironmentFile= holds), checked by env-schema against the table below (core/settings.ts
// pieces: the daemon's duration grammar and message wording). Command-line flags win over
// the environment, which wins over the file.
import { Type } from '@sinclair/typebox';
import { loadSettingsFromEnv } from '../core/env-schema-settings.js';
import { parseDuration } from '../core/durations.js';
import { choiceSetting, DURATION_ACCEPTED, durationSetting, invalidSetting, type SettingsTable } from '../core/settings.js';

export const PLATFORM_SETTINGS = {
  AGENTD_PLATFORM_DATA: { schema: Type.String({ minLength: 1 }), accepted: 'a directory path' },
  AGENTD_PLATFORM_HOST: { schema: Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]-]+$' }), default: '127.0.0.1', accepted: 'a listen address such as 127.0.0.1, 0.0.0.0 or ::' },
  AGENTD_PLATFORM_PORT: { schema: Type.String({ pattern: '^[0-9]{1,5}$' }), default: '0', accepted: 'a port number from 0 to 65535 (0: any free port)' },
  AGENTD_PLATFORM_PUBLIC_URL: { schema: Type.String({ pattern: '^https?://[^\\s]+$' }), accepted: 'an http(s) URL such as https://platform.example' },
  AGENTD_PLATFORM_INSTALL_TOKEN_TTL: durationSetting('15m', `${DURATION_ACCEPTED}, more than 0`),
  AGENTD_PLATFORM_OFFLINE_AFTER: durationSetting('45s', `${DURATION_ACCEPTED}, more than 0`),
  AGENTD_PLATFORM_CLAIM_LEASE: durationSetting('300s', `${DURATION_ACCEPTED}, or 0 to disable`),
  AGENTD_PLATFORM_LONG_POLL: choiceSetting(['true', 'false'], 'true', 'true or false'),
  AGENTD_PLATFORM_LOG_REQUESTS: choiceSetting(['true', 'false'], 'false', 'true or false'),
  // Secret: a connection string may carry a password, so a bad value is never shown.
  AGENTD_PLATFORM_DATABASE: { schema: Type.String({ pattern: '^postgres(ql)?://\\S+$' }), accepted: 'a PostgreSQL URL such as postgres://USER:PASSWORD@HOST:5432/DATABASE', secret: true },
  AGENTD_PLATFORM_ADMIN_TOKEN: { schema: Type.String({ pattern: '^\\S{16,}$' }), accepted: 'a token of 16 or more characters without spaces', secret: true },
} satisfies SettingsTable;

export interface PlatformEnvSettings {
  dataDir?: string;
  host: string;
  port: number;
  publicUrl?: string;
  installTokenTtlMs: number;
  offlineAfterMs: number;
  claimLeaseMs: number;
  longPoll: boolean;
  logRequests: boolean;
  adminToken?: string;
  /** A PostgreSQL URL; absent: SQLite under the data directory. */
  database?: string;
}

/** Reads and checks the settings; throws ConfigError (exit 78) naming the variable, its value (never the token's) and the file it came from. */
export function loadPlatformSettings(env: NodeJS.ProcessEnv, envFile?: string): PlatformEnvSettings {
  const { values: v, source } = loadSettingsFromEnv(PLATFORM_SETTINGS, { env, envFile });
  const from = (name: string): string | undefined => (source[name] !== 'env' && source[name] !== 'default' ? source[name] : undefined);
  const bad = (name: keyof typeof PLATFORM_SETTINGS): never => {
    throw invalidSetting(name, v[name] ?? '', PLATFORM_SETTINGS[name].accepted, { source: from(name) });
  };
  const dur = (name: 'AGENTD_PLATFORM_INSTALL_TOKEN_TTL' | 'AGENTD_PLATFORM_OFFLINE_AFTER' | 'AGENTD_PLATFORM_CLAIM_LEASE', zeroOk = false): number => {
    const ms = parseDuration(v[name]!);
    if (ms === null || (ms === 0 && !zeroOk)) return bad(name);
    return ms;
  };
  const port = Number(v.AGENTD_PLATFORM_PORT);
  if (port > 65535) bad('AGENTD_PLATFORM_PORT');
  return {
    ...(v.AGENTD_PLATFORM_DATA ? { dataDir: v.AGENTD_PLATFORM_DATA } : {}),
    host: v.AGENTD_PLATFORM_HOST!,
    port,
    ...(v.AGENTD_PLATFORM_PUBLIC_URL ? { publicUrl: v.AGENTD_PLATFORM_PUBLIC_URL.replace(/\/+$/, '') } : {}),
    installTokenTtlMs: dur('AGENTD_PLATFORM_INSTALL_TOKEN_TTL'),
    offlineAfterMs: dur('AGENTD_PLATFORM_OFFLINE_AFTER'),
    claimLeaseMs: dur('AGENTD_PLATFORM_CLAIM_LEASE', true),
    longPoll: v.AGENTD_PLATFORM_LONG_POLL === 'true',
    logRequests: v.AGENTD_PLATFORM_LOG_REQUESTS === 'true',
    ...(v.AGENTD_PLATFORM_ADMIN_TOKEN ? { adminToken: v.AGENTD_PLATFORM_ADMIN_TOKEN } : {}),
    ...(v.AGENTD_PLATFORM_DATABASE ? { database: v.AGENTD_PLATFORM_DATABASE } : {}),
  };
}
