// Typed errors for everything on disk. Like api/errors.ts: a base class, a fixed `code`
// per subclass, structured fields, and a `hint` a person can act on (the exact command).
// Messages name paths, never file contents (a credential file holds a token).
import { AgentdError } from '../core/errors.js';
import { EXIT, type ExitCode } from '../core/exit-codes.js';

export type StoreErrorCode =
  | 'AGENTD_INSECURE_CREDENTIAL_FILE'
  | 'AGENTD_CREDENTIAL_FILE_INVALID'
  | 'AGENTD_CONFIG_FILE_INVALID'
  | 'AGENTD_LOCK_HELD'
  | 'AGENTD_NOT_WRITABLE'
  | 'AGENTD_DISK_FULL'
  | 'AGENTD_NOT_REGULAR_FILE'
  | 'AGENTD_UNTRUSTED_OWNER';

export class StoreError extends AgentdError {
  // A file that cannot be written is EX_CANTCREAT; subclasses about a file's content or
  // mode are configuration errors (78), a held lock is "try later" (75).
  static override readonly defaultExitCode: ExitCode = EXIT.CANTCREAT;
  override readonly code: StoreErrorCode = 'AGENTD_NOT_WRITABLE';
  readonly path: string;
  constructor(message: string, opts: { path: string; hint?: string; cause?: unknown; exitCode?: ExitCode }) {
    super(message, { hint: opts.hint, cause: opts.cause, exitCode: opts.exitCode });
    this.path = opts.path;
  }
}

/** The credential file is readable or writable by group or others. */
export class InsecureCredentialFile extends StoreError {
  static override readonly defaultExitCode: ExitCode = EXIT.CONFIG;
  override readonly code = 'AGENTD_INSECURE_CREDENTIAL_FILE' as const;
  readonly mode: number;
  constructor(path: string, mode: number) {
    super(`the credential file ${path} is accessible by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); refusing to use it`, {
      path,
      hint: `Run: chmod 600 ${shellQuote(path)}`,
    });
    this.mode = mode;
  }
}

/** The credential file exists but is not a credential (bad JSON, missing fields, malformed token). */
export class CredentialFileInvalid extends StoreError {
  static override readonly defaultExitCode: ExitCode = EXIT.CONFIG;
  override readonly code = 'AGENTD_CREDENTIAL_FILE_INVALID' as const;
}

export class ConfigFileInvalid extends StoreError {
  static override readonly defaultExitCode: ExitCode = EXIT.CONFIG;
  override readonly code = 'AGENTD_CONFIG_FILE_INVALID' as const;
}

/** Another live process holds the state-directory lock. */
export class LockHeld extends StoreError {
  static override readonly defaultExitCode: ExitCode = EXIT.TEMPFAIL;
  override readonly code = 'AGENTD_LOCK_HELD' as const;
  readonly pid: number;
  constructor(path: string, pid: number) {
    super(`another agentd (pid ${pid}) is using the state directory (lock file ${path})`, {
      path,
      hint: `Stop that process first (e.g. \`systemctl stop agentd\` or \`kill ${pid}\`), or give this one another --state-dir.`,
    });
    this.pid = pid;
  }
}

/** Permission denied, read-only file system… */
export class NotWritable extends StoreError {
  override readonly code = 'AGENTD_NOT_WRITABLE' as const;
}

/** ENOSPC / EDQUOT. */
export class DiskFull extends StoreError {
  override readonly code = 'AGENTD_DISK_FULL' as const;
}

/** The target exists and is a directory, socket, FIFO… (Tailscale's atomicfile habit). */
export class NotRegularFile extends StoreError {
  override readonly code = 'AGENTD_NOT_REGULAR_FILE' as const;
}

/** A directory or file owned by a user agentd does not trust, or a symlink where a real one belongs. */
export class UntrustedOwner extends StoreError {
  static override readonly defaultExitCode: ExitCode = EXIT.CONFIG;
  override readonly code = 'AGENTD_UNTRUSTED_OWNER' as const;
}

/** Quotes a path for a shell command shown in a hint (only when it needs it). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
