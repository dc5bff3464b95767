// The CLI's own AGENTD_* input (which install, where its files are, the health address
// `agentd status` falls back to), declared with the same pieces as the daemon's settings
// and read with the same messages. Every command checks it with the daemon's TypeBox
// checker (cli/main.ts; `run` itself), which costs nothing extra on a short command's or
// the daemon's start-up path (test/e2e/startup-modules.test.ts proves no ajv is loaded
// by `agentd run` or `agentd install`); `agentd doctor` checks it with env-schema.
import { Type } from '@sinclair/typebox';
import type { SettingsChecker, SettingsTable } from '../core/settings.js';
import { DAEMON_SETTINGS, loadSettings } from '../daemon/config.js';

const absolutePath = { schema: Type.String({ pattern: '^/' }), accepted: 'an absolute path (the service runs in /, so a relative one would point elsewhere)' };

export const CLI_SETTINGS: SettingsTable = {
  AGENTD_MODE: { schema: Type.Union([Type.Literal('system'), Type.Literal('user')]), accepted: 'system or user' },
  AGENTD_CONFIG_DIR: absolutePath,
  AGENTD_STATE_DIR: absolutePath,
  AGENTD_HEALTH_ADDR: DAEMON_SETTINGS.AGENTD_HEALTH_ADDR,
};

/**
 * Checks the CLI's AGENTD_* input and, for the commands that read them (doctor), the
 * daemon's settings too. Throws the first bad variable as a ConfigError (exit 78).
 */
export function checkCliEnv(env: NodeJS.ProcessEnv, check: SettingsChecker, o: { daemonSettings?: boolean } = {}): void {
  check(CLI_SETTINGS, env);
  if (o.daemonSettings) loadSettings(env, check);
}

/** The AGENTD_* names either table knows (the doctor lists the ones set). */
export function knownSettingNames(env: NodeJS.ProcessEnv): string[] {
  const known = new Set([...Object.keys(CLI_SETTINGS), ...Object.keys(DAEMON_SETTINGS)]);
  return Object.keys(env).filter((k) => known.has(k) || (k.startsWith('AGENTD_MAX_TASKS_') && env[k]?.trim())).sort();
}
