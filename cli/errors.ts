import { EXIT, type ExitCode } from './exit-codes.js';

/**
 * An error meant for a person: what happened, and what to do next (`hint`, ideally the
 * exact command). The CLI prints `agentd: <message>` then the hint, and exits with
 * `exitCode`. Never put a token in either.
 */
export class UserError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  constructor(message: string, opts: { exitCode?: ExitCode; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UserError';
    this.exitCode = opts.exitCode ?? EXIT.FAILURE;
    this.hint = opts.hint;
  }
}

/** Bad flags or arguments (npm's EUSAGE). */
export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: EXIT.USAGE, hint: hint ?? 'Run `agentd help` for usage.' });
    this.name = 'UsageError';
  }
}
