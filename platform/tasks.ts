// The task queue: enqueue (operator), atomic batch claim with task-scoped mat_ tokens,
// and the task state machine the daemon drives. Illegal transitions answer 409, like
// Buildkite's fake API server, so a daemon bug shows up as a clear error in tests.
//
//   queued ──claim──▶ claimed ──start──▶ running
//     ▲                 │                  │
//     └──claim lease────┤ (not started in time: the claim answer was probably lost)
//     │                 │                  │
//     │                 ├──complete/fail───┼──▶ completed | failed   (terminal)
//     └─────────────────┴──cancel (operator)──▶ cancelled            (terminal)
//
// Terminal calls on a terminal task (complete, fail, cancel-ack) are 200 no-ops so a
// daemon retrying after a lost response never sees an error. Messages are accepted in
// any state after the claim, including terminal ones: a late batch (posted after a
// cancel, or retried after a timeout) is still output the operator wants to read; seq
// makes the resend idempotent (ON CONFLICT DO NOTHING, first copy wins).
import { randomUUID } from 'node:crypto';
import {
  ClaimRequest,
  CompleteRequest,
  EnqueueTaskRequest,
  FailRequest,
  MAX_CLAIM_TASKS,
  MAX_CLAIM_WAIT_S,
  MessagesRequest,
  ProgressRequest,
  TaskStatusesRequest,
  isTerminalTaskStatus,
  type EnqueueTaskResponse,
  type FailureReason,
  type Task,
  type TaskDetail,
  type TaskMessage,
  type TaskStatus,
} from '../api/types.js';
import { EnqueueAgentTask, type AgentTaskContext, type AgentTaskDetail } from '../api/agents.js';
import {
  CancelAckBody,
  SessionBody,
  UsageBody,
  WaitLocalDirectoryBody,
  type TaskStateAnswer,
} from '../api/multica.js';
import { OutputBodyError, OutputHead, decodeOutputBody, partBytes, type OutputPart } from '../api/output-frames.js';
import type { Agents } from './agents.js';
import { newToken, sha256Hex } from './crypto.js';
import type { Database, Sql, SqlValue } from './sql.js';
import type { TaskOutputFiles } from './task-output-files.js';
import type { DaemonIdentity } from './enrolment.js';
import { HttpError, badRequest, conflict, notFound, parseBody } from './http.js';
import { iso } from './time.js';

/** Multica's prepare lease: each POST …/prepare-lease keeps a claimed task at least this long. */
export const PREPARE_LEASE_MS = 45_000;
/** A LIMIT that takes every row: PostgreSQL refuses SQLite's -1. */
const NO_LIMIT = 2_147_483_647;

/** Who calls a daemon task route: the daemon (mdt_) or the task's own child (mat_). */
export type TaskActor = { kind: 'daemon'; who: DaemonIdentity } | { kind: 'task'; taskId: string };

interface TaskRow {
  seq: number;
  id: string;
  workspace_id: string;
  runtime_name: string;
  prompt: string;
  timeout_s: number | null;
  status: TaskStatus;
  failure_reason: string | null;
  error: string | null;
  output: string | null;
  session_id: string | null;
  work_dir: string | null;
  progress_json: string | null;
  daemon_id: string | null;
  runtime_id: string | null;
  created_at: number;
  claimed_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  cancel_acked_at: number | null;
  message_count: number;
  output_bytes: number;
  agent_id: string | null;
  chat_session_id: string | null;
  chat_message: string | null;
  lease_until: number | null;
  wait_reason: string | null;
}

interface ClaimedRow {
  seq: number;
  id: string;
  workspace_id: string;
  runtime_name: string;
  runtime_id: string;
  prompt: string;
  timeout_s: number | null;
  created_at: number;
  agent_id: string | null;
  chat_session_id: string | null;
  chat_message: string | null;
}

interface UsageTotals {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  reports: number;
}

interface MessageRow {
  seq: number;
  type: string;
  content: string | null;
  tool: string | null;
  input_json: string | null;
  output_json: string | null;
  content_at: number | null;
  content_len: number | null;
}

export class Tasks {
  private readonly q;

  constructor(
    private readonly db: Database,
    private readonly agents: Agents,
    /** Called after a task is queued (wakes long-polling claimers and WebSocket clients). */
    private readonly onEnqueue: (workspaceId: string, runtimeType: string, taskId: string) => Promise<void>,
    /** Called after a claimed or running task was ended by the platform (an operator cancel): its daemon is told. */
    private readonly onEnded: (workspaceId: string, daemonId: string, taskId: string, status: string) => Promise<void> = async () => {},
    /** Where raw output bytes go (an embedded database); null: into the rows (PostgreSQL). */
    private readonly outputFiles: TaskOutputFiles | null = null,
  ) {
    // Where the dialects differ: SQLite's two-argument MAX is PostgreSQL's GREATEST; a
    // JSON array or object parameter is read as rows by json_each in SQLite and by
    // json_array_elements_text / json_each_text in PostgreSQL (the same `key` and
    // `value` columns); the claim skips rows another replica's claim holds locked.
    const pg = db.dialect === 'postgres';
    const greatest = pg ? 'GREATEST' : 'MAX';
    const jsonArray = (p: string) => (pg ? `json_array_elements_text(CAST(${p} AS json))` : `json_each(${p})`);
    const jsonObject = (p: string) => (pg ? `json_each_text(CAST(${p} AS json))` : `json_each(${p})`);
    const skipLocked = pg ? ' FOR UPDATE SKIP LOCKED' : '';
    this.q = {
      insert: `INSERT INTO task (id, workspace_id, runtime_name, prompt, timeout_s, status, created_at, agent_id, chat_session_id, chat_message)
           VALUES (@id, @ws, @runtime, @prompt, @timeout, 'queued', @now, @agent, @session, @message)`,
      byId: 'SELECT * FROM task WHERE id = ?',
      // Batched status: the same visibility as taskFor() (the daemon's own tasks, and
      // queued ones of its workspace), for a JSON array of ids.
      statuses: `SELECT id, status FROM task
           WHERE id IN (SELECT value FROM ${jsonArray('@ids')}) AND workspace_id = @ws
             AND (daemon_id = @daemon OR status = 'queued')`,
      list: 'SELECT * FROM task WHERE workspace_id = ? ORDER BY seq DESC LIMIT ?',
      // The claim: one statement picks the oldest queued tasks for the caller's runtimes
      // and marks them claimed, so a task goes to exactly one claimer. @map is a JSON
      // object {runtime type: runtime id} of the caller's live runtimes (a task's
      // runtime_name is the runtime type, or provider, it asks for).
      // The rows are picked in a MATERIALIZED CTE, run once: as a plain `IN (SELECT …
      // LIMIT n)` PostgreSQL may run the subquery again per row and claim more than n.
      claim: `WITH picked AS MATERIALIZED (
             SELECT seq FROM task
               WHERE workspace_id = @ws AND status = 'queued'
                 AND runtime_name IN (SELECT key FROM ${jsonObject('@map')})
               ORDER BY seq LIMIT @max${skipLocked})
         UPDATE task SET status = 'claimed', claimed_at = @now, daemon_id = @daemon, lease_until = NULL, wait_reason = NULL,
                runtime_id = (SELECT value FROM ${jsonObject('@map')} WHERE key = task.runtime_name)
           WHERE seq IN (SELECT seq FROM picked) AND status = 'queued'
         RETURNING seq, id, workspace_id, runtime_name, runtime_id, prompt, timeout_s, created_at, agent_id, chat_session_id, chat_message`,
      insertToken: 'INSERT INTO task_token (token_hash, task_id, created_at) VALUES (?, ?, ?)',
      revokeTokens: 'UPDATE task_token SET revoked_at = ? WHERE task_id = ? AND revoked_at IS NULL',
      authTask: 'SELECT task_id FROM task_token WHERE token_hash = ? AND revoked_at IS NULL',
      setStatus: `UPDATE task SET status = @to, started_at = COALESCE(@started, started_at), finished_at = COALESCE(@finished, finished_at),
                output = COALESCE(@output, output), session_id = COALESCE(@session, session_id),
                work_dir = COALESCE(@workdir, work_dir), error = COALESCE(@error, error),
                failure_reason = COALESCE(@reason, failure_reason)
           WHERE id = @id AND status = @from`,
      cancelAck: 'UPDATE task SET cancel_acked_at = COALESCE(cancel_acked_at, ?) WHERE id = ?',
      progress: 'UPDATE task SET progress_json = ? WHERE id = ?',
      messages: `SELECT seq, type, content, tool, input_json, output_json, content_at, content_len FROM task_message
           WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
      addMessageCount: 'UPDATE task SET message_count = message_count + ? WHERE id = ?',
      seqsBetween: 'SELECT seq FROM task_message WHERE task_id = ? AND seq BETWEEN ? AND ?',
      addFileMessages: 'UPDATE task SET message_count = message_count + ?, output_bytes = ? WHERE id = ?',
      // Claim lease: a claim whose answer was lost leaves a task nobody runs; one not
      // started within the lease (and past its last prepare lease) goes back to the
      // queue (its mat_ is revoked).
      expiredClaims: `UPDATE task SET status = 'queued', daemon_id = NULL, runtime_id = NULL, claimed_at = NULL, lease_until = NULL, wait_reason = NULL
           WHERE status = 'claimed' AND claimed_at <= @before AND (lease_until IS NULL OR lease_until <= @now)
         RETURNING id, workspace_id, runtime_name`,
      abandoned: `UPDATE task SET status = 'failed', failure_reason = 'orphaned', finished_at = @now,
                error = 'the daemon was enrolled again after its credential was revoked; this task was left unfinished'
           WHERE workspace_id = @ws AND daemon_id = @daemon AND status IN ('claimed', 'running')
         RETURNING id`,
      // Revocation: the daemon can no longer report, so its work ends here, now.
      failRevoked: `UPDATE task SET status = 'failed', failure_reason = 'runtime_offline', finished_at = @now,
                error = 'the machine running this task lost its credential (revoked): it can no longer report'
           WHERE workspace_id = @ws AND daemon_id = @daemon AND status = 'running'
         RETURNING id`,
      requeueRevoked: `UPDATE task SET status = 'queued', daemon_id = NULL, runtime_id = NULL, claimed_at = NULL
           WHERE workspace_id = @ws AND daemon_id = @daemon AND status = 'claimed'
         RETURNING id, workspace_id, runtime_name`,
      lease: `UPDATE task SET lease_until = ${greatest}(COALESCE(lease_until, 0), @until), wait_reason = COALESCE(@reason, wait_reason) WHERE id = @id AND status = 'claimed'`,
      session: 'UPDATE task SET session_id = COALESCE(@session, session_id), work_dir = COALESCE(@workdir, work_dir) WHERE id = @id',
      insertUsage: `INSERT INTO task_usage (task_id, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd_ticks, received_at)
           VALUES (@task, @provider, @model, @input, @output, @cacheRead, @cacheWrite, @cost, @now)`,
      usageTotals: `SELECT COUNT(*) AS reports, COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens,
                COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens, COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens
           FROM task_usage WHERE task_id = ?`,
      bySession: 'SELECT * FROM task WHERE chat_session_id = ? AND workspace_id = ?',
      orphans: `UPDATE task SET status = 'failed', failure_reason = 'orphaned', finished_at = @now,
                error = 'the daemon restarted while this task was claimed or running'
           WHERE runtime_id = @runtime AND daemon_id = @daemon AND status IN ('claimed', 'running')
         RETURNING id`,
    };
  }

  // ------------------------------------------------------------------ operator

  /**
   * Queues a prompt task (`{runtime, prompt}`: agentd's `command` tasks) or an agent task
   * (`{agent_id, chat_message}`: goes to a runtime of the agent's provider).
   */
  async enqueue(workspaceId: string, body: unknown): Promise<EnqueueTaskResponse> {
    const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const id = randomUUID();
    const row = { id, ws: workspaceId, now: Date.now(), agent: null as string | null, session: null as string | null, message: null as string | null, prompt: '', runtime: '', timeout: null as number | null };
    if (o.agent_id !== undefined) {
      const b = parseBody(EnqueueAgentTask, o);
      const agent = await this.agents.get(workspaceId, b.agent_id);
      Object.assign(row, { agent: agent.id, runtime: agent.provider, session: randomUUID(), message: b.chat_message, timeout: b.timeout_s ?? null });
    } else {
      const b = parseBody(EnqueueTaskRequest, o);
      Object.assign(row, { runtime: b.runtime, prompt: b.prompt, timeout: b.timeout_s ?? null });
    }
    await this.db.run(this.q.insert, { ...row });
    await this.onEnqueue(workspaceId, row.runtime, id);
    return { id };
  }

  async list(workspaceId: string, limit = 200): Promise<(TaskDetail & AgentTaskDetail)[]> {
    const rows = await this.db.all<TaskRow>(this.q.list, [workspaceId, limit]);
    const out: (TaskDetail & AgentTaskDetail)[] = [];
    for (const r of rows) out.push(await this.detail(r, []));
    return out;
  }

  /** Task detail with its messages in seq order (`after`/`limit` page through them). */
  async get(workspaceId: string, id: string, page: { after?: number; limit?: number } = {}): Promise<TaskDetail & AgentTaskDetail> {
    const r = await this.db.get<TaskRow>(this.q.byId, [id]);
    if (!r || r.workspace_id !== workspaceId) throw notFound('task not found');
    const rows = await this.db.all<MessageRow>(this.q.messages, [id, page.after ?? -1, page.limit ?? NO_LIMIT]);
    return this.detail(r, this.withFileContent(id, rows).map(toMessage));
  }

  /**
   * Operator cancel. The daemon holding the task is told over its control channel
   * (onEnded, after the commit), and otherwise sees `cancelled` at its next status poll.
   */
  async cancel(workspaceId: string, id: string): Promise<void> {
    const holder = await this.db.tx(async (t) => {
      const r = await t.get<TaskRow>(this.q.byId, [id]);
      if (!r || r.workspace_id !== workspaceId) throw notFound('task not found');
      if (r.status === 'cancelled') return null;
      if (isTerminalTaskStatus(r.status)) throw conflict(`task is already ${r.status}; only a queued, claimed or running task can be cancelled`);
      await this.move(t, r, 'cancelled', { finished: Date.now(), reason: 'cancelled', error: 'cancelled by the operator' });
      return r.daemon_id;
    });
    // Never fails the cancel: it is stored, and the daemon's status poll finds it.
    if (holder !== null) await this.onEnded(workspaceId, holder, id, 'cancelled').catch(() => {});
  }

  private async detail(r: TaskRow, messages: TaskMessage[]): Promise<TaskDetail & AgentTaskDetail> {
    const usage = (await this.db.get<UsageTotals>(this.q.usageTotals, [r.id]))!;
    return {
      agent_id: r.agent_id,
      chat_message: r.chat_message,
      wait_reason: r.wait_reason,
      usage: usage.reports === 0 ? null : usage,
      id: r.id,
      workspace_id: r.workspace_id,
      runtime: r.runtime_name,
      prompt: r.prompt,
      status: r.status,
      failure_reason: r.failure_reason as FailureReason | null,
      error: r.error,
      output: r.output,
      daemon_id: r.daemon_id,
      runtime_id: r.runtime_id,
      timeout_s: r.timeout_s,
      session_id: r.session_id,
      work_dir: r.work_dir,
      progress: r.progress_json === null ? null : (JSON.parse(r.progress_json) as ProgressRequest),
      created_at: iso(r.created_at),
      claimed_at: iso(r.claimed_at),
      started_at: iso(r.started_at),
      finished_at: iso(r.finished_at),
      cancel_acked_at: iso(r.cancel_acked_at),
      message_count: r.message_count,
      messages,
    };
  }

  // ------------------------------------------------------------------ daemon: claim

  /** Validates a batch-claim body; the caller resolves runtime ids to the live-runtime map. */
  static parseClaim(who: DaemonIdentity, body: unknown): { runtimeIds: string[]; max: number; waitMs: number } {
    const b = parseBody(ClaimRequest, body);
    if (b.daemon_id !== undefined && b.daemon_id !== who.daemon_id) throw new HttpError(403, 'daemon_id does not match the daemon token');
    // max_tasks: absent → 1, 0 → nothing, above the cap → the cap (as Multica serves it).
    const max = Math.min(b.max_tasks ?? 1, MAX_CLAIM_TASKS);
    // wait_s is a hint: more than the maximum is served as the maximum.
    const waitS = Math.min(b.wait_s ?? 0, MAX_CLAIM_WAIT_S);
    return { runtimeIds: b.runtime_ids, max, waitMs: Math.round(waitS * 1000) };
  }

  /**
   * Claims up to `max` queued tasks for the caller's runtimes (`runtimeMap`: name → id)
   * and mints one mat_ per task, in one transaction.
   */
  async claim(who: DaemonIdentity, runtimeMap: ReadonlyMap<string, string>, max: number): Promise<Task[]> {
    if (runtimeMap.size === 0 || max <= 0) return [];
    const map = JSON.stringify(Object.fromEntries(runtimeMap));
    return this.db.tx(async (t): Promise<Task[]> => {
      const now = Date.now();
      const rows = await t.all<ClaimedRow>(this.q.claim, { now, daemon: who.daemon_id, ws: who.workspace_id, map, max });
      rows.sort((a, b) => a.seq - b.seq);
      const tasks: Task[] = [];
      for (const r of rows) {
        const token = newToken('mat_');
        await t.run(this.q.insertToken, [sha256Hex(token), r.id, now]);
        const task: Task = {
          id: r.id,
          runtime_id: r.runtime_id,
          workspace_id: r.workspace_id,
          prompt: r.prompt,
          auth_token: token,
          runtime: r.runtime_name,
          created_at: iso(r.created_at),
          raw_output: true,
        };
        if (r.timeout_s !== null) task.timeout_s = r.timeout_s;
        if (r.agent_id !== null) await this.addAgentContext(t, task, r);
        tasks.push(task);
      }
      return tasks;
    });
  }

  /**
   * An agent task is a Multica chat-message task: agent identity, the agent, the chat
   * session and message. `prompt` is dropped (a Multica daemon builds its own input),
   * except for the `command` provider, whose adapter runs the prompt as a command.
   */
  private async addAgentContext(q: Sql, t: Task, r: ClaimedRow): Promise<void> {
    const agent = (await this.agents.forTask(r.agent_id!, q)) ?? { id: r.agent_id!, name: '', instructions: '', custom_env: {}, custom_args: [], skills: [] };
    const ctx: AgentTaskContext = {
      agent_id: r.agent_id!,
      agent,
      issue_id: '',
      chat_session_id: r.chat_session_id ?? r.id,
      chat_message: r.chat_message ?? '',
      repos: [],
    };
    Object.assign(t, ctx);
    if (r.runtime_name === 'command') t.prompt = ctx.chat_message;
    else delete (t as { prompt?: string }).prompt;
  }

  // ------------------------------------------------------------------ daemon: task calls

  /** The task id a mat_ token may act on, if the token is live. */
  async authenticateTaskToken(token: string): Promise<string | undefined> {
    if (!token.startsWith('mat_')) return undefined;
    return (await this.db.get<{ task_id: string }>(this.q.authTask, [sha256Hex(token)]))?.task_id;
  }

  /** The task, if this actor may touch it; 404 `task not found` otherwise (no existence leak). */
  private async taskFor(q: Sql, actor: TaskActor, id: string): Promise<TaskRow> {
    const r = await q.get<TaskRow>(this.q.byId, [id]);
    if (!r) throw notFound('task not found');
    if (actor.kind === 'task') {
      if (actor.taskId !== id) throw notFound('task not found');
    } else if (r.workspace_id !== actor.who.workspace_id || (r.daemon_id !== actor.who.daemon_id && r.status !== 'queued')) {
      // A queued task of the daemon's workspace passes, so that e.g. `complete` on it
      // answers 409 (claim it first); another daemon's task stays invisible.
      throw notFound('task not found');
    }
    return r;
  }

  async status(actor: TaskActor, id: string): Promise<{ status: TaskStatus }> {
    return { status: (await this.taskFor(this.db, actor, id)).status };
  }

  /** Status of many tasks at once (agentd extension); tasks this daemon may not see are left out. */
  async statuses(who: DaemonIdentity, body: unknown): Promise<{ tasks: { id: string; status: TaskStatus }[] }> {
    const ids = parseBody(TaskStatusesRequest, body).task_ids;
    if (ids.length === 0) return { tasks: [] };
    const rows = await this.db.all<{ id: string; status: TaskStatus }>(this.q.statuses, { ids: JSON.stringify(ids), ws: who.workspace_id, daemon: who.daemon_id });
    return { tasks: rows };
  }

  /** claimed → running. Any other state, a second start included, is 400 (as Multica answers). */
  start(actor: TaskActor, id: string): Promise<TaskStateAnswer> {
    return this.db.tx(async (t): Promise<TaskStateAnswer> => {
      const r = await this.taskFor(t, actor, id);
      if (r.status !== 'claimed') throw badRequest(`cannot start a ${r.status} task (only a claimed task can start)`);
      await this.move(t, r, 'running', { started: Date.now() });
      return this.stateAnswer(t, id);
    });
  }

  complete(actor: TaskActor, id: string, body: unknown): Promise<TaskStateAnswer> {
    const b = parseBody(CompleteRequest, body);
    const output = b.output ?? '';
    const session = b.session_id || null;
    const workdir = b.work_dir || null;
    return this.db.tx(async (t): Promise<TaskStateAnswer> => {
      const r = await this.taskFor(t, actor, id);
      if (r.status === 'queued') throw conflict('cannot complete a queued task (claim it first)');
      if (!isTerminalTaskStatus(r.status)) await this.move(t, r, 'completed', { finished: Date.now(), output, session, workdir });
      return this.stateAnswer(t, id);
    });
  }

  fail(actor: TaskActor, id: string, body: unknown): Promise<TaskStateAnswer> {
    const b = parseBody(FailRequest, body);
    const reason = b.failure_reason || 'agent_error';
    const error = b.error ?? '';
    const session = b.session_id || null;
    const workdir = b.work_dir || null;
    return this.db.tx(async (t): Promise<TaskStateAnswer> => {
      const r = await this.taskFor(t, actor, id);
      if (r.status === 'queued') throw conflict('cannot fail a queued task (claim it first)');
      if (!isTerminalTaskStatus(r.status)) await this.move(t, r, 'failed', { finished: Date.now(), reason, error, session, workdir });
      return this.stateAnswer(t, id);
    });
  }

  /** Keeps a claimed task from being queued again for PREPARE_LEASE_MS more (a running one: no-op). */
  prepareLease(actor: TaskActor, runtimeId: string, id: string): Promise<TaskStateAnswer> {
    return this.db.tx(async (t): Promise<TaskStateAnswer> => {
      const r = await this.taskFor(t, actor, id);
      if (r.runtime_id !== runtimeId) throw notFound('task not found');
      if (r.status === 'claimed') await t.run(this.q.lease, { id, until: Date.now() + PREPARE_LEASE_MS, reason: null });
      else if (r.status !== 'running') throw badRequest(`cannot extend the prepare lease of a ${r.status} task`);
      return this.stateAnswer(t, id);
    });
  }

  /** The daemon parks a claimed task on a busy local directory: it stays claimed, with a lease and the reason shown. */
  waitLocalDirectory(actor: TaskActor, id: string, body: unknown): Promise<TaskStateAnswer> {
    const b = parseBody(WaitLocalDirectoryBody, body);
    return this.db.tx(async (t): Promise<TaskStateAnswer> => {
      const r = await this.taskFor(t, actor, id);
      if (r.status !== 'claimed') throw badRequest(`cannot park a ${r.status} task (only a claimed task waits for its directory)`);
      await t.run(this.q.lease, { id, until: Date.now() + PREPARE_LEASE_MS, reason: b.reason || 'waiting for a local directory' });
      return this.stateAnswer(t, id);
    });
  }

  /** Pins the resume pointer mid-run (session id and/or work dir; at least one). */
  async session(actor: TaskActor, id: string, body: unknown): Promise<void> {
    const b = parseBody(SessionBody, body);
    if (!b.session_id && !b.work_dir) throw badRequest('session_id or work_dir is required');
    const r = await this.taskFor(this.db, actor, id);
    if (r.status === 'queued') throw conflict('cannot pin a session on a queued task');
    await this.db.run(this.q.session, { id, session: b.session_id || null, workdir: b.work_dir || null });
  }

  /** Token usage reports (Multica posts them even for a cancelled run). */
  async usage(actor: TaskActor, id: string, body: unknown): Promise<void> {
    const b = parseBody(UsageBody, body);
    await this.db.tx(async (t) => {
      const r = await this.taskFor(t, actor, id);
      if (r.status === 'queued') throw conflict('cannot report usage on a queued task');
      const now = Date.now();
      for (const u of b.usage) {
        await t.run(this.q.insertUsage, {
          task: id,
          provider: u.provider ?? null,
          model: u.model ?? null,
          input: u.input_tokens ?? 0,
          output: u.output_tokens ?? 0,
          cacheRead: u.cache_read_tokens ?? 0,
          cacheWrite: u.cache_write_tokens ?? 0,
          cost: u.cost_usd_ticks ?? null,
          now,
        });
      }
    });
  }

  /** GET …/tasks/{id}/gc-check: may the daemon remove this task's work dir? */
  async gcCheck(actor: TaskActor, id: string): Promise<{ status: string; completed_at: string | null }> {
    const r = await this.taskFor(this.db, actor, id);
    return { status: r.status, completed_at: iso(r.finished_at) };
  }

  /** GET …/chat-sessions/{id}/gc-check: a chat session here is one agent task ("archived" once it ended). */
  async chatSessionGcCheck(who: DaemonIdentity, sessionId: string): Promise<{ status: string; updated_at: string }> {
    const r = await this.db.get<TaskRow>(this.q.bySession, [sessionId, who.workspace_id]);
    if (!r) throw notFound('chat session not found');
    return { status: isTerminalTaskStatus(r.status) ? 'archived' : 'active', updated_at: iso(r.finished_at ?? r.claimed_at ?? r.created_at) };
  }

  private async stateAnswer(q: Sql, id: string): Promise<TaskStateAnswer> {
    const r = (await q.get<TaskRow>(this.q.byId, [id]))!;
    return {
      id: r.id,
      agent_id: r.agent_id ?? '',
      runtime_id: r.runtime_id,
      workspace_id: r.workspace_id,
      issue_id: '',
      status: r.status,
      created_at: iso(r.created_at),
      dispatched_at: iso(r.claimed_at),
      started_at: iso(r.started_at),
      completed_at: iso(r.finished_at),
      prepare_lease_expires_at: iso(r.lease_until),
      error: r.error,
      failure_reason: r.failure_reason,
    };
  }

  async cancelAck(actor: TaskActor, id: string, body: unknown): Promise<void> {
    parseBody(CancelAckBody, body);
    const r = await this.taskFor(this.db, actor, id);
    if (r.status === 'cancelled') await this.db.run(this.q.cancelAck, [Date.now(), id]);
    else if (!isTerminalTaskStatus(r.status)) throw conflict(`task is ${r.status}, not cancelled; nothing to acknowledge`);
  }

  async progress(actor: TaskActor, id: string, body: unknown): Promise<void> {
    const b = parseBody(ProgressRequest, body);
    const p: ProgressRequest = { summary: b.summary ?? '', step: b.step ?? 0, total: b.total ?? 0 };
    const r = await this.taskFor(this.db, actor, id);
    if (r.status === 'queued') throw conflict('cannot report progress on a queued task');
    if (isTerminalTaskStatus(r.status)) return;
    await this.db.run(this.q.progress, [JSON.stringify(p), id]);
  }

  /** Stores a batch; a seq already stored is ignored (resends are idempotent). */
  messages(actor: TaskActor, id: string, body: unknown): Promise<{ accepted: number }> {
    const parsed = parseBody(MessagesRequest, body).messages.map((m) => ({
      seq: m.seq,
      type: m.type,
      content: m.content ?? null,
      tool: m.tool ?? null,
      input: m.input === undefined ? null : JSON.stringify(m.input),
      output: m.output === undefined ? null : JSON.stringify(m.output),
    }));
    return this.store(actor, id, parsed);
  }

  /** Stores raw text output (api/output-frames.ts) as text messages, as `messages` would. */
  output(actor: TaskActor, id: string, body: Buffer | readonly Buffer[]): Promise<{ accepted: number }> {
    let parts: OutputPart[];
    try {
      parts = decodeOutputBody(body, checkOutputHead);
    } catch (err) {
      if (err instanceof OutputBodyError) throw badRequest(err.message);
      throw err;
    }
    if (this.outputFiles !== null) return this.storeInFile(this.outputFiles, actor, id, parts);
    // Invalid UTF-8 becomes U+FFFD, as the JSON route's text would have it.
    const rows = parts.map((p) => ({ seq: p.seq, type: p.type, content: partBytes(p).toString('utf8'), tool: null, input: null, output: null }));
    return this.store(actor, id, rows);
  }

  /**
   * Raw output into the task's file (task-output-files.ts): the parts not stored yet are
   * written at the committed end, then their rows and the new end commit together.
   */
  private storeInFile(files: TaskOutputFiles, actor: TaskActor, id: string, parts: readonly OutputPart[]): Promise<{ accepted: number }> {
    return this.db.tx(async (t) => {
      const r = await this.postableTask(t, actor, id);
      const first = (parts[0] as OutputPart).seq;
      const stored = new Set((await t.all<{ seq: number }>(this.q.seqsBetween, [id, first, first + parts.length - 1])).map((x) => x.seq));
      const fresh = stored.size === 0 ? parts : parts.filter((p) => !stored.has(p.seq));
      if (fresh.length === 0) return { accepted: 0 };
      try {
        files.write(
          id,
          r.output_bytes,
          fresh.flatMap((p) => p.pieces),
        );
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // Nothing is committed: the daemon keeps the batch and sends it again.
        if (code === 'ENOSPC' || code === 'EDQUOT') throw new HttpError(503, `the platform's disk is full: task output cannot be stored (free space under ${files.dir})`);
        throw e;
      }
      const now = Date.now();
      let at = r.output_bytes;
      for (let i = 0; i < fresh.length; i += MESSAGE_ROWS_PER_INSERT) {
        const rows = fresh.slice(i, i + MESSAGE_ROWS_PER_INSERT);
        const params: SqlValue[] = [];
        for (const p of rows) {
          params.push(id, p.seq, p.type, now, at, p.length);
          at += p.length;
        }
        await t.run(insertFileMessages(rows.length), params);
      }
      await t.run(this.q.addFileMessages, [fresh.length, at, id]);
      return { accepted: fresh.length };
    });
  }

  /** The task messages are posted for: any state after the claim. */
  private async postableTask(t: Sql, actor: TaskActor, id: string): Promise<TaskRow> {
    const r = await this.taskFor(t, actor, id);
    if (r.status === 'queued') throw conflict('cannot post messages for a queued task');
    return r;
  }

  /** Rows whose content is in the task's output file, with the content read into them. */
  private withFileContent(id: string, rows: MessageRow[]): MessageRow[] {
    const inFile = rows.filter((m) => m.content_at !== null);
    if (inFile.length === 0 || this.outputFiles === null) return rows;
    const bytes = this.outputFiles.read(
      id,
      inFile.map((m) => ({ at: m.content_at as number, len: m.content_len ?? 0 })),
    );
    inFile.forEach((m, i) => (m.content = (bytes[i] as Buffer).toString('utf8')));
    return rows;
  }

  private store(actor: TaskActor, id: string, parsed: readonly MessageInsert[]): Promise<{ accepted: number }> {
    return this.db.tx(async (t) => {
      const r = await this.postableTask(t, actor, id);
      const now = Date.now();
      let accepted = 0;
      // Rows per INSERT: one statement, not one round trip, per row (PostgreSQL); 8
      // parameters a row stays far below either database's parameter limit.
      for (let i = 0; i < parsed.length; i += MESSAGE_ROWS_PER_INSERT) {
        const rows = parsed.slice(i, i + MESSAGE_ROWS_PER_INSERT);
        const params = rows.flatMap((m) => [id, m.seq, m.type, m.content, m.tool, m.input, m.output, now]);
        accepted += (await t.run(insertMessages(rows.length), params)).changes;
      }
      if (accepted > 0) await t.run(this.q.addMessageCount, [accepted, id]);
      return { accepted };
    });
  }

  /** Requeues tasks claimed at or before `claimedBefore` and never started; returns them. */
  async requeueExpiredClaims(t: Sql, claimedBefore: number): Promise<{ id: string; workspace_id: string; runtime_name: string }[]> {
    const now = Date.now();
    const rows = await t.all<{ id: string; workspace_id: string; runtime_name: string }>(this.q.expiredClaims, { before: claimedBefore, now });
    for (const r of rows) await t.run(this.q.revokeTokens, [now, r.id]);
    return rows;
  }

  /**
   * The daemons just lost their credential: their running tasks fail with
   * runtime_offline, their claimed-but-not-started ones go back to the queue (another
   * machine may take them), and every mat_ of those tasks is revoked. Runs in the
   * revocation's transaction `t`.
   */
  async endForRevoked(
    t: Sql,
    workspaceId: string,
    daemonIds: readonly string[],
  ): Promise<{ failed: string[]; requeued: { id: string; workspace_id: string; runtime_name: string }[] }> {
    const now = Date.now();
    const failed: string[] = [];
    const requeued: { id: string; workspace_id: string; runtime_name: string }[] = [];
    for (const daemon of daemonIds) {
      for (const r of await t.all<{ id: string }>(this.q.failRevoked, { now, ws: workspaceId, daemon })) failed.push(r.id);
      requeued.push(...(await t.all<{ id: string; workspace_id: string; runtime_name: string }>(this.q.requeueRevoked, { ws: workspaceId, daemon })));
    }
    for (const id of [...failed, ...requeued.map((r) => r.id)]) await t.run(this.q.revokeTokens, [now, id]);
    return { failed, requeued };
  }

  /** Fails what a previous daemon process left claimed or running on this runtime. */
  recoverOrphans(who: DaemonIdentity, runtimeId: string): Promise<{ recovered: number }> {
    return this.db.tx(async (t) => {
      const now = Date.now();
      const ids = await t.all<{ id: string }>(this.q.orphans, { now, runtime: runtimeId, daemon: who.daemon_id });
      for (const { id } of ids) await t.run(this.q.revokeTokens, [now, id]);
      return { recovered: ids.length };
    });
  }

  /**
   * Fails every unfinished task of a daemon id that is being handed to a new enrolment
   * without proof (it was revoked), and revokes their mat_ tokens. Runs inside the
   * caller's transaction `t`.
   */
  async abandonTasksOf(t: Sql, workspaceId: string, daemonId: string): Promise<number> {
    const now = Date.now();
    const ids = await t.all<{ id: string }>(this.q.abandoned, { now, ws: workspaceId, daemon: daemonId });
    for (const { id } of ids) await t.run(this.q.revokeTokens, [now, id]);
    return ids.length;
  }

  /** One guarded state change; a terminal state revokes the task's mat_ tokens. */
  private async move(
    t: Sql,
    r: TaskRow,
    to: TaskStatus,
    f: { started?: number; finished?: number; output?: string; session?: string | null; workdir?: string | null; error?: string; reason?: string },
  ): Promise<void> {
    const res = await t.run(this.q.setStatus, {
      id: r.id,
      from: r.status,
      to,
      started: f.started ?? null,
      finished: f.finished ?? null,
      output: f.output ?? null,
      session: f.session ?? null,
      workdir: f.workdir ?? null,
      error: f.error ?? null,
      reason: f.reason ?? null,
    });
    if (res.changes !== 1) throw conflict(`task changed state concurrently (was ${r.status})`);
    if (isTerminalTaskStatus(to)) await t.run(this.q.revokeTokens, [f.finished ?? Date.now(), r.id]);
  }
}

interface MessageInsert {
  seq: number;
  type: string;
  content: string | null;
  tool: string | null;
  input: string | null;
  output: string | null;
}

const insertFileMessagesSql: string[] = [];
/** The INSERT of `rows` messages whose content is in the task's output file. */
function insertFileMessages(rows: number): string {
  return (insertFileMessagesSql[rows] ??=
    'INSERT INTO task_message (task_id, seq, type, received_at, content_at, content_len) VALUES ' + Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?)').join(', '));
}

const checkOutputHead = (v: unknown): OutputHead => parseBody(OutputHead, v, 'output head line');

const MESSAGE_ROWS_PER_INSERT = 100;
const insertMessagesSql: string[] = [];
/** The INSERT of `rows` messages; a seq already stored is skipped (first copy wins). */
function insertMessages(rows: number): string {
  return (insertMessagesSql[rows] ??=
    'INSERT INTO task_message (task_id, seq, type, content, tool, input_json, output_json, received_at) VALUES ' +
    Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ') +
    ' ON CONFLICT (task_id, seq) DO NOTHING');
}

function toMessage(r: MessageRow): TaskMessage {
  const m: TaskMessage = { seq: r.seq, type: r.type };
  if (r.content !== null) m.content = r.content;
  if (r.tool !== null) m.tool = r.tool;
  if (r.input_json !== null) m.input = JSON.parse(r.input_json) as unknown;
  if (r.output_json !== null) m.output = JSON.parse(r.output_json) as unknown;
  return m;
}
