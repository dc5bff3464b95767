// Revocation, every way it happens: one daemon (operator), the whole workspace
// (operator, e.g. after a compromise or before a migration), by rotation, by the daemon
// itself (`agentd uninstall`), and the ephemeral sweep. Each runs in ONE transaction
// that revokes the credentials and ends the daemons' work: a revoked daemon cannot
// report any more, so its running tasks fail at once with runtime_offline and its
// claimed-but-not-started ones go back to the queue, instead of showing `running` until
// that daemon restarts.
import type { ConnectionInfo, RevocationOutcome, RevokeTokensResponse } from '../api/types.js';
import type { Database, Sql } from './sql.js';
import type { Daemons } from './daemons.js';
import type { DaemonIdentity, Enrolment } from './enrolment.js';
import { HttpError } from './http.js';
import type { Tasks } from './tasks.js';

type Requeued = { workspace_id: string; runtime_name: string }[];

export class Revocation {
  constructor(
    private readonly db: Database,
    private readonly enrolment: Enrolment,
    private readonly daemons: Daemons,
    private readonly tasks: Tasks,
    /** A requeued task wakes the claimers of its runtime (on every replica). */
    private readonly onRequeue: (workspaceId: string, runtimeName: string) => Promise<void>,
  ) {}

  /** POST …/daemons/{daemon}/revoke: idempotent. */
  revokeDaemon(workspaceId: string, daemonId: string): Promise<RevocationOutcome> {
    return this.run(async (t, requeued) => {
      await this.enrolment.revoke(t, workspaceId, daemonId);
      return this.end(t, requeued, workspaceId, [daemonId]);
    });
  }

  /** POST …/revoke-tokens: every live credential of the workspace; a repeat answers revoked 0. */
  async revokeWorkspace(workspaceId: string): Promise<RevokeTokensResponse> {
    // Before the transaction: 404/400 are answers, not database errors.
    await this.enrolment.requireWorkspace(workspaceId);
    try {
      return await this.run(async (t, requeued) => {
        const ids = await this.enrolment.revokeWorkspace(t, workspaceId);
        return { revoked: ids.length, ...(await this.end(t, requeued, workspaceId, ids)) };
      });
    } catch (e) {
      if (e instanceof HttpError) throw e;
      // The transaction rolled back: say so, and that calling again is safe.
      const code = (e as { code?: unknown }).code;
      throw new HttpError(500, `database error${typeof code === 'string' ? ` (${code})` : ''}: nothing was revoked; call again (it is idempotent)`);
    }
  }

  /** POST …/daemons/{daemon}/rotate: the old credential is revoked and its work ended, a new one minted. */
  rotate(workspaceId: string, daemonId: string, platformUrl: string): Promise<ConnectionInfo & RevocationOutcome> {
    return this.run(async (t, requeued) => {
      const info = await this.enrolment.rotate(t, workspaceId, daemonId, platformUrl);
      return { ...info, ...(await this.end(t, requeued, workspaceId, [daemonId])) };
    });
  }

  /** POST /api/daemon/revoke: the daemon gives up its own credential (uninstall). */
  revokeSelf(who: DaemonIdentity): Promise<RevocationOutcome> {
    return this.run(async (t, requeued) => {
      await this.enrolment.revoke(t, who.workspace_id, who.daemon_id);
      await this.daemons.retire(t, who.workspace_id, who.daemon_id);
      return this.end(t, requeued, who.workspace_id, [who.daemon_id]);
    });
  }

  /** The ephemeral sweep, in the caller's transaction: daemons silent for `offlineMs` are revoked and deregistered. */
  async expireEphemeral(t: Sql, offlineMs: number): Promise<{ gone: { workspace_id: string; daemon_id: string }[]; requeued: Requeued }> {
    const requeued: Requeued = [];
    const gone = await this.daemons.ephemeralOfflineSince(t, Date.now() - offlineMs);
    for (const d of gone) {
      await this.enrolment.revoke(t, d.workspace_id, d.daemon_id);
      await this.daemons.retire(t, d.workspace_id, d.daemon_id);
      await this.end(t, requeued, d.workspace_id, [d.daemon_id]);
    }
    return { gone, requeued };
  }

  /** Claimers of the requeued tasks' runtimes are woken (after the commit). */
  async wake(requeued: Requeued): Promise<void> {
    for (const r of requeued) await this.onRequeue(r.workspace_id, r.runtime_name);
  }

  private async end(t: Sql, requeued: Requeued, workspaceId: string, daemonIds: readonly string[]): Promise<RevocationOutcome> {
    const out = await this.tasks.endForRevoked(t, workspaceId, daemonIds);
    requeued.push(...out.requeued);
    return { tasks_failed: out.failed.length, tasks_requeued: out.requeued.length };
  }

  /** One transaction; claimers are woken only once it committed. */
  private async run<T>(fn: (t: Sql, requeued: Requeued) => Promise<T>): Promise<T> {
    let requeued: Requeued = [];
    const out = await this.db.tx((t) => {
      requeued = []; // a retried transaction starts again
      return fn(t, requeued);
    });
    await this.wake(requeued);
    return out;
  }
}
