// The one error root. Every error a person may read (a CLI message, a daemon start-up
// failure, a platform refusal, a file that cannot be written) is an AgentdError: a stable
// `code` to branch on (never the message text), a one-line `message`, an optional `hint`
// (ideally the exact command to run next) and the documented `exitCode`. The CLI edge
// (cli/error-message.ts) is the only place that turns one into text and an exit status.
// Never put a token in a message or a hint.
import { EXIT, type ExitCode } from './exit-codes.js';

export interface AgentdErrorOptions {
  code?: string;
  exitCode?: ExitCode;
  hint?: string;
  cause?: unknown;
}

export class AgentdError extends Error {
  /** The exit code an error of this class carries when the thrower names none. */
  static readonly defaultExitCode: ExitCode = EXIT.FAILURE;
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  constructor(message: string, opts: AgentdErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code ?? 'AGENTD_ERROR';
    this.exitCode = opts.exitCode ?? (new.target as typeof AgentdError).defaultExitCode;
    this.hint = opts.hint;
  }
}

/** A failure explained for a person, with the context only the thrower has. */
export class UserError extends AgentdError {}

/** Bad flags or arguments (npm's EUSAGE): exit 64. */
export class UsageError extends AgentdError {
  static override readonly defaultExitCode: ExitCode = EXIT.USAGE;
  constructor(message: string, hint?: string) {
    super(message, { code: 'AGENTD_USAGE', hint: hint ?? 'Run `agentd help` for usage.' });
  }
}

/** A bad environment value, config file, port or credential file: exit 78 (EX_CONFIG). */
export class ConfigError extends AgentdError {
  static override readonly defaultExitCode: ExitCode = EXIT.CONFIG;
  /** The variable or file at fault, for tests and logs. */
  readonly subject: string;
  constructor(subject: string, message: string, hint?: string, cause?: unknown) {
    super(message, { code: 'AGENTD_CONFIG', hint, cause });
    this.subject = subject;
  }
}

/** The hint of any error that carries one (an AgentdError, or undefined). */
export function hintOf(err: unknown): string | undefined {
  return err instanceof AgentdError ? err.hint : undefined;
}
