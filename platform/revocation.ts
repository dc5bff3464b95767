// Revocation, every way it happens: one daemon (operator), the whole workspace
// (operator, e.g. after a compromise or before a migration), by rotation, by the daemon
// itself (`agentd uninstall`), and the ephemeral sweep. Each runs in ONE transaction
// that revokes the credentials and ends the daemons' work: a revoked daemon cannot
// report any more, so its running tasks fail at once with runtime_offline and its
// claimed-but-not-started ones go back to the queue, instead of showing `running` until
// that daemon restarts.
import type { ConnectionInfo, RevocationOutcome, RevokeTokensResponse } from '../api/types.js';
import type { DB } from './db.js';
import type { Daemons } from './daemons.js';
import type { DaemonIdentity, Enrolment } from './enrolment.js';
import { HttpError } from './http.js';
import type { Tasks } from './tasks.js';

export class Revocation {
  constructor(
    private readonly db: DB,
    private readonly enrolment: Enrolment,
    private readonly daemons: Daemons,
    private readonly tasks: Tasks,
    /** A requeued task wakes the claimers of its runtime. */
    private readonly onRequeue: (workspaceId: string, runtimeName: string) => void,
  ) {}

  /** POST …/daemons/{daemon}/revoke: idempotent. */
  revokeDaemon(workspaceId: string, daemonId: string): RevocationOutcome {
    return this.run(() => {
      this.enrolment.revoke(workspaceId, daemonId);
      return this.end(workspaceId, [daemonId]);
    });
  }

  /** POST …/revoke-tokens: every live credential of the workspace; a repeat answers revoked 0. */
  revokeWorkspace(workspaceId: string): RevokeTokensResponse {
    // Before the transaction: 404/400 are answers, not database errors.
    this.enrolment.requireWorkspace(workspaceId);
    try {
      return this.run(() => {
        const ids = this.enrolment.revokeWorkspace(workspaceId);
        return { revoked: ids.length, ...this.end(workspaceId, ids) };
      });
    } catch (e) {
      if (e instanceof HttpError) throw e;
      // The transaction rolled back: say so, and that calling again is safe.
      const code = (e as { code?: unknown }).code;
      throw new HttpError(500, `database error${typeof code === 'string' ? ` (${code})` : ''}: nothing was revoked; call again (it is idempotent)`);
    }
  }

  /** POST …/daemons/{daemon}/rotate: the old credential is revoked and its work ended, a new one minted. */
  rotate(workspaceId: string, daemonId: string, platformUrl: string): ConnectionInfo & RevocationOutcome {
    return this.run(() => {
      const info = this.enrolment.rotate(workspaceId, daemonId, platformUrl);
      return { ...info, ...this.end(workspaceId, [daemonId]) };
    });
  }

  /** POST /api/daemon/revoke: the daemon gives up its own credential (uninstall). */
  revokeSelf(who: DaemonIdentity): RevocationOutcome {
    return this.run(() => {
      this.enrolment.revoke(who.workspace_id, who.daemon_id);
      this.daemons.retire(who.workspace_id, who.daemon_id);
      return this.end(who.workspace_id, [who.daemon_id]);
    });
  }

  /** The ephemeral sweep: daemons silent for `offlineMs` are revoked and deregistered. */
  expireEphemeral(offlineMs: number): { workspace_id: string; daemon_id: string }[] {
    return this.run(() => {
      const gone = this.daemons.ephemeralOfflineSince(Date.now() - offlineMs);
      for (const d of gone) {
        this.enrolment.revoke(d.workspace_id, d.daemon_id);
        this.daemons.retire(d.workspace_id, d.daemon_id);
        this.end(d.workspace_id, [d.daemon_id]);
      }
      return gone;
    });
  }

  private pending: { workspace_id: string; runtime_name: string }[] = [];

  private end(workspaceId: string, daemonIds: readonly string[]): RevocationOutcome {
    const { failed, requeued } = this.tasks.endForRevoked(workspaceId, daemonIds);
    this.pending.push(...requeued);
    return { tasks_failed: failed.length, tasks_requeued: requeued.length };
  }

  /** One transaction; claimers are woken only once it committed. */
  private run<T>(fn: () => T): T {
    this.pending = [];
    const out = this.db.transaction(fn)();
    const wake = this.pending;
    this.pending = [];
    for (const t of wake) this.onRequeue(t.workspace_id, t.runtime_name);
    return out;
  }
}
