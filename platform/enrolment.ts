// Workspaces, install tokens, the exchange, and daemon credentials (revoke, rotate,
// connection info). docs/protocol.md "Enrolment" and "Operator".
import { randomUUID } from 'node:crypto';
import type { ConnectionInfo, ExchangeResponse, InstallTokenCreated, Workspace } from '../api/types.js';
import { INSTALL_TOKEN_RE } from '../api/types.js';
import { newToken, sha256Hex } from './crypto.js';
import type { DB } from './db.js';
import { HttpError, badRequest, conflict, notFound } from './http.js';
import { iso } from './time.js';

/** Daemon tokens end by revocation, not by age (docs/architecture.md §5): ~100 years. */
const DAEMON_TOKEN_LIFETIME_MS = 100 * 365.25 * 86_400_000;
export const MAX_DAEMON_ID_LENGTH = 200;

export interface DaemonIdentity {
  workspace_id: string;
  daemon_id: string;
}

interface TokenRow {
  created_at: number;
  revoked_at: number | null;
}

export class Enrolment {
  private readonly q;

  constructor(
    private readonly db: DB,
    private readonly installTokenTtlMs: number,
    /**
     * Called inside the exchange's transaction when a revoked daemon id is enrolled again
     * without proof of any credential: whoever holds it now must not inherit the old
     * machine's unfinished tasks (forge their output, complete them).
     */
    private readonly onRebindWithoutProof: (workspaceId: string, daemonId: string) => void = () => {},
  ) {
    this.q = {
      workspaces: db.prepare('SELECT id, name, created_at FROM workspace ORDER BY created_at, id'),
      workspace: db.prepare('SELECT id FROM workspace WHERE id = ?'),
      insertInstall: db.prepare(
        'INSERT INTO install_token (id, workspace_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
      ),
      // The single-use gate: one statement decides, so of N concurrent exchanges of
      // one token exactly one gets a row back.
      consume: db.prepare(
        `UPDATE install_token SET used_at = ?, used_by = ?
           WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
           RETURNING workspace_id, id`,
      ),
      lookupInstall: db.prepare('SELECT used_at FROM install_token WHERE token_hash = ?'),
      revokeAll: db.prepare(
        'UPDATE daemon_token SET revoked_at = ? WHERE workspace_id = ? AND daemon_id = ? AND revoked_at IS NULL',
      ),
      insertDaemonToken: db.prepare(
        `INSERT INTO daemon_token (id, token_hash, workspace_id, daemon_id, created_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      upsertDaemon: db.prepare(
        `INSERT INTO daemon (workspace_id, daemon_id, device_name, enrolled_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (workspace_id, daemon_id) DO UPDATE SET enrolled_at = excluded.enrolled_at`,
      ),
      authDaemon: db.prepare(
        'SELECT workspace_id, daemon_id FROM daemon_token WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ?',
      ),
      daemonExists: db.prepare('SELECT 1 FROM daemon WHERE workspace_id = ? AND daemon_id = ?'),
      liveToken: db.prepare('SELECT 1 FROM daemon_token WHERE workspace_id = ? AND daemon_id = ? AND revoked_at IS NULL AND expires_at > ? LIMIT 1'),
      installWorkspace: db.prepare('SELECT id, workspace_id FROM install_token WHERE token_hash = ?'),
      insertEvent: db.prepare('INSERT INTO enrolment_event (workspace_id, daemon_id, kind, install_token_id, at) VALUES (?, ?, ?, ?, ?)'),
      latestToken: db.prepare(
        `SELECT created_at, revoked_at FROM daemon_token WHERE workspace_id = ? AND daemon_id = ?
           ORDER BY created_at DESC, rowid DESC LIMIT 1`,
      ),
    };
  }

  listWorkspaces(): Workspace[] {
    return (this.q.workspaces.all() as { id: string; name: string; created_at: number }[]).map((w) => ({
      id: w.id,
      name: w.name,
      created_at: iso(w.created_at),
    }));
  }

  /** 404 `workspace not found` unless it exists. */
  requireWorkspace(id: string): void {
    if (!this.q.workspace.get(id)) throw notFound('workspace not found');
  }

  createInstallToken(workspaceId: string): InstallTokenCreated {
    this.requireWorkspace(workspaceId);
    const id = randomUUID();
    const token = newToken('mit_');
    const now = Date.now();
    const expires = now + this.installTokenTtlMs;
    this.q.insertInstall.run(id, workspaceId, sha256Hex(token), now, expires);
    return { id, token, workspace_id: workspaceId, expires_at: iso(expires), created_at: iso(now) };
  }

  /**
   * POST /api/install-tokens/exchange — the errors of docs/protocol.md, including `409
   * daemon_id_in_use`: an install token never re-binds a daemon id that still holds a
   * live credential unless the caller proves it holds that credential (`current_token`,
   * which `agentd install --force` sends from the machine's own credentials.json).
   * Anyone who can read a daemon's id (its /status) could otherwise take it over.
   */
  exchange(token: unknown, daemonId: unknown, currentToken?: unknown): ExchangeResponse {
    if (typeof token !== 'string' || !INSTALL_TOKEN_RE.test(token)) throw badRequest('invalid_install_token');
    if (typeof daemonId !== 'string' || daemonId.trim() === '') throw badRequest('daemon_id is required');
    if (daemonId.length > MAX_DAEMON_ID_LENGTH) throw badRequest(`daemon_id is longer than ${MAX_DAEMON_ID_LENGTH} characters`);
    if (currentToken !== undefined && currentToken !== null && typeof currentToken !== 'string') throw badRequest('current_token must be a string');
    const hash = sha256Hex(token);
    try {
      return this.db.transaction((): ExchangeResponse => {
        const now = Date.now();
        const row = this.q.consume.get(now, daemonId, hash, now) as { workspace_id: string; id: string } | undefined;
        if (!row) {
          // The gate said no; a second look only chooses the error to report.
          const seen = this.q.lookupInstall.get(hash) as { used_at: number | null } | undefined;
          if (seen && seen.used_at !== null) throw new HttpError(401, 'install_token_already_used');
          throw new HttpError(401, 'invalid_install_token');
        }
        const { kind, proven } = this.bindKind(row.workspace_id, daemonId, typeof currentToken === 'string' ? currentToken : undefined, now);
        // Thrown inside the transaction: the install token stays unused, so the person
        // who hit this can fix it (revoke the old machine) and run the same command again.
        if (kind === 'refused') throw conflict('daemon_id_in_use');
        if (kind === 're-enrolled' && !proven) this.onRebindWithoutProof(row.workspace_id, daemonId);
        const minted = this.mintDaemonToken(row.workspace_id, daemonId, now);
        this.q.insertEvent.run(row.workspace_id, daemonId, kind, row.id, now);
        return { token: minted.token, workspace_id: row.workspace_id, daemon_id: daemonId, expires_at: iso(minted.expires) };
      })();
    } catch (err) {
      if (err instanceof HttpError && err.error === 'daemon_id_in_use') {
        const t = this.q.installWorkspace.get(hash) as { id: string; workspace_id: string } | undefined;
        if (t) this.q.insertEvent.run(t.workspace_id, daemonId, 'refused', t.id, Date.now());
      }
      throw err;
    }
  }

  /**
   * How an exchange may bind `daemonId`: a new id is `enrolled`; a known one is
   * `re-enrolled` when the caller proved its live credential or none is live (the
   * operator revoked it, so nobody loses an identity); otherwise `refused`.
   */
  private bindKind(workspaceId: string, daemonId: string, currentToken: string | undefined, now: number): { kind: 'enrolled' | 're-enrolled' | 'refused'; proven: boolean } {
    if (!this.q.daemonExists.get(workspaceId, daemonId)) return { kind: 'enrolled', proven: false };
    const who = currentToken === undefined ? undefined : this.authenticateDaemon(currentToken);
    if (who && who.workspace_id === workspaceId && who.daemon_id === daemonId) return { kind: 're-enrolled', proven: true };
    if (!this.q.liveToken.get(workspaceId, daemonId, now)) return { kind: 're-enrolled', proven: false };
    return { kind: 'refused', proven: false };
  }

  /** Revokes the daemon's current tokens and mints a new one (enrolment and rotation). */
  private mintDaemonToken(workspaceId: string, daemonId: string, now: number): { token: string; expires: number } {
    this.q.revokeAll.run(now, workspaceId, daemonId);
    const token = newToken('mdt_');
    const expires = now + DAEMON_TOKEN_LIFETIME_MS;
    this.q.insertDaemonToken.run(randomUUID(), sha256Hex(token), workspaceId, daemonId, now, expires);
    this.q.upsertDaemon.run(workspaceId, daemonId, daemonId, now);
    return { token, expires };
  }

  /** Looks the bearer up on every call (no cache): a revoked token fails at once. */
  authenticateDaemon(token: string): DaemonIdentity | undefined {
    if (!token.startsWith('mdt_')) return undefined;
    return this.q.authDaemon.get(sha256Hex(token), Date.now()) as DaemonIdentity | undefined;
  }

  private requireDaemon(workspaceId: string, daemonId: string): void {
    this.requireWorkspace(workspaceId);
    if (!this.q.daemonExists.get(workspaceId, daemonId)) throw notFound('daemon not found');
  }

  /** Idempotent: an already revoked daemon stays revoked, 200. */
  revoke(workspaceId: string, daemonId: string): void {
    this.requireDaemon(workspaceId, daemonId);
    this.q.revokeAll.run(Date.now(), workspaceId, daemonId);
  }

  rotate(workspaceId: string, daemonId: string, platformUrl: string): ConnectionInfo {
    this.requireDaemon(workspaceId, daemonId);
    return this.db.transaction((): ConnectionInfo => {
      const now = Date.now();
      const minted = this.mintDaemonToken(workspaceId, daemonId, now);
      return {
        platform_url: platformUrl,
        workspace_id: workspaceId,
        daemon_id: daemonId,
        token: minted.token,
        issued_at: iso(now),
        revoked_at: null,
      };
    })();
  }

  connection(workspaceId: string, daemonId: string, platformUrl: string): ConnectionInfo {
    this.requireDaemon(workspaceId, daemonId);
    const t = this.q.latestToken.get(workspaceId, daemonId) as TokenRow | undefined;
    if (!t) throw notFound('daemon not found');
    return {
      platform_url: platformUrl,
      workspace_id: workspaceId,
      daemon_id: daemonId,
      token: '',
      issued_at: iso(t.created_at),
      revoked_at: iso(t.revoked_at),
    };
  }

  isRevoked(workspaceId: string, daemonId: string): boolean {
    const t = this.q.latestToken.get(workspaceId, daemonId) as TokenRow | undefined;
    return !t || t.revoked_at !== null;
  }
}
