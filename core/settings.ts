// Settings from the environment, declared once as a table: each variable's TypeBox schema
// (plain JSON schema: the shape a value must have), its default, and the words a person
// reads when it is wrong. The daemon (daemon/config.ts), the CLI (cli/env.ts) and the
// platform (platform/settings.ts) declare their tables with these pieces, so a bad value
// reads the same everywhere: `NAME="value" is not valid: expected <accepted forms>`.
//
// Two checkers take the same tables: TypeBox's Value.Check where start-up time matters
// (the daemon) and env-schema (core/env-schema-settings.ts: merging an env file, defaults)
// where it does not.
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import { ConfigError } from './errors.js';
import { DURATION_FORMS, DURATION_PATTERN } from './durations.js';

export interface SettingSpec {
  schema: TSchema;
  /** Used when the variable is unset or blank; none: optional without a default. */
  default?: string;
  /** The accepted forms, in a person's words. */
  accepted: string;
  /** Never shown in a message (a token). */
  secret?: boolean;
}

export type SettingsTable = Readonly<Record<string, SettingSpec>>;

export const DURATION_ACCEPTED = `a duration such as ${DURATION_FORMS}`;

export const durationSetting = (def: string | undefined, accepted = DURATION_ACCEPTED): SettingSpec => ({ schema: Type.String({ pattern: DURATION_PATTERN }), ...(def === undefined ? {} : { default: def }), accepted });
export const countSetting = (def: string): SettingSpec => ({ schema: Type.String({ pattern: '^[1-9][0-9]{0,3}$' }), default: def, accepted: 'a whole number from 1 to 9999' });
export const choiceSetting = (values: readonly string[], def: string, accepted = values.join(', ')): SettingSpec => ({ schema: Type.Union(values.map((v) => Type.Literal(v))), default: def, accepted });

/** Checks a table's values in `env` and returns them (defaults filled in); throws the first bad one as invalidSetting. */
export type SettingsChecker = (table: SettingsTable, env: NodeJS.ProcessEnv) => Record<string, string>;

/** The table as one JSON schema: an object of optional strings (what both checkers validate). */
export function settingsSchema(table: SettingsTable): TObject {
  return Type.Object(Object.fromEntries(Object.entries(table).map(([k, v]) => [k, Type.Optional(v.schema)])));
}

/** `NAME="value" is not valid: expected …` (exit 78). `source` says where the value came from when not the environment. */
export function invalidSetting(name: string, value: string, accepted: string, o: { secret?: boolean; source?: string } = {}): ConfigError {
  // Values are capped so a pasted blob cannot flood the journal; a secret is never shown.
  const shown = o.secret ? '(hidden)' : JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return new ConfigError(name, `${name}=${shown}${o.source ? ` (from ${o.source})` : ''} is not valid: expected ${accepted}`);
}

/** The table's values from `env`: blank or unset → the default (absent when there is none). */
export function rawSettings(table: SettingsTable, env: NodeJS.ProcessEnv): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const [name, spec] of Object.entries(table)) {
    const v = env[name];
    if (v !== undefined && v.trim() !== '') raw[name] = v.trim();
    else if (spec.default !== undefined) raw[name] = spec.default;
  }
  return raw;
}
