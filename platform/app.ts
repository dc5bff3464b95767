// The services a route handler can reach, plus the two authentication checks every
// route starts with. Built once per server by server.ts.
import type { IncomingMessage } from 'node:http';
import { safeEqual } from './crypto.js';
import type { Agents } from './agents.js';
import type { Database } from './sql.js';
import { DAEMON_ID_HEADER, WORKSPACE_ID_HEADER } from '../api/types.js';
import type { DaemonIdentity, Enrolment } from './enrolment.js';
import { HttpError, bearer, header, unauthorized } from './http.js';
import type { Daemons } from './daemons.js';
import type { Revocation } from './revocation.js';
import type { Tasks } from './tasks.js';

export interface PlatformConfig {
  host: string;
  port: number;
  dataDir: string;
  /** A postgres:// URL: the state lives there instead of SQLite under dataDir (platform/database.ts). */
  database?: string;
  /** The URL daemons and install.sh should use; defaults to the listen URL. */
  publicUrl?: string;
  adminToken: string;
  installTokenTtlMs: number;
  longPoll: boolean;
  /** Serve POST /api/daemon/tasks/status (false: only the per-task route, like Multica). */
  batchStatus?: boolean;
  offlineAfterMs: number;
  /**
   * A claimed task not started within this long, and past its last prepare lease, is
   * queued again (0: never). Multica's claim-to-start window: 300 s.
   */
  claimLeaseMs: number;
  /** An ephemeral daemon silent this long is revoked and deregistered (0: never). */
  ephemeralOfflineMs: number;
  /** One stdout line per request (method, path without query, status, ms); never a header or body. */
  logRequests?: boolean;
  artifactsDir: string;
  installScript: string;
  webDir: string;
}

export interface App {
  config: PlatformConfig;
  db: Database;
  defaultWorkspaceId: string;
  enrolment: Enrolment;
  daemons: Daemons;
  tasks: Tasks;
  revocation: Revocation;
  agents: Agents;
  /** Public URL, known once listening. */
  publicUrl(): string;
}

export function requireAdmin(app: App, req: IncomingMessage): void {
  const t = bearer(req);
  if (t === undefined || !safeEqual(t, app.config.adminToken)) throw unauthorized('admin token required');
}

/** The X-Workspace-ID / X-Daemon-ID a request carried (for the request log); capped, never a secret. */
export function claimedSource(req: IncomingMessage): { workspace_id?: string; daemon_id?: string } {
  return { workspace_id: header(req, WORKSPACE_ID_HEADER, 200), daemon_id: header(req, DAEMON_ID_HEADER, 200) };
}

/**
 * The daemon behind the bearer. The identity headers, when sent, must name the same
 * workspace and daemon as the credential (403 otherwise): a daemon configured for one
 * machine and holding another's credential is a mistake to surface, not to serve.
 * Absent headers are accepted (a Multica-style client that does not send them).
 */
export async function requireDaemon(app: App, req: IncomingMessage): Promise<DaemonIdentity> {
  const t = bearer(req);
  const who = t === undefined ? undefined : await app.enrolment.authenticateDaemon(t);
  if (!who) throw unauthorized('invalid or revoked daemon token');
  requireClaimedSource(req, who);
  return who;
}

function requireClaimedSource(req: IncomingMessage, who: DaemonIdentity): void {
  const claimed = claimedSource(req);
  if (claimed.workspace_id !== undefined && claimed.workspace_id !== who.workspace_id) throw new HttpError(403, 'X-Workspace-ID does not match the daemon token');
  if (claimed.daemon_id !== undefined && claimed.daemon_id !== who.daemon_id) throw new HttpError(403, 'X-Daemon-ID does not match the daemon token');
}

/**
 * requireDaemon for a heartbeat whose body names `runtimeId`: the credential and the
 * runtime in one lookup (Enrolment.authenticateDaemonRuntime). The same answers as
 * requireDaemon then the runtime's own lookup: 401, then 403, then the runtime (null:
 * the daemon has none of that id).
 */
export async function requireDaemonRuntime(
  app: App,
  req: IncomingMessage,
  runtimeId: string,
): Promise<{ who: DaemonIdentity; runtime: { deregistered_at: number | null } | null }> {
  const t = bearer(req);
  const found = t === undefined ? undefined : await app.enrolment.authenticateDaemonRuntime(t, runtimeId);
  if (!found) throw unauthorized('invalid or revoked daemon token');
  requireClaimedSource(req, found.who);
  return found;
}
