// PlatformClient: the only code that speaks HTTP to the platform, and the only importer
// of undici. One method per route of docs/protocol.md; every failure leaves here as one of
// the typed errors of api/errors.ts (classified once, at the edge: Buildkite's
// api/retryable.go habit), never as a raw status code or an undici error.
//
// Retry classes (decided per route, overridable per call with `attempts`):
//   none      heartbeat, claims, task status (single and batched): their loops retry on their own schedule;
//             a blind retry of a claim could hand out tasks whose answer was lost.
//   safe      register, start, messages (idempotent by seq), progress, recover-orphans,
//             deregister: network errors and 502/503/504.
//   terminal  complete, fail, cancel-ack: network errors, any 5xx, 408 and 429. Losing
//             one of these leaves a task "running" forever on the platform.
//   exchange  the install-token exchange: ONLY errors that prove the request never left
//             (connection refused, DNS failure, connect timeout). Once the request may
//             have reached the platform, a retry could burn the single-use token on a
//             lost response and then report `install_token_already_used`.
//
// Timeouts: `timeoutMs` bounds one attempt (request + headers + body); connect, headers
// and body timeouts are also set on the dispatcher. Bodies are read with a size cap so
// a misbehaving server cannot make the daemon buffer megabytes.
//
// Tokens: the bearer goes only into the Authorization header; error messages are built
// from the base URL, the route and the status, and the platform's `error` text is
// scrubbed of anything that looks like a token before it is kept.
import type { Dispatcher } from 'undici';
// By path, not the package root: see api/undici-deep.d.ts (start-up cost). The root
// module also mixes the request API into Dispatcher.prototype (ProxyAgent needs
// `connect`); doing the same here keeps the proxy path working.
import EnvHttpProxyAgent from 'undici/lib/dispatcher/env-http-proxy-agent.js';
import DispatcherBase from 'undici/lib/dispatcher/dispatcher.js';
import undiciApi from 'undici/lib/api/index.js';

Object.assign(DispatcherBase.prototype, undiciApi);
const apiRequest = undiciApi.request;
import { Backoff, DEFAULT_RETRY, sleep, type RetryPolicy } from './backoff.js';
import { sanitizeText } from './text.js';
import {
  BadRequest,
  BadResponse,
  InstallTokenAlreadyUsed,
  DaemonIdInUse,
  InvalidInstallToken,
  NotFound,
  PlatformError,
  PlatformUnavailable,
  RequestAborted,
  Unauthorized,
  isTlsCode,
} from './errors.js';
import { requestHeaders, type DaemonSource } from './headers.js';
import { OUTPUT_CONTENT_TYPE } from './output-frames.js';
import type { TSchema } from '@sinclair/typebox';
import { matches, problem } from './schema.js';
import {
  ClaimResponse,
  ErrorBody,
  ExchangeResponse,
  HeartbeatResponse,
  LegacyClaimResponse,
  RegisterResponse,
  TaskStatusResponse,
  SAFE_ID_RE,
  TaskStatusesResponse,
  type ClaimRequest,
  type CompleteRequest,
  type DeregisterRequest,
  type ExchangeRequest,
  type FailRequest,
  type HeartbeatRequest,
  type MessagesRequest,
  type ProgressRequest,
  type RegisterRequest,
  type TaskStatusesRequest,
} from './types.js';
import { ControlChannel, type ControlChannelOptions } from './control-channel.js';
import type { SessionRequest, UsageRequest } from './task-context.js';
import { VERSION } from './version.js';
import { baselineWasmOnly } from './wasm-flags.js';

export type { RetryPolicy } from './backoff.js';

export interface PlatformClientOptions {
  /** http(s)://host:port of the platform (a path prefix is kept). */
  baseUrl: string;
  /** The current mdt_, called per request (a re-read credential takes effect at once). */
  getToken?: () => string | undefined;
  /** Who is calling: sent as X-Workspace-ID / X-Daemon-ID on every request (api/headers.ts). */
  getSource?: () => DaemonSource | undefined;
  /** Tests inject MockAgent; default: EnvHttpProxyAgent (HTTP(S)_PROXY/NO_PROXY), keep-alive. */
  dispatcher?: Dispatcher;
  /** X-Client-Version (default: VERSION). */
  clientVersion?: string;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Largest 2xx body accepted, in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Injectable randomness for the backoff jitter (tests). */
  random?: () => number;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Bound on one attempt (connect + headers + body). */
  timeoutMs?: number;
  /** Total tries including the first (overrides the route's default). */
  attempts?: number;
  /** Called with each answer's status and Date header (`agentd doctor` measures clock skew). */
  onAnswer?: (a: { status: number; date: string | undefined }) => void;
}

type RetryClass = 'none' | 'safe' | 'terminal' | 'exchange';

interface RouteSpec<T> {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** false for the exchange: the mit_ in the body is the credential. */
  auth: boolean;
  /** Overrides getSource() for this route (the exchange: no workspace yet). */
  source?: DaemonSource;
  retry: RetryClass;
  timeoutMs: number;
  /** The schema a 2xx JSON body must match (api/types.ts); absent = the body is ignored. */
  answer?: TSchema;
  /** Builds the value from a body that matched `answer` (default: the body itself). */
  build?: (v: any) => T; // eslint-disable-line @typescript-eslint/no-explicit-any -- checked against `answer` first
  /** Maps a final 4xx to a typed error (default: 401 Unauthorized, 404 NotFound, else BadRequest). */
  mapStatus?: (status: number, platformError: string | undefined, route: string) => PlatformError | undefined;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_HEADERS_TIMEOUT_MS = 30_000;
const DEFAULT_BODY_TIMEOUT_MS = 30_000;
const DEFAULT_CALL_TIMEOUT_MS = 15_000;
const HEARTBEAT_TIMEOUT_MS = 10_000;
/** Margin on top of a long poll's wait_s for the platform to answer after the wait. */
const LONG_POLL_MARGIN_MS = 15_000;
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** Network error codes that prove the request never reached the platform. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

const TOKEN_LIKE_RE = /\bm[ida]t_[0-9A-Za-z]+/g;

export class PlatformClient {
  readonly baseUrl: string;
  private readonly getToken: () => string | undefined;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly clientVersion: string;
  private readonly getSource: () => DaemonSource | undefined;
  private readonly policy: RetryPolicy;
  private readonly maxBodyBytes: number;
  private readonly random: (() => number) | undefined;
  private readonly headersTimeoutMs: number;
  private readonly bodyTimeoutMs: number;

  constructor(opts: PlatformClientOptions) {
    this.baseUrl = normalizeBaseUrl(opts.baseUrl);
    this.getToken = opts.getToken ?? (() => undefined);
    this.headersTimeoutMs = opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
    this.bodyTimeoutMs = opts.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
    if (opts.dispatcher) {
      this.dispatcher = opts.dispatcher;
      this.ownsDispatcher = false;
    } else {
      // No connect.ca here: it would replace the trust store, while a plain agent
      // honours NODE_EXTRA_CA_CERTS (docs/architecture.md §7).
      this.dispatcher = new EnvHttpProxyAgent({
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 60_000,
        connect: { timeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS },
        headersTimeout: this.headersTimeoutMs,
        bodyTimeout: this.bodyTimeoutMs,
      });
      this.ownsDispatcher = true;
    }
    this.clientVersion = opts.clientVersion ?? VERSION;
    this.getSource = opts.getSource ?? (() => undefined);
    this.policy = { ...DEFAULT_RETRY, ...opts.retry };
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.random = opts.random;
  }

  // ------------------------------------------------------------------ enrolment

  exchangeInstallToken(body: ExchangeRequest, o: CallOptions = {}): Promise<ExchangeResponse> {
    return this.call(
      {
        method: 'POST',
        path: '/api/install-tokens/exchange',
        body,
        auth: false,
        source: { daemon_id: body.daemon_id },
        retry: 'exchange',
        timeoutMs: DEFAULT_CALL_TIMEOUT_MS,
        answer: ExchangeResponse,
        build: (v: ExchangeResponse): ExchangeResponse => ({ token: v.token, workspace_id: v.workspace_id, daemon_id: v.daemon_id, expires_at: v.expires_at ?? '', ...(v.ephemeral === true ? { ephemeral: true } : {}) }),
        mapStatus: (status, perr, route) => {
          const opts = { route, status, platformError: perr };
          if (perr === 'install_token_already_used') return new InstallTokenAlreadyUsed('the install token was already used', opts);
          if (status === 409 && perr === 'daemon_id_in_use') return new DaemonIdInUse('the platform has this daemon id enrolled with a live credential', opts);
          if (perr === 'invalid_install_token' || status === 401) return new InvalidInstallToken('the platform does not accept this install token (unknown, expired or malformed)', opts);
          return undefined;
        },
      },
      o,
    );
  }

  // ------------------------------------------------------------------ daemon

  register(body: RegisterRequest, o: CallOptions = {}): Promise<RegisterResponse> {
    return this.call(
      {
        method: 'POST',
        path: '/api/daemon/register',
        body,
        auth: true,
        retry: 'safe',
        timeoutMs: DEFAULT_CALL_TIMEOUT_MS,
        answer: RegisterResponse,
      },
      o,
    );
  }

  heartbeat(body: HeartbeatRequest, o: CallOptions = {}): Promise<HeartbeatResponse> {
    return this.call(
      {
        method: 'POST',
        path: '/api/daemon/heartbeat',
        body,
        auth: true,
        retry: 'none',
        timeoutMs: HEARTBEAT_TIMEOUT_MS,
        answer: HeartbeatResponse,
        build: (v: Partial<HeartbeatResponse>): HeartbeatResponse => ({ ...v, runtime_id: v.runtime_id ?? body.runtime_id, status: v.status ?? '' }),
      },
      o,
    );
  }

  claimTasks(body: ClaimRequest, o: CallOptions = {}): Promise<ClaimResponse> {
    return this.call(
      {
        method: 'POST',
        path: '/api/daemon/tasks/claim',
        body,
        auth: true,
        retry: 'none',
        timeoutMs: (body.wait_s ?? 0) * 1000 + LONG_POLL_MARGIN_MS,
        answer: ClaimResponse,
      },
      o,
    );
  }

  claimLegacy(runtimeId: string, o: CallOptions = {}): Promise<LegacyClaimResponse> {
    return this.call(
      {
        method: 'POST',
        path: `/api/daemon/runtimes/${seg(runtimeId)}/tasks/claim`,
        body: {},
        auth: true,
        retry: 'none',
        timeoutMs: DEFAULT_CALL_TIMEOUT_MS,
        answer: LegacyClaimResponse,
        build: (v: Partial<LegacyClaimResponse>): LegacyClaimResponse => ({ task: v.task ?? null }),
      },
      o,
    );
  }

  startTask(taskId: string, o: CallOptions = {}): Promise<void> {
    return this.voidCall(`/api/daemon/tasks/${seg(taskId)}/start`, {}, 'safe', o);
  }

  postMessages(taskId: string, body: MessagesRequest, o: CallOptions = {}): Promise<void> {
    return this.voidCall(`/api/daemon/tasks/${seg(taskId)}/messages`, body, 'safe', o);
  }

  /** Extends a claimed task's claim-to-start window (Multica: 45 s per call). No retry: the caller calls again. */
  prepareLease(runtimeId: string, taskId: string, o: CallOptions = {}): Promise<void> {
    return this.call<void>({ method: 'POST', path: `/api/daemon/runtimes/${seg(runtimeId)}/tasks/${seg(taskId)}/prepare-lease`, body: {}, auth: true, retry: 'none', timeoutMs: 10_000 }, o);
  }

  /** Pins the agent's session (resume pointer) mid-run. */
  pinSession(taskId: string, body: SessionRequest, o: CallOptions = {}): Promise<void> {
    return this.voidCall(`/api/daemon/tasks/${seg(taskId)}/session`, body, 'safe', o);
  }

  reportUsage(taskId: string, body: UsageRequest, o: CallOptions = {}): Promise<void> {
    return this.voidCall(`/api/daemon/tasks/${seg(taskId)}/usage`, body, 'safe', o);
  }

  /** postMessages with the body already serialised as JSON (the output stream builds it once). */
  postMessagesJson(taskId: string, json: Buffer, o: CallOptions = {}): Promise<void> {
    return this.call<void>({ method: 'POST', path: `/api/daemon/tasks/${seg(taskId)}/messages`, body: new RawBody(json, 'application/json'), auth: true, retry: 'safe', timeoutMs: DEFAULT_CALL_TIMEOUT_MS }, o);
  }

  /** Raw text output, framed (api/output-frames.ts): only to a platform whose claim said `raw_output`. */
  postOutput(taskId: string, body: Buffer, o: CallOptions = {}): Promise<void> {
    return this.call<void>({ method: 'POST', path: `/api/daemon/tasks/${seg(taskId)}/output`, body: new RawBody(body, OUTPUT_CONTENT_TYPE), auth: true, retry: 'safe', timeoutMs: DEFAULT_CALL_TIMEOUT_MS }, o);
  }

  reportProgress(taskId: string, body: ProgressRequest, o: CallOptions = {}): Promise<void> {
    return this.voidCall(`/api/daemon/tasks/${seg(taskId)}/progress`, body, 'safe', o);
  }

  completeTask(taskId: string, body: CompleteRequest, o: CallOptions = {}): Promise<void> {
    return this.voidCall(`/api/daemon/tasks/${seg(taskId)}/complete`, body, 'terminal', o);
  }

  failTask(taskId: string, body: FailRequest, o: CallOptions = {}): Promise<void> {
    return this.voidCall(`/api/daemon/tasks/${seg(taskId)}/fail`, body, 'terminal', o);
  }

  cancelAck(taskId: string, o: CallOptions = {}): Promise<void> {
    return this.voidCall(`/api/daemon/tasks/${seg(taskId)}/cancel-ack`, {}, 'terminal', o);
  }

  taskStatus(taskId: string, o: CallOptions = {}): Promise<TaskStatusResponse> {
    return this.call(
      {
        method: 'GET',
        path: `/api/daemon/tasks/${seg(taskId)}/status`,
        auth: true,
        retry: 'none',
        timeoutMs: DEFAULT_CALL_TIMEOUT_MS,
        answer: TaskStatusResponse,
      },
      o,
    );
  }

  /**
   * The status of many tasks in one call (agentd extension, POST /api/daemon/tasks/status).
   * A platform without the route answers 404 (NotFound): callers fall back to taskStatus().
   */
  taskStatuses(body: TaskStatusesRequest, o: CallOptions = {}): Promise<TaskStatusesResponse> {
    return this.call(
      {
        method: 'POST',
        path: '/api/daemon/tasks/status',
        body,
        auth: true,
        retry: 'none',
        timeoutMs: DEFAULT_CALL_TIMEOUT_MS,
        answer: TaskStatusesResponse,
      },
      o,
    );
  }

  recoverOrphans(runtimeId: string, o: CallOptions = {}): Promise<void> {
    return this.voidCall(`/api/daemon/runtimes/${seg(runtimeId)}/recover-orphans`, {}, 'safe', o);
  }

  deregister(body: DeregisterRequest, o: CallOptions = {}): Promise<void> {
    return this.voidCall('/api/daemon/deregister', body, 'safe', o);
  }

  /**
   * The WebSocket control channel on this platform, with this client's credential,
   * identity headers and (proxy-aware) dispatcher. Not started: call start().
   */
  controlChannel(o: Omit<ControlChannelOptions, 'baseUrl' | 'getToken' | 'headers' | 'dispatcher'>): ControlChannel {
    const { accept: _accept, ...headers } = requestHeaders(this.clientVersion, this.getSource());
    return new ControlChannel({ ...o, baseUrl: this.baseUrl, getToken: this.getToken, headers, dispatcher: this.dispatcher });
  }

  /** The daemon credential revokes itself (uninstall); idempotent on the platform, hence 'safe'. */
  revokeSelf(o: CallOptions = {}): Promise<void> {
    return this.voidCall('/api/daemon/revoke', {}, 'safe', o);
  }

  /** Closes the keep-alive pool (only when this client created it; an injected dispatcher belongs to the caller). */
  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  // ------------------------------------------------------------------ machinery

  private voidCall(path: string, body: unknown, retry: RetryClass, o: CallOptions): Promise<void> {
    return this.call<void>({ method: 'POST', path, body, auth: true, retry, timeoutMs: DEFAULT_CALL_TIMEOUT_MS }, o);
  }

  private async call<T>(routeSpec: RouteSpec<T>, o: CallOptions): Promise<T> {
    // A caller that asks for attempts on a no-retry route gets the 'safe' rules.
    const spec = routeSpec.retry === 'none' && (o.attempts ?? 1) > 1 ? { ...routeSpec, retry: 'safe' as const } : routeSpec;
    const route = `${spec.method} ${spec.path}`;
    const attempts = Math.max(1, Math.floor(o.attempts ?? (spec.retry === 'none' ? 1 : this.policy.attempts)));
    const backoff = new Backoff({ baseMs: this.policy.baseMs, capMs: this.policy.capMs, random: this.random });
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(spec, route, o);
      if (outcome.ok) return outcome.value;
      const { error, retryable, retryAfterMs } = outcome;
      if (o.signal?.aborted && !(error instanceof RequestAborted)) throw new RequestAborted(`${route} aborted`, { route, cause: o.signal.reason });
      if (!retryable || attempt >= attempts || o.signal?.aborted) {
        if (attempt > 1 && error instanceof PlatformUnavailable) {
          throw new PlatformUnavailable(`${error.message} (after ${attempt} attempts)`, {
            route,
            status: error.status,
            platformError: error.platformError,
            networkCode: error.networkCode,
            maybeSent: error.maybeSent,
            cause: error.cause,
          });
        }
        throw error;
      }
      const wait = retryAfterMs !== undefined ? Math.min(retryAfterMs, this.policy.capMs) : backoff.next();
      try {
        const sc = new AbortController();
        const unsubscribe = o.signal ? onAbort(o.signal, () => sc.abort(o.signal?.reason)) : undefined;
        try {
          await sleep(wait, sc.signal);
        } finally {
          unsubscribe?.();
        }
      } catch (reason) {
        throw new RequestAborted(`${route} aborted`, { route, cause: reason });
      }
    }
  }

  /** One try: a value, or a typed error plus whether this route may try again. */
  private async attempt<T>(
    spec: RouteSpec<T>,
    route: string,
    o: CallOptions,
  ): Promise<{ ok: true; value: T } | { ok: false; error: PlatformError; retryable: boolean; retryAfterMs?: number }> {
    if (o.signal?.aborted) return { ok: false, error: new RequestAborted(`${route} aborted`, { route, cause: o.signal.reason }), retryable: false };
    const timeoutMs = o.timeoutMs ?? spec.timeoutMs;
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = o.signal ? onAbort(o.signal, () => ac.abort(o.signal?.reason)) : undefined;
    const signal = ac.signal;

    const headers = requestHeaders(this.clientVersion, spec.source ?? this.getSource());
    if (spec.body instanceof RawBody) headers['content-type'] = spec.body.contentType;
    if (spec.auth) {
      const token = this.getToken();
      if (token) headers.authorization = `Bearer ${token}`;
    }
    try {
      let res: Dispatcher.ResponseData;
      try {
        const url = new URL(this.baseUrl + spec.path);
        // Before the first connection compiles llhttp (api/wasm-flags.ts says why not earlier).
        baselineWasmOnly();
        res = await apiRequest.call(this.dispatcher, {
          origin: url.origin,
          path: url.pathname + url.search,
          method: spec.method,
          headers,
          body: spec.body === undefined ? undefined : spec.body instanceof RawBody ? spec.body.bytes : JSON.stringify(spec.body),
          signal,
          // A long poll needs more than the dispatcher's default headers timeout.
          headersTimeout: Math.max(this.headersTimeoutMs, timeoutMs),
          bodyTimeout: this.bodyTimeoutMs,
        });
      } catch (err) {
        return this.networkFailure(err, spec, route, timedOut, timeoutMs, o);
      }

      const status = res.statusCode;
      const ok = status >= 200 && status < 300;
      if (o.onAnswer) {
        const d = res.headers.date;
        o.onAnswer({ status, date: Array.isArray(d) ? d[0] : d });
      }
      let text: string;
      try {
        text = await readCapped(res.body, ok ? this.maxBodyBytes : MAX_ERROR_BODY_BYTES, !ok);
      } catch (err) {
        if (err instanceof BodyTooLarge) {
          return { ok: false, error: new BadResponse(`the platform at ${this.baseUrl} sent a response larger than ${this.maxBodyBytes} bytes to ${route}`, { route, status }), retryable: false };
        }
        // The body broke off mid-way: a network failure after the request was sent.
        return this.networkFailure(err, { ...spec, retry: spec.retry === 'exchange' ? 'none' : spec.retry }, route, timedOut, timeoutMs, o);
      }

      if (ok) {
        if (!spec.answer) return { ok: true, value: undefined as T };
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          return { ok: false, error: new BadResponse(`the platform at ${this.baseUrl} answered ${route} with a body that is not JSON`, { route, status }), retryable: false };
        }
        const why = problem(spec.answer, json, 'the answer');
        if (why !== undefined) {
          const shown = sanitizeText(why).slice(0, 200);
          return { ok: false, error: new BadResponse(`the platform at ${this.baseUrl} answered ${route} with JSON of an unexpected shape (${shown})`, { route, status }), retryable: false };
        }
        return { ok: true, value: spec.build ? spec.build(json) : (json as T) };
      }

      const platformError = extractError(text);
      if (status >= 500 || status === 408 || status === 429) {
        const retryable =
          spec.retry === 'terminal' ? true : spec.retry === 'safe' ? status === 502 || status === 503 || status === 504 : false;
        return {
          ok: false,
          error: new PlatformUnavailable(`the platform at ${this.baseUrl} answered ${status} to ${route}${platformError ? `: ${platformError}` : ''}`, { route, status, platformError }),
          retryable,
          retryAfterMs: parseRetryAfter(res.headers['retry-after']),
        };
      }
      const mapped = spec.mapStatus?.(status, platformError, route);
      if (mapped) return { ok: false, error: mapped, retryable: false };
      const opts = { route, status, platformError };
      const suffix = platformError ? `: ${platformError}` : '';
      if (status === 401) return { ok: false, error: new Unauthorized(`the platform at ${this.baseUrl} refused the daemon credential (401) on ${route}${suffix}`, opts), retryable: false };
      if (status === 404) return { ok: false, error: new NotFound(`${route}: not found (404)${suffix}`, opts), retryable: false };
      return { ok: false, error: new BadRequest(`the platform at ${this.baseUrl} rejected ${route} with ${status}${suffix}`, opts), retryable: false };
    } finally {
      clearTimeout(timer);
      unsubscribe?.();
    }
  }

  private networkFailure(
    err: unknown,
    spec: RouteSpec<unknown>,
    route: string,
    timedOut: boolean,
    timeoutMs: number,
    o: CallOptions,
  ): { ok: false; error: PlatformError; retryable: boolean } {
    if (o.signal?.aborted && !timedOut) return { ok: false, error: new RequestAborted(`${route} aborted`, { route, cause: o.signal.reason }), retryable: false };
    const code = timedOut ? 'timeout' : networkCode(err);
    const tls = code !== undefined && isTlsCode(code);
    // A failed TLS handshake, like a refused connection, means no request was sent.
    const notSent = code !== undefined && (NOT_SENT_CODES.has(code) || tls);
    // Certificate problems do not heal by retrying.
    const retryable = tls ? false : spec.retry === 'exchange' ? notSent : spec.retry !== 'none';
    const what = timedOut ? `no answer within ${timeoutMs} ms` : describeNetworkError(code, err);
    const note = spec.retry === 'exchange' && !notSent ? '; the request may have reached the platform, so it was not retried' : '';
    return {
      ok: false,
      error: new PlatformUnavailable(`cannot reach the platform at ${this.baseUrl} (${route}: ${what})${note}`, { route, networkCode: code, maybeSent: !notSent, cause: err }),
      retryable,
    };
  }
}

// ---------------------------------------------------------------------- helpers

/**
 * One 'abort' listener per caller signal, fanned out to the calls in flight. The daemon
 * passes one root signal to many concurrent calls: a listener per call would trip Node's
 * "possible EventTarget memory leak" warning past 10, and AbortSignal.any() keeps a
 * little memory per call on a signal that never aborts (about 60 bytes, measured on
 * Node 20), which a daemon running for months cannot afford.
 */
const abortFanout = new WeakMap<AbortSignal, Set<() => void>>();
function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let subs = abortFanout.get(signal);
  if (!subs) {
    const set = new Set<() => void>();
    abortFanout.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        for (const f of [...set]) f();
        set.clear();
      },
      { once: true },
    );
    subs = set;
  }
  const entry = (): void => fn();
  subs.add(entry);
  return () => void subs.delete(entry);
}

class BodyTooLarge extends Error {}

/** A body already serialised by the caller, sent as it is with its own content type. */
class RawBody {
  constructor(
    readonly bytes: Buffer,
    readonly contentType: string,
  ) {}
}

/** Reads a body as UTF-8 up to `max` bytes. Too large: destroys the stream and throws BodyTooLarge (or truncates, for error bodies). */
async function readCapped(body: Dispatcher.ResponseData['body'], max: number, truncate: boolean): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      if (truncate) break;
      throw new BodyTooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function extractError(text: string): string | undefined {
  let raw: string | undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (matches(ErrorBody, v)) raw = v.error;
  } catch {
    // Not JSON (a proxy's HTML page…): no platform error code to report.
  }
  if (raw === undefined) return undefined;
  return sanitizeText(raw).replace(TOKEN_LIKE_RE, '[redacted]').slice(0, 200);
}

function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  const secs = Number(s);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The first error code found on the error, its cause, or an AggregateError's members (happy eyeballs). */
function networkCode(err: unknown, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 4) return undefined;
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && e.code !== 'UND_ERR_SOCKET' && e.code !== 'UND_ERR_ABORTED') return e.code;
  const fromCause = networkCode(e.cause, depth + 1);
  if (fromCause) return fromCause;
  if (Array.isArray(e.errors)) for (const x of e.errors) {
    const c = networkCode(x, depth + 1);
    if (c) return c;
  }
  return typeof e.code === 'string' ? e.code : undefined;
}


function describeNetworkError(code: string | undefined, err: unknown): string {
  if (code !== undefined && isTlsCode(code)) return `TLS certificate not accepted (${code}: ${err instanceof Error ? err.message : String(err)})`;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_NONAME':
      return 'host name not found';
    case 'EAI_AGAIN':
      return 'DNS lookup failed temporarily';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect timed out';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'no response headers in time';
    case 'UND_ERR_BODY_TIMEOUT':
      return 'response body stalled';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection closed by the other side';
    default: {
      // undici/Node error messages carry no request data (no headers, no body).
      const msg = err instanceof Error ? err.message : String(err);
      return code ? `${code}: ${msg}` : msg;
    }
  }
}

function normalizeBaseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new TypeError(`not a URL: ${JSON.stringify(raw)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`the platform URL must be http:// or https://, got ${u.protocol}`);
  if (u.username || u.password) throw new TypeError('the platform URL must not contain credentials');
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/** A platform-supplied id as one path segment; refuses ids that could change the path. */
function seg(id: string): string {
  if (typeof id !== 'string' || !SAFE_ID_RE.test(id)) {
    const shown = typeof id === 'string' ? JSON.stringify(sanitizeText(id).slice(0, 60)) : typeof id;
    throw new BadResponse(`refusing to build a platform URL from the id ${shown}: ids must be letters, digits, '.', '_' or '-' and not start with '.'`, { route: 'client' });
  }
  return id;
}
