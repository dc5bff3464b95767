// Why the daemon could not start or had to stop, with the documented exit code
// (cli/exit-codes.ts). The CLI prints `message` (one line) and `hint` (the next command)
// and exits with `exitCode`; nothing here ever holds a token.
import { EXIT, type ExitCode } from '../cli/exit-codes.js';

export class DaemonExit extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  constructor(message: string, exitCode: ExitCode, hint?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'DaemonExit';
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** A bad environment value, config file, port or credential file: exit 78 (EX_CONFIG). */
export class ConfigError extends DaemonExit {
  /** The variable or file at fault, for tests and logs. */
  readonly subject: string;
  constructor(subject: string, message: string, hint?: string, cause?: unknown) {
    super(message, EXIT.CONFIG, hint, cause);
    this.name = 'ConfigError';
    this.subject = subject;
  }
}
