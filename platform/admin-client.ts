// The operator's API client (fetch-based, no dependencies): used by tests, the demo,
// the benchmarks and the web page's logic. Errors are AdminApiError with the HTTP
// status and the platform's `error` string; never a token in a message.
import type {
  ConnectionInfo,
  DaemonSummary,
  EnqueueTaskRequest,
  EnqueueTaskResponse,
  InstallTokenCreated,
  TaskDetail,
  Workspace,
} from '../api/types.js';

export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    /** The platform's `error` field (e.g. "task not found"), or the status text. */
    readonly error: string,
    readonly route: string,
  ) {
    super(`${route} → ${status}: ${error}`);
    this.name = 'AdminApiError';
  }
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
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const route = `${method} ${path.split('?')[0]}`;
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${this.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = (json as { error?: unknown } | undefined)?.error;
      throw new AdminApiError(res.status, typeof err === 'string' ? err : res.statusText, route);
    }
    return json as T;
  }

  private ws(id: string): string {
    return `/api/workspaces/${encodeURIComponent(id)}`;
  }

  listWorkspaces(): Promise<Workspace[]> {
    return this.call('GET', '/api/workspaces');
  }
  createInstallToken(ws: string): Promise<InstallTokenCreated> {
    return this.call('POST', `${this.ws(ws)}/install-tokens`, {});
  }
  listDaemons(ws: string): Promise<DaemonSummary[]> {
    return this.call('GET', `${this.ws(ws)}/daemons`);
  }
  async revokeDaemon(ws: string, daemonId: string): Promise<void> {
    await this.call('POST', `${this.ws(ws)}/daemons/${encodeURIComponent(daemonId)}/revoke`, {});
  }
  rotateDaemon(ws: string, daemonId: string): Promise<ConnectionInfo> {
    return this.call('POST', `${this.ws(ws)}/daemons/${encodeURIComponent(daemonId)}/rotate`, {});
  }
  connection(ws: string, daemonId: string): Promise<ConnectionInfo> {
    return this.call('GET', `${this.ws(ws)}/daemons/${encodeURIComponent(daemonId)}/connection`);
  }
  enqueueTask(ws: string, req: EnqueueTaskRequest): Promise<EnqueueTaskResponse> {
    return this.call('POST', `${this.ws(ws)}/tasks`, req);
  }
  getTask(ws: string, id: string, page: TaskPage = {}): Promise<TaskDetail> {
    const q = new URLSearchParams();
    if (page.messagesAfter !== undefined) q.set('messages_after', String(page.messagesAfter));
    if (page.messagesLimit !== undefined) q.set('messages_limit', String(page.messagesLimit));
    const qs = q.size ? `?${q}` : '';
    return this.call('GET', `${this.ws(ws)}/tasks/${encodeURIComponent(id)}${qs}`);
  }
  /** Newest first, without messages (see message_count; getTask reads them). */
  listTasks(ws: string, limit?: number): Promise<TaskDetail[]> {
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
