// The one place an error becomes text and an exit status (npm's error-message module).
// Every layer below throws AgentdError (core/errors.ts) with its own code, hint and exit
// code; only wording that needs the thrower's context is written there. Anything else is
// a bug: the stack is shown, with where to report it.
import { AgentdError } from '../core/errors.js';
import { EXIT, type ExitCode } from '../core/exit-codes.js';

export interface ErrorReport {
  /** Lines for stderr, each ending in a newline. */
  text: string;
  exitCode: ExitCode;
}

export function errorMessage(err: unknown): ErrorReport {
  if (err instanceof AgentdError) {
    return { text: `agentd: ${err.message}\n${err.hint ? `${err.hint}\n` : ''}`, exitCode: err.exitCode };
  }
  // A bug: show the stack (never contains a token: we never put tokens in messages).
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { text: `agentd: unexpected error (this is a bug; please report it with this output):\n${text}\n`, exitCode: EXIT.SOFTWARE };
}
