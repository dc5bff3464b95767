// The services a route handler can reach, plus the two authentication checks every
// route starts with. Built once per server by server.ts.
import type { IncomingMessage } from 'node:http';
import { safeEqual } from './crypto.js';
import type { DB } from './db.js';
import type { DaemonIdentity, Enrolment } from './enrolment.js';
import { bearer, unauthorized } from './http.js';
import type { Daemons } from './daemons.js';
import type { Tasks } from './tasks.js';

export interface PlatformConfig {
  host: string;
  port: number;
  dataDir: string;
  /** The URL daemons and install.sh should use; defaults to the listen URL. */
  publicUrl?: string;
  adminToken: string;
  installTokenTtlMs: number;
  longPoll: boolean;
  offlineAfterMs: number;
  /** A claimed task not started within this long is queued again (0: never). */
  claimLeaseMs: number;
  /** One stdout line per request (method, path without query, status, ms); never a header or body. */
  logRequests?: boolean;
  artifactsDir: string;
  installScript: string;
  webDir: string;
}

export interface App {
  config: PlatformConfig;
  db: DB;
  defaultWorkspaceId: string;
  enrolment: Enrolment;
  daemons: Daemons;
  tasks: Tasks;
  /** Public URL, known once listening. */
  publicUrl(): string;
}

export function requireAdmin(app: App, req: IncomingMessage): void {
  const t = bearer(req);
  if (t === undefined || !safeEqual(t, app.config.adminToken)) throw unauthorized('admin token required');
}

export function requireDaemon(app: App, req: IncomingMessage): DaemonIdentity {
  const t = bearer(req);
  const who = t === undefined ? undefined : app.enrolment.authenticateDaemon(t);
  if (!who) throw unauthorized('invalid or revoked daemon token');
  return who;
}
