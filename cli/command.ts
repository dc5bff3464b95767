// A subcommand is data (name, summary, flags) plus one `run`: the help text and the
// flag validation come from the same declaration, so they cannot drift (npm CLI habit).
import { parseArgs } from 'node:util';
import { UsageError } from '../core/errors.js';
import type { ExitCode } from '../core/exit-codes.js';

export interface FlagSpec {
  type: 'string' | 'boolean';
  description: string;
  /** Placeholder shown in help, e.g. "URL". */
  value?: string;
  short?: string;
  multiple?: boolean;
}

export interface Command<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  name: string;
  summary: string;
  usage: string;
  flags: F;
  /** Extra help shown under the flags. */
  details?: string;
  /** Returns the process exit code (0 on success). Throws UserError for failures a person reads. */
  run(args: ParsedArgs<F>, io: CommandIO): Promise<ExitCode | number>;
}

export type ParsedArgs<F extends Record<string, FlagSpec>> = {
  flags: { [K in keyof F]?: F[K]['type'] extends 'boolean' ? boolean : F[K]['multiple'] extends true ? string[] : string };
  positionals: string[];
};

export interface CommandIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export function defineCommand<F extends Record<string, FlagSpec>>(cmd: Command<F>): Command<F> {
  return cmd;
}

export function parseCommandArgs<F extends Record<string, FlagSpec>>(cmd: Command<F>, argv: string[]): ParsedArgs<F> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, spec] of Object.entries(cmd.flags)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { flags: values as ParsedArgs<F>['flags'], positionals };
  } catch (err) {
    // node:util messages name the flag; they never echo a flag's value.
    const msg = err instanceof Error ? err.message.replace(/\. To specify a positional argument.*$/s, '') : String(err);
    throw new UsageError(msg, `Run \`agentd ${cmd.name} --help\` for usage.`);
  }
}

export function commandHelp(cmd: Command): string {
  const lines = [`Usage: ${cmd.usage}`, '', cmd.summary, ''];
  const entries = Object.entries(cmd.flags);
  if (entries.length) {
    lines.push('Options:');
    const rows = entries.map(([name, spec]) => [`  ${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`, spec.description] as const);
    const width = Math.max(...rows.map(([l]) => l.length)) + 2;
    for (const [l, d] of rows) lines.push(l.padEnd(width) + d);
    lines.push('  -h, --help'.padEnd(width) + 'Show this help');
  }
  if (cmd.details) lines.push('', cmd.details.trimEnd());
  return lines.join('\n') + '\n';
}
