// Daemons and their runtimes: register, heartbeat, deregister, and the operator's list.
import { createHash, randomUUID } from 'node:crypto';
import { DeregisterRequest, RegisterBody, type DaemonSummary, type RegisteredRuntime } from '../api/types.js';
import type { HeartbeatAnswer, RegisterResponseWire } from '../api/multica.js';
import type { Database, Sql } from './sql.js';
import type { DaemonIdentity } from './enrolment.js';
import { HttpError, badRequest, notFound, parseBody } from './http.js';
import { iso } from './time.js';

/** Workspace repos offered with the register answer and GET …/repos (the reference platform has none). */
export const NO_REPOS_VERSION = createHash('sha256').update('').digest('hex');

/** What the identity headers said (X-Client-Version, X-Client-OS); recorded per daemon. */
export interface ClientIdentity {
  version?: string;
  os?: string;
}

interface RuntimeRow {
  id: string;
  name: string;
  type: string;
  version: string;
  status: string;
  daemon_id: string;
  last_heartbeat_at: number | null;
  deregistered_at: number | null;
}

interface DaemonRow {
  daemon_id: string;
  device_name: string;
  cli_version: string | null;
  os: string | null;
  last_heartbeat_at: number | null;
  deregistered_at: number | null;
  revoked: number;
  running: number;
  enrolled_at: number;
  reenrolled_at: number | null;
  refused: number;
  refused_at: number | null;
  ephemeral: number;
}

/**
 * How often heartbeat times go to the database. A heartbeat is kept in memory and
 * written with the others in one transaction per flush: a write per heartbeat (two, with
 * the daemon row) was most of the heartbeat route's cost. Multica flushes at most every
 * 60 s; here at most every 10 s (and never more than offlineAfter / 4, so the stored time
 * after a crash is never the reason a daemon shows offline). The operator's list reads
 * the unflushed times too, so offline detection sees every heartbeat at once.
 */
export const HEARTBEAT_FLUSH_MS = 10_000;

interface PendingDaemon {
  ws: string;
  daemon: string;
  at: number;
  version: string | null;
  os: string | null;
}

export class Daemons {
  private readonly q;
  /** Unflushed heartbeats: runtime id → time; workspace+daemon → time and identity headers. */
  private pendingRuntimes = new Map<string, number>();
  private pendingDaemons = new Map<string, PendingDaemon>();
  private readonly flushTimer: NodeJS.Timeout;

  constructor(
    private readonly db: Database,
    private readonly offlineAfterMs: number,
    /** Where a failed flush is told (the times are kept for the next one). */
    private readonly log: (line: string) => void = () => {},
    flushMs = Math.max(50, Math.min(HEARTBEAT_FLUSH_MS, Math.floor(offlineAfterMs / 4))),
  ) {
    this.flushTimer = setInterval(() => void this.flush(), flushMs);
    this.flushTimer.unref();
    // SQLite's two-argument MAX is PostgreSQL's GREATEST.
    const greatest = db.dialect === 'postgres' ? 'GREATEST' : 'MAX';
    // A JSON array of objects as a table `v` with these columns.
    const jsonRows = (p: string, cols: Record<string, 'text' | 'bigint'>) =>
      db.dialect === 'postgres'
        ? `json_to_recordset(CAST(${p} AS json)) AS v(${Object.entries(cols).map(([c, t]) => `${c} ${t}`).join(', ')})`
        : `(SELECT ${Object.keys(cols).map((c) => `json_extract(value, '$.${c}') AS ${c}`).join(', ')} FROM json_each(${p})) AS v`;
    this.q = {
      upsertDaemon: `INSERT INTO daemon (workspace_id, daemon_id, device_name, cli_version, os, device_json, enrolled_at, registered_at, last_heartbeat_at)
           VALUES (@ws, @daemon, @name, @version, @os, @device, @now, @now, @now)
         ON CONFLICT (workspace_id, daemon_id) DO UPDATE SET
           device_name = excluded.device_name, cli_version = excluded.cli_version,
           os = COALESCE(excluded.os, daemon.os), device_json = COALESCE(excluded.device_json, daemon.device_json),
           registered_at = excluded.registered_at, deregistered_at = NULL, last_heartbeat_at = excluded.last_heartbeat_at`,
      // Stable ids: the same daemon registering the same runtime name keeps its id.
      upsertRuntime: `INSERT INTO runtime (id, workspace_id, daemon_id, name, type, version, status, registered_at, last_heartbeat_at)
           VALUES (@id, @ws, @daemon, @name, @type, @version, @status, @now, @now)
         ON CONFLICT (workspace_id, daemon_id, name) DO UPDATE SET
           type = excluded.type, version = excluded.version, status = excluded.status,
           registered_at = excluded.registered_at, deregistered_at = NULL, last_heartbeat_at = excluded.last_heartbeat_at
         RETURNING id, name, type, version, status`,
      runtimesOf: 'SELECT id, name FROM runtime WHERE workspace_id = ? AND daemon_id = ? AND deregistered_at IS NULL',
      retireRuntime: `UPDATE runtime SET deregistered_at = ?, status = 'offline' WHERE id = ?`,
      // A flush is one statement per table, whatever the fleet's size: the times go in as
      // one JSON array read as rows (10,000 daemons were 20,000 statements a flush).
      flushRuntimes: `UPDATE runtime SET last_heartbeat_at = ${greatest}(COALESCE(runtime.last_heartbeat_at, 0), v.at)
           FROM ${jsonRows('?', { id: 'text', at: 'bigint' })} WHERE runtime.id = v.id`,
      flushDaemons: `UPDATE daemon SET last_heartbeat_at = ${greatest}(COALESCE(daemon.last_heartbeat_at, 0), v.at),
                cli_version = COALESCE(v.version, daemon.cli_version), os = COALESCE(v.os, daemon.os)
           FROM ${jsonRows('?', { ws: 'text', daemon: 'text', at: 'bigint', version: 'text', os: 'text' })}
           WHERE daemon.workspace_id = v.ws AND daemon.daemon_id = v.daemon`,
      deregisterRuntime: `UPDATE runtime SET deregistered_at = ?, status = 'offline'
           WHERE id = ? AND workspace_id = ? AND daemon_id = ? AND deregistered_at IS NULL`,
      markDaemonDeregistered: `UPDATE daemon SET deregistered_at = ? WHERE workspace_id = ? AND daemon_id = ?
           AND NOT EXISTS (SELECT 1 FROM runtime r WHERE r.workspace_id = daemon.workspace_id
                           AND r.daemon_id = daemon.daemon_id AND r.deregistered_at IS NULL)`,
      ownedRuntime: 'SELECT id, name, type, version, status, daemon_id, last_heartbeat_at, deregistered_at FROM runtime WHERE id = ? AND workspace_id = ? AND daemon_id = ?',
      retireRuntimes: `UPDATE runtime SET deregistered_at = ?, status = 'offline' WHERE workspace_id = ? AND daemon_id = ? AND deregistered_at IS NULL`,
      retireDaemon: 'UPDATE daemon SET deregistered_at = COALESCE(deregistered_at, ?) WHERE workspace_id = ? AND daemon_id = ?',
      // Ephemeral daemons silent since before the cutoff that still hold a live credential.
      ephemeralGone: `SELECT d.workspace_id, d.daemon_id FROM daemon d
           WHERE d.ephemeral = 1 AND COALESCE(d.last_heartbeat_at, d.registered_at, d.enrolled_at) <= ?
             AND EXISTS (SELECT 1 FROM daemon_token t WHERE t.workspace_id = d.workspace_id
                         AND t.daemon_id = d.daemon_id AND t.revoked_at IS NULL)`,
      listDaemons: `SELECT d.daemon_id, d.device_name, d.cli_version, d.os, d.last_heartbeat_at, d.deregistered_at, d.ephemeral,
                CASE WHEN EXISTS (SELECT 1 FROM daemon_token t WHERE t.workspace_id = d.workspace_id
                            AND t.daemon_id = d.daemon_id AND t.revoked_at IS NULL) THEN 0 ELSE 1 END AS revoked,
                (SELECT COUNT(*) FROM task k WHERE k.workspace_id = d.workspace_id AND k.daemon_id = d.daemon_id
                   AND k.status IN ('claimed', 'running')) AS running,
                d.enrolled_at,
                (SELECT MAX(e.at) FROM enrolment_event e WHERE e.workspace_id = d.workspace_id
                   AND e.daemon_id = d.daemon_id AND e.kind = 're-enrolled') AS reenrolled_at,
                (SELECT COUNT(*) FROM enrolment_event e WHERE e.workspace_id = d.workspace_id
                   AND e.daemon_id = d.daemon_id AND e.kind = 'refused') AS refused,
                (SELECT MAX(e.at) FROM enrolment_event e WHERE e.workspace_id = d.workspace_id
                   AND e.daemon_id = d.daemon_id AND e.kind = 'refused') AS refused_at
           FROM daemon d WHERE d.workspace_id = ? ORDER BY d.enrolled_at, d.daemon_id`,
      // legacy_daemon_ids: rows of an earlier daemon id of this machine move to the new
      // daemon (same workspace, same runtime type), with its claimed and running tasks.
      legacyRuntimes: 'SELECT id, type FROM runtime WHERE workspace_id = ? AND daemon_id = ?',
      legacyHasLiveToken: 'SELECT 1 FROM daemon_token WHERE workspace_id = ? AND daemon_id = ? AND revoked_at IS NULL',
      moveTasks: `UPDATE task SET runtime_id = @to, daemon_id = @daemon WHERE runtime_id = @from AND status IN ('claimed', 'running')`,
      deleteRuntime: 'DELETE FROM runtime WHERE id = ?',
      deleteDaemonIfEmpty: `DELETE FROM daemon WHERE workspace_id = ? AND daemon_id = ?
           AND NOT EXISTS (SELECT 1 FROM runtime r WHERE r.workspace_id = daemon.workspace_id AND r.daemon_id = daemon.daemon_id)`,
      listRuntimes: `SELECT id, name, type, version, status, daemon_id, last_heartbeat_at, deregistered_at
           FROM runtime WHERE workspace_id = ? ORDER BY name`,
    };
  }

  async register(who: DaemonIdentity, body: unknown, client: ClientIdentity): Promise<RegisterResponseWire> {
    const o = parseBody(RegisterBody, body);
    if (o.workspace_id && o.workspace_id !== who.workspace_id) throw new HttpError(403, 'workspace_id does not match the daemon token');
    if (o.daemon_id && o.daemon_id !== who.daemon_id) throw new HttpError(403, 'daemon_id does not match the daemon token');
    const deviceName = o.device_name?.trim() || who.daemon_id;
    const cliVersion = o.cli_version ?? client.version ?? null;
    const raw = o.runtimes ?? [];
    // Names are free text (Multica's are like "Claude (build-01)"); a task routes by type.
    const runtimes = raw.map((r) => {
      const type = r.type?.trim() || r.name?.trim() || 'unknown';
      return {
        name: r.name?.trim() || `${type} (${deviceName})`,
        type,
        version: r.version ?? '',
        status: r.status === 'offline' ? 'offline' : 'online',
      };
    });
    if (new Set(runtimes.map((r) => r.name)).size !== runtimes.length) throw badRequest('runtime names must be unique');
    const device = o.device === undefined ? null : JSON.stringify(o.device).slice(0, 4096);
    const legacy = [...new Set(o.legacy_daemon_ids ?? [])].filter((id) => id !== '' && id !== who.daemon_id);

    return this.db.tx(async (t): Promise<RegisterResponseWire> => {
      const now = Date.now();
      const base = { ws: who.workspace_id, daemon: who.daemon_id, now };
      await t.run(this.q.upsertDaemon, { ...base, name: deviceName, version: cliVersion, os: client.os ?? null, device });
      const out: { id: string; name: string; type: string; version: string; status: string }[] = [];
      for (const r of runtimes) {
        const row = await t.get<{ id: string; name: string; type: string; version: string; status: string }>(this.q.upsertRuntime, { ...base, id: randomUUID(), ...r });
        out.push(row!);
      }
      // Runtimes this daemon no longer reports stop receiving tasks.
      const keep = new Set(out.map((r) => r.id));
      for (const r of await t.all<{ id: string }>(this.q.runtimesOf, [who.workspace_id, who.daemon_id])) {
        if (!keep.has(r.id)) await t.run(this.q.retireRuntime, [now, r.id]);
      }
      for (const old of legacy) await this.mergeLegacy(t, who, old, out);
      return {
        runtimes: out.map((r) => ({ id: r.id, name: r.name, provider: r.type, type: r.type, version: r.version, status: r.status })),
        repos: [],
        repos_version: NO_REPOS_VERSION,
        settings: {},
      };
    });
  }

  /**
   * Merges the runtimes an earlier daemon id of this machine registered into the new
   * ones of the same type. Only a daemon id that holds no live credential of its own
   * is merged: a token must not take over another enrolled machine's runtimes.
   */
  private async mergeLegacy(t: Sql, who: DaemonIdentity, legacyId: string, registered: { id: string; type: string }[]): Promise<void> {
    if (await t.get(this.q.legacyHasLiveToken, [who.workspace_id, legacyId])) return;
    const byType = new Map(registered.map((r) => [r.type, r.id]));
    for (const old of await t.all<{ id: string; type: string }>(this.q.legacyRuntimes, [who.workspace_id, legacyId])) {
      const to = byType.get(old.type);
      if (to === undefined) continue;
      await t.run(this.q.moveTasks, { to, daemon: who.daemon_id, from: old.id });
      await t.run(this.q.deleteRuntime, [old.id]);
    }
    await t.run(this.q.deleteDaemonIfEmpty, [who.workspace_id, legacyId]);
  }

  /**
   * A heartbeat whose runtime row the caller read with its credential
   * (Enrolment.authenticateDaemonRuntime; `row` null: the daemon has no such runtime, a
   * 404). A read, not a write: the times go to the database with the next flush.
   */
  heartbeatSeen(who: DaemonIdentity, runtimeId: string, row: { deregistered_at: number | null } | null, client: ClientIdentity): HeartbeatAnswer {
    if (!row) throw notFound('runtime not found');
    const now = Date.now();
    this.pendingRuntimes.set(runtimeId, now);
    const key = `${who.workspace_id}\u0000${who.daemon_id}`;
    const d = this.pendingDaemons.get(key);
    if (d) {
      d.at = now;
      d.version = client.version ?? d.version;
      d.os = client.os ?? d.os;
    } else {
      this.pendingDaemons.set(key, { ws: who.workspace_id, daemon: who.daemon_id, at: now, version: client.version ?? null, os: client.os ?? null });
    }
    return { status: 'ok', runtime_id: runtimeId, runtime_status: row.deregistered_at === null ? 'online' : 'offline' };
  }

  /**
   * Writes the heartbeats seen since the last flush, in one transaction. A failed flush
   * (the database away for a moment) puts its times back for the next one, unless a
   * newer heartbeat came in meanwhile.
   */
  async flush(): Promise<void> {
    if (this.pendingRuntimes.size === 0 && this.pendingDaemons.size === 0) return;
    const runtimes = this.pendingRuntimes;
    const daemons = this.pendingDaemons;
    this.pendingRuntimes = new Map();
    this.pendingDaemons = new Map();
    try {
      await this.db.tx(async (t) => {
        for (const part of chunks([...runtimes].map(([id, at]) => ({ id, at })))) await t.run(this.q.flushRuntimes, [JSON.stringify(part)]);
        for (const part of chunks([...daemons.values()].map((d) => ({ ws: d.ws, daemon: d.daemon, at: d.at, version: d.version, os: d.os })))) {
          await t.run(this.q.flushDaemons, [JSON.stringify(part)]);
        }
      });
    } catch (e) {
      for (const [id, at] of runtimes) if (!this.pendingRuntimes.has(id)) this.pendingRuntimes.set(id, at);
      for (const [k, d] of daemons) if (!this.pendingDaemons.has(k)) this.pendingDaemons.set(k, d);
      this.log(`agentd-platform: heartbeat flush failed (kept for the next one): ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Flushes and stops the flush timer (the platform is closing). */
  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flush();
  }

  /** A stored heartbeat time, or the newer unflushed one. */
  private seen(stored: number | null, pending: number | undefined): number | null {
    if (pending === undefined) return stored;
    return stored === null ? pending : Math.max(stored, pending);
  }

  async deregister(who: DaemonIdentity, body: unknown): Promise<void> {
    const ids = parseBody(DeregisterRequest, body).runtime_ids ?? [];
    await this.db.tx(async (t) => {
      const now = Date.now();
      for (const id of ids) await t.run(this.q.deregisterRuntime, [now, id, who.workspace_id, who.daemon_id]);
      await t.run(this.q.markDaemonDeregistered, [now, who.workspace_id, who.daemon_id]);
    });
  }

  /** Every runtime of the daemon stops receiving tasks; the daemon shows deregistered. */
  async retire(t: Sql, workspaceId: string, daemonId: string): Promise<void> {
    const now = Date.now();
    await t.run(this.q.retireRuntimes, [now, workspaceId, daemonId]);
    await t.run(this.q.retireDaemon, [now, workspaceId, daemonId]);
  }

  /** Ephemeral daemons (any workspace) not heard from since `cutoff` whose credential is still live. */
  ephemeralOfflineSince(t: Sql, cutoff: number): Promise<{ workspace_id: string; daemon_id: string }[]> {
    return t.all<{ workspace_id: string; daemon_id: string }>(this.q.ephemeralGone, [cutoff]);
  }

  /** The caller's live runtimes among `ids`, as {type → id}; unknown, foreign and retired ids are skipped. */
  async liveRuntimeMap(who: DaemonIdentity, ids: readonly string[]): Promise<Map<string, string>> {
    const map = new Map<string, string>();
    for (const id of ids) {
      const r = await this.db.get<RuntimeRow>(this.q.ownedRuntime, [id, who.workspace_id, who.daemon_id]);
      if (r && r.deregistered_at === null && !map.has(r.type)) map.set(r.type, r.id);
    }
    return map;
  }

  /** The runtime if it belongs to this daemon (any state), else 404 `runtime not found`. */
  async requireOwnedRuntime(who: DaemonIdentity, runtimeId: string): Promise<{ id: string; name: string; type: string; deregistered_at: number | null }> {
    const r = await this.db.get<RuntimeRow>(this.q.ownedRuntime, [runtimeId, who.workspace_id, who.daemon_id]);
    if (!r) throw notFound('runtime not found');
    return r;
  }

  async list(workspaceId: string): Promise<DaemonSummary[]> {
    const now = Date.now();
    const fresh = (t: number | null) => t !== null && now - t <= this.offlineAfterMs;
    const byDaemon = new Map<string, RegisteredRuntime[]>();
    for (const r of await this.db.all<RuntimeRow>(this.q.listRuntimes, [workspaceId])) {
      const list = byDaemon.get(r.daemon_id) ?? [];
      list.push({
        id: r.id,
        name: r.name,
        type: r.type,
        version: r.version,
        status: r.deregistered_at === null && fresh(this.seen(r.last_heartbeat_at, this.pendingRuntimes.get(r.id))) ? 'online' : 'offline',
        last_heartbeat_at: iso(this.seen(r.last_heartbeat_at, this.pendingRuntimes.get(r.id))),
        deregistered: r.deregistered_at !== null,
      });
      byDaemon.set(r.daemon_id, list);
    }
    return (await this.db.all<DaemonRow>(this.q.listDaemons, [workspaceId])).map((d) => {
      const p = this.pendingDaemons.get(`${workspaceId}\u0000${d.daemon_id}`);
      const last = this.seen(d.last_heartbeat_at, p?.at);
      return {
        daemon_id: d.daemon_id,
        device_name: d.device_name,
        cli_version: p?.version ?? d.cli_version,
        os: p?.os ?? d.os,
        last_heartbeat_at: iso(last),
        online: d.deregistered_at === null && d.revoked !== 1 && fresh(last),
        revoked: d.revoked === 1,
        deregistered: d.deregistered_at !== null,
        runtimes: byDaemon.get(d.daemon_id) ?? [],
        running_tasks: d.running,
        enrolled_at: iso(d.enrolled_at),
        reenrolled_at: iso(d.reenrolled_at),
        refused_enrolments: d.refused,
        last_refused_enrolment_at: iso(d.refused_at),
        ...(d.ephemeral === 1 ? { ephemeral: true } : {}),
      };
    });
  }
}

/** Rows per flush statement: bounds one statement's text, not the number of statements that matters. */
const FLUSH_ROWS_PER_STATEMENT = 5000;

function chunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += FLUSH_ROWS_PER_STATEMENT) out.push(rows.slice(i, i + FLUSH_ROWS_PER_STATEMENT));
  return out;
}
