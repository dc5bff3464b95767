// One settings table, two checkers: TypeBox (the daemon, start-up path) and env-schema
// (the CLI, the doctor, the platform). Same tables, same person-readable messages; the
// env-schema loader also merges an env file under the environment.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { envSchemaChecker, loadSettingsFromEnv } from '../../core/env-schema-settings.js';
import { durationSetting, type SettingsTable } from '../../core/settings.js';
import { DAEMON_SETTINGS, loadSettings, typeboxChecker } from '../../daemon/config.js';
import { CLI_SETTINGS, checkCliEnv } from '../../cli/env.js';

const message = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

describe('TypeBox and env-schema read the same table with the same words', () => {
  it.each([
    { AGENTD_HEARTBEAT_INTERVAL: 'soon' },
    { AGENTD_LOG_LEVEL: 'loud' },
    { AGENTD_MAX_TASKS: '0' },
    { AGENTD_HEALTH_ADDR: '10.0.0.1' },
    { AGENTD_LOG_FORMAT: 'xml' },
    { AGENTD_TASK_TIMEOUT: '1h', AGENTD_POLL_INTERVAL: '-1' },
  ])('%j', (env) => {
    const viaTypebox = message(() => loadSettings(env, typeboxChecker));
    const viaEnvSchema = message(() => loadSettings(env, envSchemaChecker));
    expect(viaTypebox).toMatch(/^AGENTD_[A-Z_]+=".*" is not valid: expected /);
    expect(viaEnvSchema).toBe(viaTypebox);
  });

  it('valid settings give the same values either way', () => {
    const env = { AGENTD_HEARTBEAT_INTERVAL: '2s', AGENTD_MAX_TASKS: '3', AGENTD_LOG_FORMAT: 'journal', AGENTD_MAX_TASKS_CLAUDE: '1' };
    expect(loadSettings(env, envSchemaChecker)).toEqual(loadSettings(env, typeboxChecker));
  });

  it("the CLI's own input: AGENTD_MODE and the directories", () => {
    expect(message(() => checkCliEnv({ AGENTD_MODE: 'sytem' }, envSchemaChecker))).toBe('AGENTD_MODE="sytem" is not valid: expected system or user');
    expect(message(() => checkCliEnv({ AGENTD_CONFIG_DIR: 'etc/agentd' }, envSchemaChecker))).toMatch(/^AGENTD_CONFIG_DIR="etc\/agentd" is not valid: expected an absolute path/);
    expect(message(() => checkCliEnv({ AGENTD_MODE: 'user', AGENTD_STATE_DIR: '/var/x', AGENTD_MODE_X: '?' }, envSchemaChecker))).toBe('no error');
    expect(CLI_SETTINGS.AGENTD_HEALTH_ADDR).toBe(DAEMON_SETTINGS.AGENTD_HEALTH_ADDR);
  });
});

describe('env-schema loader with an env file', () => {
  let dir: string;
  const table: SettingsTable = {
    X_TTL: durationSetting('15m'),
    X_PORT: { schema: Type.String({ pattern: '^[0-9]{1,5}$' }), default: '0', accepted: 'a port number' },
    X_SECRET: { schema: Type.String({ pattern: '^adm_' }), accepted: 'adm_ and hex', secret: true },
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-envfile-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('file under environment; blank means the default; unknown keys dropped; where each came from', () => {
    const file = join(dir, 'p.env');
    writeFileSync(file, '# comment\nX_TTL=2h\nX_PORT=8080\nX_SECRET=\nOTHER=1\n');
    const r = loadSettingsFromEnv(table, { env: { X_PORT: '9090', X_TTL: '  ' }, envFile: file });
    expect(r.values).toEqual({ X_TTL: '2h', X_PORT: '9090' });
    expect(r.source).toEqual({ X_TTL: file, X_PORT: 'env' });
    expect(loadSettingsFromEnv(table, { env: {} }).values).toEqual({ X_TTL: '15m', X_PORT: '0' });
  });

  it('a bad value names the variable, the value, the accepted forms and the file it came from; a secret is never shown', () => {
    const file = join(dir, 'p.env');
    writeFileSync(file, 'X_PORT=http\nX_SECRET=hunter2\n');
    expect(message(() => loadSettingsFromEnv(table, { env: {}, envFile: file }))).toBe(`X_PORT="http" (from ${file}) is not valid: expected a port number`);
    const m = message(() => loadSettingsFromEnv(table, { env: { X_PORT: '1' }, envFile: file }));
    expect(m).toBe(`X_SECRET=(hidden) (from ${file}) is not valid: expected adm_ and hex`);
    expect(m).not.toContain('hunter2');
  });

  it('a named env file that does not exist is an error (env-schema alone would skip it)', () => {
    expect(message(() => loadSettingsFromEnv(table, { env: {}, envFile: join(dir, 'nope.env') }))).toMatch(/^the env file .*nope\.env does not exist$/);
  });
});
