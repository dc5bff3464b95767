// A settings table (core/settings.ts) checked by env-schema: the environment merged over
// an optional env file (KEY=value lines, as systemd's EnvironmentFile= reads them; read
// here rather than by env-schema's dotenv option, which skips a missing file silently and
// keeps blank values that should mean "the default"),
// defaults filled in, unknown keys dropped, every value checked against its schema. For
// code whose start-up time does not matter (the platform, `agentd doctor`): env-schema
// loads ajv and compiles its schema, ~30 ms bundled in the daemon and ~100 ms of a short
// CLI command such as `agentd install`, which therefore use TypeBox (daemon/config.ts).
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import envSchema from 'env-schema';
import { ConfigError } from './errors.js';
import { invalidSetting, settingsSchema, type SettingsChecker, type SettingsTable } from './settings.js';

export interface LoadedSettings {
  values: Record<string, string>;
  /** Where each value came from: 'env', the env file's path, or 'default'. */
  source: Record<string, string>;
}

export function loadSettingsFromEnv(table: SettingsTable, o: { env: NodeJS.ProcessEnv; envFile?: string }): LoadedSettings {
  // Blank means unset (systemd's `Environment=X=` idiom), so the default applies.
  const fromEnv: Record<string, string> = {};
  for (const name of Object.keys(table)) {
    const v = o.env[name];
    if (v !== undefined && v.trim() !== '') fromEnv[name] = v.trim();
  }
  const fromFile: Record<string, string> = {};
  if (o.envFile !== undefined) {
    // env-schema ignores a missing file; one named on the command line must exist.
    if (!existsSync(o.envFile)) throw new ConfigError(o.envFile, `the env file ${o.envFile} does not exist`, 'Pass an existing file to --env-file, or leave the option out.');
    try {
      for (const [k, v] of Object.entries(parseEnv(readFileSync(o.envFile, 'utf8')))) if (k in table && typeof v === 'string' && v.trim() !== '') fromFile[k] = v.trim();
    } catch (e) {
      throw new ConfigError(o.envFile, `cannot read the env file ${o.envFile}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const schema = settingsSchema(table) as unknown as Record<string, unknown>;
  // Defaults go into the schema copy: env-schema (ajv useDefaults) fills them in.
  const properties = Object.fromEntries(Object.entries(table).map(([k, v]) => [k, { ...(schema.properties as Record<string, object>)[k], ...(v.default === undefined ? {} : { default: v.default }) }]));
  let values: Record<string, unknown>;
  try {
    // The file first, the environment over it (what `systemctl edit` overrides win over).
    values = envSchema({ schema: { ...schema, properties }, env: false, data: [fromFile, fromEnv] });
  } catch (e) {
    const first = (e as { errors?: { instancePath?: string; message?: string }[] }).errors?.[0];
    const name = first?.instancePath?.replace(/^\//, '') ?? '';
    const spec = table[name];
    if (!spec) throw new ConfigError('environment', `the environment is not valid: ${first?.message ?? (e instanceof Error ? e.message : String(e))}`);
    const value = fromEnv[name] ?? fromFile[name] ?? '';
    throw invalidSetting(name, value, spec.accepted, { secret: spec.secret, source: fromEnv[name] === undefined && fromFile[name] !== undefined ? o.envFile : undefined });
  }
  const out: Record<string, string> = {};
  const source: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if (typeof v !== 'string') continue;
    out[k] = v.trim();
    source[k] = fromEnv[k] !== undefined ? 'env' : fromFile[k] !== undefined ? (o.envFile as string) : 'default';
  }
  return { values: out, source };
}

/** env-schema as a SettingsChecker: the same tables, the same messages as TypeBox's. */
export const envSchemaChecker: SettingsChecker = (table, env) => loadSettingsFromEnv(table, { env }).values;
