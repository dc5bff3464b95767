// The operator's API client (fetch-based, no dependencies): used by tests, the demo,
// the benchmarks and the web page's logic. Every failure is an AdminApiError: the HTTP
// status and the platform's `error` string, or status 0 when no complete answer came
// (unreachable, reset mid-body, no headers within the timeout); a 2xx whose body is not
// JSON is one too, never a silent undefined. Never a token in a message.
// test/unit/admin-client.test.ts produces those edges with nock.
import type { Agent, AgentCreate, AgentTaskDetail, AgentUpdate, EnqueueAgentTask } from '../api/agents.js';
import type {
  ConnectionInfo,
  CreateInstallTokenRequest,
  DaemonSummary,
  EnqueueTaskRequest,
  EnqueueTaskResponse,
  InstallTokenCreated,
  InstallTokenSummary,
  RevocationOutcome,
  RevokeTokensResponse,
  TaskDetail,
  Workspace,
} from '../api/types.js';

export class AdminApiError extends Error {
  constructor(
    /** 0: no complete answer (see `error`). */
    readonly status: number,
    /** The platform's `error` field (e.g. "task not found"), the status text, or what went wrong on the way. */
    readonly error: string,
    readonly route: string,
    cause?: unknown,
  ) {
    super(`${route} → ${status === 0 ? 'no answer' : status}: ${error}`, cause === undefined ? undefined : { cause });
    this.name = 'AdminApiError';
  }
}

/** Default bound on one call, headers and body (the web page polls every 2 s; tests must not hang on a stuck peer). */
export const ADMIN_TIMEOUT_MS = 30_000;

/** ECONNREFUSED / ECONNRESET / UND_ERR_SOCKET… from fetch's TypeError, or its message. */
function causeCode(e: unknown): string {
  const c = (e as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (c && typeof c.code === 'string') return c.code;
  if (c && typeof c.message === 'string') return c.message;
  return e instanceof Error ? e.message : String(e);
}

export interface TaskPage {
  /** Only messages with seq > messagesAfter. */
  messagesAfter?: number;
  /** At most this many messages (0 = none, just the task and message_count). */
  messagesLimit?: number;
}

export class AdminClient {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly adminToken: string,
    private readonly timeoutMs = ADMIN_TIMEOUT_MS,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const route = `${method} ${path.split('?')[0]}`;
    const signal = AbortSignal.timeout(this.timeoutMs);
    const timedOut = (): string => `no answer within ${this.timeoutMs / 1000} s`;
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${this.adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (e) {
      throw new AdminApiError(0, signal.aborted ? timedOut() : `cannot reach the platform at ${this.baseUrl} (${causeCode(e)})`, route, e);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw new AdminApiError(0, signal.aborted ? `${timedOut()} (the body stalled after HTTP ${res.status})` : `the connection broke off in the middle of the answer (HTTP ${res.status}, ${causeCode(e)})`, route, e);
    }
    let json: unknown;
    let parsed = true;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = false;
    }
    if (!res.ok) {
      // A proxy's or load balancer's HTML error page: the status text, not the markup.
      const err = parsed ? (json as { error?: unknown } | undefined)?.error : undefined;
      throw new AdminApiError(res.status, typeof err === 'string' ? err : res.statusText || `HTTP ${res.status}`, route);
    }
    // Never quote the body: a cut-off answer may hold half a token.
    if (!parsed) throw new AdminApiError(res.status, `the answer is not JSON (${text.length} bytes of ${res.headers.get('content-type') ?? 'no content type'})`, route);
    return json as T;
  }

  private ws(id: string): string {
    return `/api/workspaces/${encodeURIComponent(id)}`;
  }

  listWorkspaces(): Promise<Workspace[]> {
    return this.call('GET', '/api/workspaces');
  }
  /** `opts.uses` > 1 makes a fleet token; `ttl_s` overrides the platform's default lifetime. */
  createInstallToken(ws: string, opts: CreateInstallTokenRequest = {}): Promise<InstallTokenCreated> {
    return this.call('POST', `${this.ws(ws)}/install-tokens`, opts);
  }
  listInstallTokens(ws: string): Promise<InstallTokenSummary[]> {
    return this.call('GET', `${this.ws(ws)}/install-tokens`);
  }
  /** Revokes every live daemon credential of the workspace (idempotent). */
  revokeAllDaemons(ws: string): Promise<RevokeTokensResponse> {
    return this.call('POST', `${this.ws(ws)}/revoke-tokens`, {});
  }
  listDaemons(ws: string): Promise<DaemonSummary[]> {
    return this.call('GET', `${this.ws(ws)}/daemons`);
  }
  revokeDaemon(ws: string, daemonId: string): Promise<RevocationOutcome & { ok: true }> {
    return this.call('POST', `${this.ws(ws)}/daemons/${encodeURIComponent(daemonId)}/revoke`, {});
  }
  rotateDaemon(ws: string, daemonId: string): Promise<ConnectionInfo & RevocationOutcome> {
    return this.call('POST', `${this.ws(ws)}/daemons/${encodeURIComponent(daemonId)}/rotate`, {});
  }
  connection(ws: string, daemonId: string): Promise<ConnectionInfo> {
    return this.call('GET', `${this.ws(ws)}/daemons/${encodeURIComponent(daemonId)}/connection`);
  }
  enqueueTask(ws: string, req: EnqueueTaskRequest): Promise<EnqueueTaskResponse> {
    return this.call('POST', `${this.ws(ws)}/tasks`, req);
  }
  /** A task for an agent: claimed as a Multica chat-message task. */
  enqueueAgentTask(ws: string, req: EnqueueAgentTask): Promise<EnqueueTaskResponse> {
    return this.call('POST', `${this.ws(ws)}/tasks`, req);
  }
  listAgents(ws: string): Promise<Agent[]> {
    return this.call('GET', `${this.ws(ws)}/agents`);
  }
  createAgent(ws: string, req: AgentCreate): Promise<Agent> {
    return this.call('POST', `${this.ws(ws)}/agents`, req);
  }
  updateAgent(ws: string, id: string, req: AgentUpdate): Promise<Agent> {
    return this.call('POST', `${this.ws(ws)}/agents/${encodeURIComponent(id)}`, req);
  }
  getTask(ws: string, id: string, page: TaskPage = {}): Promise<TaskDetail & Partial<AgentTaskDetail>> {
    const q = new URLSearchParams();
    if (page.messagesAfter !== undefined) q.set('messages_after', String(page.messagesAfter));
    if (page.messagesLimit !== undefined) q.set('messages_limit', String(page.messagesLimit));
    const qs = q.size ? `?${q}` : '';
    return this.call('GET', `${this.ws(ws)}/tasks/${encodeURIComponent(id)}${qs}`);
  }
  /** Newest first, without messages (see message_count; getTask reads them). */
  listTasks(ws: string, limit?: number): Promise<(TaskDetail & Partial<AgentTaskDetail>)[]> {
    return this.call('GET', `${this.ws(ws)}/tasks${limit === undefined ? '' : `?limit=${limit}`}`);
  }
  async cancelTask(ws: string, id: string): Promise<void> {
    await this.call('POST', `${this.ws(ws)}/tasks/${encodeURIComponent(id)}/cancel`, {});
  }

  /** Polls getTask until `pred` holds (tests and the demo); throws after timeoutMs. */
  async waitForTask(ws: string, id: string, pred: (t: TaskDetail) => boolean, timeoutMs = 10_000, page: TaskPage = { messagesLimit: 0 }): Promise<TaskDetail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const t = await this.getTask(ws, id, page);
      if (pred(t)) return t;
      if (Date.now() > deadline) throw new Error(`task ${id} did not reach the expected state within ${timeoutMs} ms (status ${t.status})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
