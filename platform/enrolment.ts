// Workspaces, install tokens, the exchange, and daemon credentials (revoke, rotate,
// connection info). docs/protocol.md "Enrolment" and "Operator".
import { randomUUID } from 'node:crypto';
import type { ConnectionInfo, ExchangeResponse, InstallTokenCreated, InstallTokenSummary, Workspace } from '../api/types.js';
import { CreateInstallTokenBody, INSTALL_TOKEN_RE } from '../api/types.js';
import { buildConnectionPayload } from './connection.js';
import { newToken, sha256Hex } from './crypto.js';
import type { Database, Sql } from './sql.js';
import { HttpError, badRequest, conflict, notFound, parseBody } from './http.js';
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
    private readonly db: Database,
    private readonly installTokenTtlMs: number,
    /**
     * Called inside the exchange's transaction when a revoked daemon id is enrolled again
     * without proof of any credential: whoever holds it now must not inherit the old
     * machine's unfinished tasks (forge their output, complete them).
     */
    private readonly onRebindWithoutProof: (t: Sql, workspaceId: string, daemonId: string) => Promise<void> = async () => {},
  ) {
    this.q = {
      workspaces: 'SELECT id, name, created_at FROM workspace ORDER BY created_at, id',
      workspace: 'SELECT id FROM workspace WHERE id = ?',
      insertInstall: `INSERT INTO install_token (id, workspace_id, token_hash, created_at, expires_at, uses, uses_left, ephemeral)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      // The use gate: one statement decides, so of M concurrent exchanges of a token
      // with N uses left exactly min(M, N) get a row back.
      consume: `UPDATE install_token SET uses_left = uses_left - 1, used_at = ?, used_by = ?
           WHERE token_hash = ? AND uses_left > 0 AND expires_at > ?
           RETURNING workspace_id, id, ephemeral`,
      lookupInstall: 'SELECT used_at, uses_left FROM install_token WHERE token_hash = ?',
      liveInstall: `SELECT id, workspace_id, created_at, expires_at, uses, uses_left, ephemeral FROM install_token
           WHERE workspace_id = ? AND uses_left > 0 AND expires_at > ? ORDER BY created_at DESC, id`,
      revokeAll: 'UPDATE daemon_token SET revoked_at = ? WHERE workspace_id = ? AND daemon_id = ? AND revoked_at IS NULL',
      // RETURNING: which daemons just lost their credential (their tasks end with them).
      revokeWorkspace: 'UPDATE daemon_token SET revoked_at = ? WHERE workspace_id = ? AND revoked_at IS NULL RETURNING daemon_id',
      markEphemeral: 'UPDATE daemon SET ephemeral = 1 WHERE workspace_id = ? AND daemon_id = ?',
      insertDaemonToken: `INSERT INTO daemon_token (id, token_hash, workspace_id, daemon_id, created_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
      upsertDaemon: `INSERT INTO daemon (workspace_id, daemon_id, device_name, enrolled_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (workspace_id, daemon_id) DO UPDATE SET enrolled_at = excluded.enrolled_at`,
      authDaemon: 'SELECT workspace_id, daemon_id FROM daemon_token WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ?',
      // runtime_found is NULL when the daemon has no runtime of that id (a LEFT JOIN: the
      // credential still answers).
      authDaemonRuntime: `SELECT t.workspace_id, t.daemon_id, r.id AS runtime_found, r.deregistered_at
           FROM daemon_token t LEFT JOIN runtime r ON r.id = ? AND r.workspace_id = t.workspace_id AND r.daemon_id = t.daemon_id
           WHERE t.token_hash = ? AND t.revoked_at IS NULL AND t.expires_at > ?`,
      daemonExists: 'SELECT 1 FROM daemon WHERE workspace_id = ? AND daemon_id = ?',
      liveToken: 'SELECT 1 FROM daemon_token WHERE workspace_id = ? AND daemon_id = ? AND revoked_at IS NULL AND expires_at > ? LIMIT 1',
      installWorkspace: 'SELECT id, workspace_id FROM install_token WHERE token_hash = ?',
      insertEvent: 'INSERT INTO enrolment_event (workspace_id, daemon_id, kind, install_token_id, at) VALUES (?, ?, ?, ?, ?)',
      latestToken: `SELECT created_at, revoked_at FROM daemon_token WHERE workspace_id = ? AND daemon_id = ?
           ORDER BY created_at DESC, (revoked_at IS NULL) DESC LIMIT 1`,
    };
  }

  async listWorkspaces(): Promise<Workspace[]> {
    const rows = await this.db.all<{ id: string; name: string; created_at: number }>(this.q.workspaces);
    return rows.map((w) => ({ id: w.id, name: w.name, created_at: iso(w.created_at) }));
  }

  /** 404 `workspace not found` unless it exists; 400 for an empty id. */
  async requireWorkspace(id: string, q: Sql = this.db): Promise<void> {
    if (id === '') throw badRequest('workspace id is required');
    if (!(await q.get(this.q.workspace, [id]))) throw notFound('workspace not found');
  }

  /** Body: optional {"uses": N, "ttl_s": S, "ephemeral": bool} (a fleet token when uses > 1). */
  async createInstallToken(workspaceId: string, body: unknown, platformUrl: string): Promise<InstallTokenCreated> {
    await this.requireWorkspace(workspaceId);
    const o = parseBody(CreateInstallTokenBody, body);
    const uses = o.uses ?? 1;
    const ttlMs = o.ttl_s !== undefined ? o.ttl_s * 1000 : this.installTokenTtlMs;
    const ephemeral = o.ephemeral === true;
    const id = randomUUID();
    const token = newToken('mit_');
    const now = Date.now();
    const expires = now + ttlMs;
    await this.db.run(this.q.insertInstall, [id, workspaceId, sha256Hex(token), now, expires, uses, uses, ephemeral ? 1 : 0]);
    return {
      ...buildConnectionPayload({ platformUrl, workspaceId, daemonId: '', installToken: token }),
      id,
      expires_at: iso(expires),
      created_at: iso(now),
      uses,
      uses_left: uses,
      ephemeral,
    };
  }

  /** The install tokens that can still enrol a machine (never the token itself). */
  async listInstallTokens(workspaceId: string): Promise<InstallTokenSummary[]> {
    await this.requireWorkspace(workspaceId);
    const rows = await this.db.all<{
      id: string;
      workspace_id: string;
      created_at: number;
      expires_at: number;
      uses: number;
      uses_left: number;
      ephemeral: number;
    }>(this.q.liveInstall, [workspaceId, Date.now()]);
    return rows.map((r) => ({ ...r, created_at: iso(r.created_at), expires_at: iso(r.expires_at), ephemeral: r.ephemeral === 1 }));
  }

  /**
   * POST /api/install-tokens/exchange — the errors of docs/protocol.md, including `409
   * daemon_id_in_use`: an install token never re-binds a daemon id that still holds a
   * live credential unless the caller proves it holds that credential (`current_token`,
   * which `agentd install --force` sends from the machine's own credentials.json).
   * Anyone who can read a daemon's id (its /status) could otherwise take it over.
   */
  async exchange(token: unknown, daemonId: unknown, currentToken?: unknown, ephemeral = false): Promise<ExchangeResponse> {
    if (typeof token !== 'string' || !INSTALL_TOKEN_RE.test(token)) throw badRequest('invalid_install_token');
    if (typeof daemonId !== 'string' || daemonId.trim() === '') throw badRequest('daemon_id is required');
    if (daemonId.length > MAX_DAEMON_ID_LENGTH) throw badRequest(`daemon_id is longer than ${MAX_DAEMON_ID_LENGTH} characters`);
    if (currentToken !== undefined && currentToken !== null && typeof currentToken !== 'string') throw badRequest('current_token must be a string');
    const hash = sha256Hex(token);
    try {
      return await this.db.tx(async (t): Promise<ExchangeResponse> => {
        const now = Date.now();
        const row = await t.get<{ workspace_id: string; id: string; ephemeral: number }>(this.q.consume, [now, daemonId, hash, now]);
        if (!row) {
          // The gate said no; a second look only chooses the error to report.
          const seen = await t.get<{ used_at: number | null; uses_left: number }>(this.q.lookupInstall, [hash]);
          if (seen && seen.uses_left <= 0) throw new HttpError(401, 'install_token_already_used');
          throw new HttpError(401, 'invalid_install_token');
        }
        const { kind, proven } = await this.bindKind(t, row.workspace_id, daemonId, typeof currentToken === 'string' ? currentToken : undefined, now);
        // Thrown inside the transaction: the install token stays unused, so the person
        // who hit this can fix it (revoke the old machine) and run the same command again.
        if (kind === 'refused') throw conflict('daemon_id_in_use');
        if (kind === 're-enrolled' && !proven) await this.onRebindWithoutProof(t, row.workspace_id, daemonId);
        const minted = await this.mintDaemonToken(t, row.workspace_id, daemonId, now);
        await t.run(this.q.insertEvent, [row.workspace_id, daemonId, kind, row.id, now]);
        const eph = row.ephemeral === 1 || ephemeral;
        if (eph) await t.run(this.q.markEphemeral, [row.workspace_id, daemonId]);
        return { token: minted.token, workspace_id: row.workspace_id, daemon_id: daemonId, expires_at: iso(minted.expires), ...(eph ? { ephemeral: true } : {}) };
      });
    } catch (err) {
      if (err instanceof HttpError && err.error === 'daemon_id_in_use') {
        const t = await this.db.get<{ id: string; workspace_id: string }>(this.q.installWorkspace, [hash]);
        if (t) await this.db.run(this.q.insertEvent, [t.workspace_id, daemonId, 'refused', t.id, Date.now()]);
      }
      throw err;
    }
  }

  /**
   * How an exchange may bind `daemonId`: a new id is `enrolled`; a known one is
   * `re-enrolled` when the caller proved its live credential or none is live (the
   * operator revoked it, so nobody loses an identity); otherwise `refused`.
   */
  private async bindKind(
    t: Sql,
    workspaceId: string,
    daemonId: string,
    currentToken: string | undefined,
    now: number,
  ): Promise<{ kind: 'enrolled' | 're-enrolled' | 'refused'; proven: boolean }> {
    if (!(await t.get(this.q.daemonExists, [workspaceId, daemonId]))) return { kind: 'enrolled', proven: false };
    const who = currentToken === undefined ? undefined : await this.authenticateDaemon(currentToken, t);
    if (who && who.workspace_id === workspaceId && who.daemon_id === daemonId) return { kind: 're-enrolled', proven: true };
    if (!(await t.get(this.q.liveToken, [workspaceId, daemonId, now]))) return { kind: 're-enrolled', proven: false };
    return { kind: 'refused', proven: false };
  }

  /** Revokes the daemon's current tokens and mints a new one (enrolment and rotation). */
  private async mintDaemonToken(t: Sql, workspaceId: string, daemonId: string, now: number): Promise<{ token: string; expires: number }> {
    await t.run(this.q.revokeAll, [now, workspaceId, daemonId]);
    const token = newToken('mdt_');
    const expires = now + DAEMON_TOKEN_LIFETIME_MS;
    await t.run(this.q.insertDaemonToken, [randomUUID(), sha256Hex(token), workspaceId, daemonId, now, expires]);
    await t.run(this.q.upsertDaemon, [workspaceId, daemonId, daemonId, now]);
    return { token, expires };
  }

  /**
   * Looks the bearer up on every call (no cache): a revoked token fails at once, on
   * every replica, since they all read the one database.
   */
  async authenticateDaemon(token: string, q: Sql = this.db): Promise<DaemonIdentity | undefined> {
    if (!token.startsWith('mdt_')) return undefined;
    return q.get<DaemonIdentity>(this.q.authDaemon, [sha256Hex(token), Date.now()]);
  }

  /**
   * authenticateDaemon, and one runtime of that daemon, in one statement: the heartbeat
   * route's lookup (two statements a heartbeat were 16 % of its CPU, a profile of
   * bench/heartbeat-load.mjs). `runtime` is null when the daemon has no such runtime.
   */
  async authenticateDaemonRuntime(
    token: string,
    runtimeId: string,
  ): Promise<{ who: DaemonIdentity; runtime: { deregistered_at: number | null } | null } | undefined> {
    if (!token.startsWith('mdt_')) return undefined;
    const row = await this.db.get<DaemonIdentity & { runtime_found: string | null; deregistered_at: number | null }>(this.q.authDaemonRuntime, [
      runtimeId,
      sha256Hex(token),
      Date.now(),
    ]);
    if (!row) return undefined;
    return { who: { workspace_id: row.workspace_id, daemon_id: row.daemon_id }, runtime: row.runtime_found === null ? null : { deregistered_at: row.deregistered_at } };
  }

  /** 404 unless the daemon exists; 400 for an empty id. */
  async requireDaemon(workspaceId: string, daemonId: string, q: Sql = this.db): Promise<void> {
    await this.requireWorkspace(workspaceId, q);
    if (daemonId === '') throw badRequest('daemon id is required');
    if (!(await q.get(this.q.daemonExists, [workspaceId, daemonId]))) throw notFound('daemon not found');
  }

  /** Idempotent: an already revoked daemon stays revoked. Returns how many live tokens it had (0 or 1). */
  async revoke(t: Sql, workspaceId: string, daemonId: string): Promise<number> {
    await this.requireDaemon(workspaceId, daemonId, t);
    return (await t.run(this.q.revokeAll, [Date.now(), workspaceId, daemonId])).changes;
  }

  /** Revokes every live daemon credential of the workspace; returns the daemons that had one. */
  async revokeWorkspace(t: Sql, workspaceId: string): Promise<string[]> {
    await this.requireWorkspace(workspaceId, t);
    const rows = await t.all<{ daemon_id: string }>(this.q.revokeWorkspace, [Date.now(), workspaceId]);
    return [...new Set(rows.map((r) => r.daemon_id))];
  }

  /** Inside the caller's transaction `t`: the old credential ends in the same commit. */
  async rotate(t: Sql, workspaceId: string, daemonId: string, platformUrl: string): Promise<ConnectionInfo> {
    await this.requireDaemon(workspaceId, daemonId, t);
    const now = Date.now();
    const minted = await this.mintDaemonToken(t, workspaceId, daemonId, now);
    return { ...buildConnectionPayload({ platformUrl, workspaceId, daemonId, daemonToken: minted.token }), issued_at: iso(now), revoked_at: null };
  }

  async connection(workspaceId: string, daemonId: string, platformUrl: string): Promise<ConnectionInfo> {
    await this.requireDaemon(workspaceId, daemonId);
    const t = await this.db.get<TokenRow>(this.q.latestToken, [workspaceId, daemonId]);
    if (!t) throw notFound('daemon not found');
    return { ...buildConnectionPayload({ platformUrl, workspaceId, daemonId }), issued_at: iso(t.created_at), revoked_at: iso(t.revoked_at) };
  }

  async isRevoked(workspaceId: string, daemonId: string, q: Sql = this.db): Promise<boolean> {
    const t = await q.get<TokenRow>(this.q.latestToken, [workspaceId, daemonId]);
    return !t || t.revoked_at !== null;
  }
}
