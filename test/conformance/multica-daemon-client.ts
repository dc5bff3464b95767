// A client that behaves as Multica's Go daemon does toward its server, written from the
// reference notes on Multica's daemon wire (routes, headers, bodies, the task life) and
// its documented behaviour, not from agentd's code: nothing here imports agentd's
// client, types or platform. The conformance tests drive it against a real
// agentd-platform, so "a Multica daemon works against our platform" is checked by a
// peer that does not share our assumptions.
//
// What it does as the Go daemon does:
//   - every request carries Authorization: Bearer <token>, X-Client-Platform: daemon,
//     X-Client-Version, X-Client-OS, X-Client-Capabilities; a status ≥ 400 becomes a
//     RequestError whose body the caller matches by substring ("runtime not found");
//   - workspace sync with If-None-Match / ETag (304 = unchanged);
//   - register per workspace with free-text names "<Provider> (<device>)", type = provider,
//     legacy_daemon_ids, launched_by, failed_profiles: [];
//   - batch claim on /api/daemon/tasks/claim, falling back to the per-runtime legacy claim
//     when the batch route answers 404;
//   - the task life of handleTask/runTask: identity check (agent.id == agent_id, a mat_
//     token; else fail with invalid_task_identity before /start), prepare-lease while
//     preparing, /start, /progress "Launching…", /messages in Multica's vocabulary,
//     /session when the agent names a session, /usage, /progress "Finishing task", a
//     status re-check (terminal → cancel-ack), then /complete or /fail;
//   - the WebSocket control channel /api/daemon/ws?runtime_ids=… with {type,payload} frames.
import WebSocket from 'ws';

export const CAPABILITIES = 'skill-bundles-v1,coalesced-comments-v1,execution-manifest-v1,agent-skill-v1,remote-mcp-v1,local-worktree-v1,rpc-v1';
/** Multica's message vocabulary: the only types its daemon sends. */
export const MULTICA_MESSAGE_TYPES = ['text', 'thinking', 'tool_use', 'tool_result', 'error'] as const;

export class RequestError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly statusCode: number,
    /** Up to 4 KB of trimmed body text, as the Go client keeps it. */
    readonly body: string,
  ) {
    super(`${method} ${path}: ${statusCode} ${body}`);
    this.name = 'RequestError';
  }
}

export interface RuntimeEntry {
  name: string;
  type: string;
  version: string;
  status: 'online' | 'offline';
}

export interface MulticaTask {
  id: string;
  agent_id?: string;
  runtime_id: string;
  issue_id?: string;
  workspace_id: string;
  auth_token?: string;
  agent?: { id: string; name?: string; instructions?: string; custom_env?: Record<string, string>; custom_args?: string[]; model?: string; skills?: unknown[] };
  chat_session_id?: string;
  chat_message?: string;
  repos?: unknown[];
  [extra: string]: unknown;
}

export interface DaemonOptions {
  serverUrl: string;
  token: string;
  daemonId: string;
  deviceName: string;
  cliVersion?: string;
  legacyDaemonIds?: string[];
}

/** One JSON answer: status, parsed body (or undefined), headers. */
export interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export class MulticaDaemonClient {
  private workspacesEtag: string | undefined;
  private seq = 0;

  constructor(readonly o: DaemonOptions) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      authorization: `Bearer ${this.o.token}`,
      'x-client-platform': 'daemon',
      'x-client-version': this.o.cliVersion ?? '0.9.99',
      'x-client-os': 'linux',
      'x-client-capabilities': CAPABILITIES,
      ...extra,
    };
  }

  /** One call; a status ≥ 400 throws RequestError (as the Go client's requestError). */
  async request<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Answer<T>> {
    const res = await fetch(this.o.serverUrl + path, {
      method,
      headers: this.headers(method === 'POST' ? { 'content-type': 'application/json', ...extra } : extra),
      body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
    });
    const text = await res.text();
    if (res.status >= 400) throw new RequestError(method, path, res.status, text.trim().slice(0, 4096));
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
  }

  // ------------------------------------------------------------------ workspace sync

  /** GET /api/daemon/workspaces with the last ETag; `changed` false on 304. */
  async syncWorkspaces(): Promise<{ changed: boolean; workspaces?: { id: string; name: string }[]; etag?: string }> {
    const extra: Record<string, string> = this.workspacesEtag ? { 'if-none-match': this.workspacesEtag } : {};
    const a = await this.request<{ id: string; name: string }[] | undefined>('GET', '/api/daemon/workspaces', undefined, extra);
    if (a.status === 304) return { changed: false };
    this.workspacesEtag = a.headers.get('etag') ?? undefined;
    return { changed: true, workspaces: a.body, etag: this.workspacesEtag };
  }

  repos(ws: string) {
    return this.request<{ workspace_id: string; repos: unknown[]; repos_version: string; settings: unknown }>('GET', `/api/daemon/workspaces/${ws}/repos`);
  }

  runtimeProfiles(ws: string) {
    return this.request<{ workspace_id: string; runtime_profiles: unknown[] }>('GET', `/api/daemon/workspaces/${ws}/runtime-profiles`);
  }

  // ------------------------------------------------------------------ runtimes

  /** The Go daemon's built-in runtime entry: "<Provider> (<device>)", type = provider. */
  builtin(provider: string, version = '1.0.0'): RuntimeEntry {
    const display = provider.charAt(0).toUpperCase() + provider.slice(1);
    return { name: `${display} (${this.o.deviceName})`, type: provider, version, status: 'online' };
  }

  register(workspaceId: string, runtimes: RuntimeEntry[]) {
    return this.request<{
      runtimes: { id: string; name: string; provider: string; status: string }[];
      repos: unknown[];
      repos_version: string;
      settings: unknown;
    }>('POST', '/api/daemon/register', {
      workspace_id: workspaceId,
      daemon_id: this.o.daemonId,
      legacy_daemon_ids: this.o.legacyDaemonIds ?? [],
      device_name: this.o.deviceName,
      cli_version: this.o.cliVersion ?? '0.9.99',
      launched_by: '',
      runtimes,
      failed_profiles: [],
    });
  }

  heartbeat(runtimeId: string) {
    return this.request<{ status: string }>('POST', '/api/daemon/heartbeat', { runtime_id: runtimeId, supports_batch_import: true });
  }

  deregister(runtimeIds: string[]) {
    return this.request<{ status: string }>('POST', '/api/daemon/deregister', { runtime_ids: runtimeIds });
  }

  recoverOrphans(runtimeId: string) {
    return this.request<{ orphaned: number; retried: number }>('POST', `/api/daemon/runtimes/${runtimeId}/recover-orphans`, {});
  }

  // ------------------------------------------------------------------ claims

  /** Batch claim; on 404 (no batch route) one legacy claim per runtime, as the Go poller does. */
  async claim(runtimeIds: string[], maxTasks: number, path = '/api/daemon/tasks/claim'): Promise<{ tasks: MulticaTask[]; legacy: boolean }> {
    try {
      const a = await this.request<{ tasks: MulticaTask[] }>('POST', path, { daemon_id: this.o.daemonId, runtime_ids: runtimeIds, max_tasks: maxTasks });
      return { tasks: a.body.tasks, legacy: false };
    } catch (e) {
      if (!(e instanceof RequestError) || e.statusCode !== 404) throw e;
      const tasks: MulticaTask[] = [];
      for (const id of runtimeIds) {
        const t = await this.claimLegacy(id);
        if (t) tasks.push(t);
      }
      return { tasks, legacy: true };
    }
  }

  async claimLegacy(runtimeId: string): Promise<MulticaTask | null> {
    return (await this.request<{ task: MulticaTask | null }>('POST', `/api/daemon/runtimes/${runtimeId}/tasks/claim`, {})).body.task;
  }

  // ------------------------------------------------------------------ task calls

  prepareLease(runtimeId: string, taskId: string) {
    return this.request<Record<string, unknown>>('POST', `/api/daemon/runtimes/${runtimeId}/tasks/${taskId}/prepare-lease`, {});
  }
  start(taskId: string) {
    return this.request<Record<string, unknown>>('POST', `/api/daemon/tasks/${taskId}/start`, {});
  }
  waitLocalDirectory(taskId: string, reason: string) {
    return this.request<Record<string, unknown>>('POST', `/api/daemon/tasks/${taskId}/wait-local-directory`, { reason });
  }
  progress(taskId: string, summary: string, step: number, total: number) {
    return this.request<{ status: string }>('POST', `/api/daemon/tasks/${taskId}/progress`, { summary, step, total });
  }
  /** One flush of grouped messages; seq increases per task (the Go daemon's TaskMessageData). */
  messages(taskId: string, batch: { type: (typeof MULTICA_MESSAGE_TYPES)[number]; content?: string; tool?: string; input?: Record<string, unknown>; output?: string }[]) {
    return this.request<{ status: string }>('POST', `/api/daemon/tasks/${taskId}/messages`, { messages: batch.map((m) => ({ seq: ++this.seq, ...m })) });
  }
  session(taskId: string, body: { session_id?: string; work_dir?: string }) {
    return this.request<{ status: string }>('POST', `/api/daemon/tasks/${taskId}/session`, body);
  }
  usage(taskId: string, usage: Record<string, unknown>[]) {
    return this.request<{ status: string }>('POST', `/api/daemon/tasks/${taskId}/usage`, { usage });
  }
  complete(taskId: string, body: { output: string; session_id?: string; work_dir?: string; branch_name?: string }) {
    return this.request<Record<string, unknown>>('POST', `/api/daemon/tasks/${taskId}/complete`, body);
  }
  fail(taskId: string, body: { error: string; failure_reason?: string; session_id?: string; work_dir?: string }) {
    return this.request<Record<string, unknown>>('POST', `/api/daemon/tasks/${taskId}/fail`, body);
  }
  cancelAck(taskId: string) {
    return this.request<{ status: string }>('POST', `/api/daemon/tasks/${taskId}/cancel-ack`, {});
  }
  async status(taskId: string): Promise<string> {
    return (await this.request<{ status: string }>('GET', `/api/daemon/tasks/${taskId}/status`)).body.status;
  }

  // ------------------------------------------------------------------ the task life

  /** taskScopedAuthToken + the agent identity check the Go daemon runs before /start. */
  static identityProblem(t: MulticaTask): string | undefined {
    if (typeof t.auth_token !== 'string' || !t.auth_token.startsWith('mat_')) return 'task has no task-scoped token';
    if (!t.agent || !t.agent_id || t.agent.id !== t.agent_id) return 'task agent identity does not match agent_id';
    return undefined;
  }

  /** The chat prompt the daemon builds: agent instructions and the user's message (a chat task: chat_session_id set, no issue). */
  static chatPrompt(t: MulticaTask): string {
    if (!t.chat_session_id || t.issue_id) throw new Error('not a chat task');
    return [t.agent?.instructions ?? '', `User message:\n${t.chat_message ?? ''}`].filter(Boolean).join('\n\n');
  }

  /**
   * handleTask/runTask for one claimed task. `prepare` stands for the daemon's preparation
   * (skills, work dir, brief files): it runs while a prepare-lease is renewed every
   * `leaseEveryMs` (15 s in the Go daemon). `agent` stands for the backend: it gets the
   * prompt and returns what the run produced.
   */
  async runTask(
    t: MulticaTask,
    o: {
      prepare?: () => Promise<void>;
      leaseEveryMs?: number;
      agent: (prompt: string) => Promise<{ output: string; sessionId?: string; failed?: { error: string; reason: string } }>;
    },
  ): Promise<{ outcome: 'completed' | 'failed' | 'cancelled'; leases: number; prompt?: string }> {
    const problem = MulticaDaemonClient.identityProblem(t);
    if (problem) {
      await this.fail(t.id, { error: problem, failure_reason: 'invalid_task_identity' });
      return { outcome: 'failed', leases: 0 };
    }
    let leases = 0;
    let leasing = true;
    const leaseLoop = (async () => {
      while (leasing) {
        await this.prepareLease(t.runtime_id, t.id);
        leases++;
        await new Promise((r) => setTimeout(r, o.leaseEveryMs ?? 15_000));
      }
    })();
    try {
      await o.prepare?.();
    } finally {
      leasing = false;
    }
    await leaseLoop;
    await this.start(t.id);
    const provider = 'agent';
    await this.progress(t.id, `Launching ${provider}`, 1, 2);
    const prompt = MulticaDaemonClient.chatPrompt(t);
    const r = await o.agent(prompt);
    await this.messages(t.id, [
      { type: 'thinking', content: 'reading the message' },
      { type: 'tool_use', tool: 'Bash', input: { command: 'ls' } },
      { type: 'tool_result', tool: 'Bash', output: 'README.md' },
      { type: 'text', content: r.output },
    ]);
    if (r.sessionId) await this.session(t.id, { session_id: r.sessionId, work_dir: `/tmp/multica/${t.workspace_id}/${t.id.slice(-12)}/workdir` });
    await this.usage(t.id, [{ provider: 'anthropic', model: 'claude-sonnet', input_tokens: 120, output_tokens: 30, cache_read_tokens: 7, cache_write_tokens: 3 }]);
    await this.progress(t.id, 'Finishing task', 2, 2);
    const now = await this.status(t.id);
    if (now === 'cancelled' || now === 'completed' || now === 'failed') {
      await this.cancelAck(t.id);
      return { outcome: 'cancelled', leases, prompt };
    }
    if (r.failed) {
      await this.messages(t.id, [{ type: 'error', content: r.failed.error }]);
      await this.fail(t.id, { error: r.failed.error, failure_reason: r.failed.reason, session_id: r.sessionId });
      return { outcome: 'failed', leases, prompt };
    }
    await this.complete(t.id, { output: r.output, session_id: r.sessionId });
    return { outcome: 'completed', leases, prompt };
  }

  // ------------------------------------------------------------------ WebSocket

  /** Opens /api/daemon/ws?runtime_ids=… with the same headers (ws→http base, as NormalizeServerBaseURL). */
  connect(runtimeIds: string[]): Promise<WakeupChannel> {
    const base = this.o.serverUrl.replace(/^http/, 'ws');
    const ws = new WebSocket(`${base}/api/daemon/ws?runtime_ids=${runtimeIds.join(',')}`, { headers: this.headers() });
    const channel = new WakeupChannel(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(channel));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString()));
        res.on('end', () => reject(new RequestError('GET', '/api/daemon/ws', res.statusCode ?? 0, body.trim())));
      });
      ws.once('error', reject);
    });
  }
}

export interface Frame {
  type: string;
  payload: Record<string, unknown>;
}

/** The daemon's side of the control channel: frames in arrival order, waits by condition. */
export class WakeupChannel {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves with the first frame (after index `from`) that matches; rejects if the socket closes first. */
  next(pred: (f: Frame) => boolean, from = 0): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = this.frames.slice(from).find(pred);
        if (f) {
          this.waiters.delete(check);
          resolve(f);
        } else if (this.closed) {
          this.waiters.delete(check);
          reject(new Error(`socket closed (${this.closed.code} ${this.closed.reason}) before the frame came`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  untilClosed(): Promise<{ code: number; reason: string }> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.closed) {
          this.waiters.delete(check);
          resolve(this.closed);
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  send(type: string, payload: unknown): void {
    this.ws.send(JSON.stringify({ type, payload }));
  }

  /** daemon:heartbeat, then the daemon:heartbeat_ack for that runtime. */
  async heartbeat(runtimeId: string): Promise<Frame> {
    const from = this.frames.length;
    this.send('daemon:heartbeat', { runtime_id: runtimeId, supports_batch_import: true });
    return this.next((f) => f.type === 'daemon:heartbeat_ack' && f.payload.runtime_id === runtimeId, from);
  }

  close(): void {
    this.ws.close();
  }
}
