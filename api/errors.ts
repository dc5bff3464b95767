// One typed error family for everything the platform answers (undici's habit:
// a base class, a fixed `code` per subclass, structured fields). Callers branch on
// the class or `code`, never on message text or raw status codes.
//
// Messages never contain a token: they are built from the route and the status only.
import { AgentdError } from '../core/errors.js';
import { EXIT, type ExitCode } from '../core/exit-codes.js';

export type PlatformErrorCode =
  | 'AGENTD_INVALID_INSTALL_TOKEN'
  | 'AGENTD_INSTALL_TOKEN_ALREADY_USED'
  | 'AGENTD_DAEMON_ID_IN_USE'
  | 'AGENTD_UNAUTHORIZED'
  | 'AGENTD_NOT_FOUND'
  | 'AGENTD_BAD_REQUEST'
  | 'AGENTD_PLATFORM_UNAVAILABLE'
  | 'AGENTD_BAD_RESPONSE'
  | 'AGENTD_REQUEST_ABORTED';

export class PlatformError extends AgentdError {
  override readonly code: PlatformErrorCode = 'AGENTD_BAD_REQUEST';
  /** HTTP status when the platform answered; undefined for network failures. */
  readonly status: number | undefined;
  /** The route, e.g. "POST /api/daemon/heartbeat" (never a query string or token). */
  readonly route: string;
  /** The platform's `error` field, when it sent one. */
  readonly platformError: string | undefined;
  /** No answer: the network error's code (ECONNREFUSED, UND_ERR_SOCKET, CERT_HAS_EXPIRED…, or "timeout"). */
  readonly networkCode: string | undefined;
  /** No answer: false when the request provably never left (refused, DNS, TLS handshake); true when it may have been received. */
  readonly maybeSent: boolean | undefined;

  constructor(message: string, opts: { route: string; status?: number; platformError?: string; networkCode?: string; maybeSent?: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.route = opts.route;
    this.status = opts.status;
    this.platformError = opts.platformError;
    this.networkCode = opts.networkCode;
    this.maybeSent = opts.maybeSent;
  }
}

/** OpenSSL / Node TLS verification codes (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID…). */
export function isTlsCode(code: string): boolean {
  return /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|HOSTNAME_MISMATCH)/.test(code);
}

/** Malformed, unknown or expired install token (400/401 `invalid_install_token`). */
export class InvalidInstallToken extends PlatformError {
  static override readonly defaultExitCode: ExitCode = EXIT.REVOKED;
  override readonly code = 'AGENTD_INVALID_INSTALL_TOKEN' as const;
}

/** The install token was already exchanged (401 `install_token_already_used`). */
export class InstallTokenAlreadyUsed extends PlatformError {
  static override readonly defaultExitCode: ExitCode = EXIT.REVOKED;
  override readonly code = 'AGENTD_INSTALL_TOKEN_ALREADY_USED' as const;
}

/**
 * 409 `daemon_id_in_use`: this daemon id is enrolled with a live credential and the
 * exchange did not prove it holds it. The install token was not used.
 */
export class DaemonIdInUse extends PlatformError {
  override readonly code = 'AGENTD_DAEMON_ID_IN_USE' as const;
}

/** The daemon credential was refused (401): revoked, rotated or never valid. */
export class Unauthorized extends PlatformError {
  static override readonly defaultExitCode: ExitCode = EXIT.REVOKED;
  override readonly code = 'AGENTD_UNAUTHORIZED' as const;
}

/** 404, e.g. `task not found`. */
export class NotFound extends PlatformError {
  override readonly code = 'AGENTD_NOT_FOUND' as const;
}

/** Any other final 4xx: the request itself is wrong; retrying will not help. */
export class BadRequest extends PlatformError {
  override readonly code = 'AGENTD_BAD_REQUEST' as const;
}

/**
 * The platform could not be reached or answered 5xx/408/429 (after retries, where the
 * call retries). `url` is the platform's base URL, for messages a person reads.
 */
export class PlatformUnavailable extends PlatformError {
  static override readonly defaultExitCode: ExitCode = EXIT.UNAVAILABLE;
  override readonly code = 'AGENTD_PLATFORM_UNAVAILABLE' as const;
}

/** The platform answered 2xx with a body that is not the JSON we expect. */
export class BadResponse extends PlatformError {
  override readonly code = 'AGENTD_BAD_RESPONSE' as const;
}

/** The caller's AbortSignal fired. */
export class RequestAborted extends PlatformError {
  override readonly code = 'AGENTD_REQUEST_ABORTED' as const;
}
