// PlatformClient against undici's MockAgent (injected as the dispatcher: nock does not
// see undici's own request()). Covers the classification of every answer into the typed
// errors, the retry classes, timeouts, aborts, body caps and token hygiene.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MockAgent } from 'undici';
import { Backoff, sleep } from '../../api/backoff.js';
import { PlatformClient } from '../../api/client.js';
import {
  BadRequest,
  BadResponse,
  InstallTokenAlreadyUsed,
  InvalidInstallToken,
  NotFound,
  PlatformUnavailable,
  RequestAborted,
  Unauthorized,
} from '../../api/errors.js';
import { VERSION } from '../../api/version.js';

const ORIGIN = 'http://platform.test';
const MDT = 'mdt_' + '1'.repeat(40);
const MDT2 = 'mdt_' + '2'.repeat(40);
const MIT = 'mit_' + 'a'.repeat(40);
const EXCHANGE = '/api/install-tokens/exchange';
const REGISTER_BODY = { workspace_id: 'w', daemon_id: 'd', device_name: 'n', cli_version: '1', runtimes: [] };

let agent: MockAgent;
let calls: { path: string; headers: Record<string, string>; body: string }[];

function record(opts: { path: string; headers?: unknown; body?: unknown }): void {
  const h: Record<string, string> = {};
  const raw = opts.headers;
  if (Array.isArray(raw)) for (let i = 0; i < raw.length; i += 2) h[String(raw[i]).toLowerCase()] = String(raw[i + 1]);
  else if (raw && typeof raw === 'object') for (const [k, v] of Object.entries(raw)) h[k.toLowerCase()] = String(v);
  calls.push({ path: opts.path, headers: h, body: typeof opts.body === 'string' ? opts.body : '' });
}

function client(o: Partial<ConstructorParameters<typeof PlatformClient>[0]> = {}): PlatformClient {
  return new PlatformClient({ baseUrl: ORIGIN, dispatcher: agent, getToken: () => MDT, retry: { attempts: 4, baseMs: 1, capMs: 2 }, ...o });
}

function netError(code: string): Error {
  return Object.assign(new Error(`${code} (simulated)`), { code });
}

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  calls = [];
});
afterEach(async () => {
  await agent.close();
});

describe('requests', () => {
  it('sends the bearer from getToken on each call, and the identity headers', async () => {
    let token = MDT;
    const pool = agent.get(ORIGIN);
    pool
      .intercept({ path: '/api/daemon/heartbeat', method: 'POST' })
      .reply((o) => {
        record(o);
        return { statusCode: 200, data: { runtime_id: 'r1', status: 'online' } };
      })
      .times(2);
    const c = client({ getToken: () => token });
    expect(await c.heartbeat({ runtime_id: 'r1' })).toMatchObject({ runtime_id: 'r1', status: 'online' });
    token = MDT2; // a re-read credential takes effect on the next call
    await c.heartbeat({ runtime_id: 'r1' });
    expect(calls.map((x) => x.headers.authorization)).toEqual([`Bearer ${MDT}`, `Bearer ${MDT2}`]);
    expect(calls[0].headers['x-client-platform']).toBe('daemon');
    expect(calls[0].headers['x-client-version']).toBe(VERSION);
    expect(['linux', 'macos', 'windows']).toContain(calls[0].headers['x-client-os']);
    expect(JSON.parse(calls[0].body)).toEqual({ runtime_id: 'r1' });
  });

  it('sends no bearer with the exchange (the install token is the credential)', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: EXCHANGE, method: 'POST' })
      .reply((o) => {
        record(o);
        return { statusCode: 200, data: { token: MDT, workspace_id: 'w', daemon_id: 'd', expires_at: 'x' } };
      });
    const r = await client().exchangeInstallToken({ token: MIT, daemon_id: 'd' });
    expect(r).toEqual({ token: MDT, workspace_id: 'w', daemon_id: 'd', expires_at: 'x' });
    expect(calls[0].headers.authorization).toBeUndefined();
    expect(JSON.parse(calls[0].body)).toEqual({ token: MIT, daemon_id: 'd' });
  });

  it('keeps a base path prefix; an id that is not a safe path segment is refused, never escaped into the path', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/prefix/api/daemon/tasks/t-1.a_b/status', method: 'GET' })
      .reply(200, { status: 'running' });
    const c = client({ baseUrl: `${ORIGIN}/prefix/` });
    expect(c.baseUrl).toBe(`${ORIGIN}/prefix`);
    expect(await c.taskStatus('t-1.a_b')).toEqual({ status: 'running' });
    for (const id of ['a/b', '..', '.', '%2e%2e', 'a b']) expect(() => c.taskStatus(id), id).toThrow(/refusing to build a platform URL/);
  });

  it('rejects a base URL that is not http(s) or carries credentials', () => {
    expect(() => new PlatformClient({ baseUrl: 'ftp://x', dispatcher: agent })).toThrow(/http/);
    expect(() => new PlatformClient({ baseUrl: 'http://u:p@x', dispatcher: agent })).toThrow(/credentials/);
    expect(() => new PlatformClient({ baseUrl: 'not a url', dispatcher: agent })).toThrow(/not a URL/);
  });
});

describe('status mapping', () => {
  it.each([
    [401, { error: 'unauthorized' }, Unauthorized],
    [404, { error: 'task not found' }, NotFound],
    [400, { error: 'bad' }, BadRequest],
    [403, { error: 'forbidden' }, BadRequest],
    [422, 'not json', BadRequest],
  ])('%i → %s, not retried', async (status, body, cls) => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/daemon/tasks/t1/start', method: 'POST' })
      .reply((o) => {
        record(o);
        return { statusCode: status, data: body };
      })
      .persist();
    const err = await client().startTask('t1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(cls);
    expect((err as BadRequest).status).toBe(status);
    expect((err as BadRequest).route).toBe('POST /api/daemon/tasks/t1/start');
    expect(calls).toHaveLength(1);
  });

  it.each([
    [400, 'invalid_install_token', InvalidInstallToken],
    [401, 'invalid_install_token', InvalidInstallToken],
    [401, 'install_token_already_used', InstallTokenAlreadyUsed],
    [400, 'daemon_id is required', BadRequest],
  ])('exchange %i %s → %s', async (status, code, cls) => {
    agent.get(ORIGIN).intercept({ path: EXCHANGE, method: 'POST' }).reply(status, { error: code });
    const err = await client().exchangeInstallToken({ token: MIT, daemon_id: 'd' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(cls);
    expect((err as InvalidInstallToken).platformError).toBe(code);
  });
});

describe('retries', () => {
  function sequence(path: string, answers: (number | Error)[], method: 'POST' | 'GET' = 'POST'): void {
    const pool = agent.get(ORIGIN);
    for (const a of answers) {
      const i = pool.intercept({ path, method });
      if (a instanceof Error) i.replyWithError(a);
      else
        i.reply((o) => {
          record(o);
          return { statusCode: a, data: a === 200 ? { runtimes: [{ id: 'r1', name: 'x', type: 'x' }] } : { error: `status ${a}` } };
        });
    }
  }

  it('retries safe calls on 502/503/504 and network errors, then succeeds', async () => {
    sequence('/api/daemon/register', [502, netError('ECONNRESET'), 503, 200]);
    const r = await client().register(REGISTER_BODY);
    expect(r.runtimes[0].id).toBe('r1');
    agent.assertNoPendingInterceptors();
  });

  it('does not retry a safe call on 500, 408 or 429', async () => {
    for (const status of [500, 408, 429]) {
      calls = [];
      sequence('/api/daemon/register', [status, 200]);
      const err = await client().register(REGISTER_BODY).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PlatformUnavailable);
      expect((err as PlatformUnavailable).status).toBe(status);
      expect(calls).toHaveLength(1);
      // consume the spare interceptor
      await client().register(REGISTER_BODY);
    }
  });

  it('retries terminal calls on 500, 408, 429 and network errors', async () => {
    sequence('/api/daemon/tasks/t1/complete', [500, 408, 429, 200]);
    await client().completeTask('t1', { output: 'ok' });
    expect(calls).toHaveLength(4);
  });

  it('gives up after the configured attempts and says so', async () => {
    sequence('/api/daemon/tasks/t1/fail', [503, 503, 503]);
    const err = await client({ retry: { attempts: 3, baseMs: 1, capMs: 1 } })
      .failTask('t1', { error: 'x', failure_reason: 'agent_error' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformUnavailable);
    expect((err as Error).message).toMatch(/after 3 attempts/);
    expect(calls).toHaveLength(3);
  });

  it('never retries a final 4xx, even on a terminal call', async () => {
    sequence('/api/daemon/tasks/t1/cancel-ack', [409, 200]);
    await expect(client().cancelAck('t1')).rejects.toBeInstanceOf(BadRequest);
    expect(calls).toHaveLength(1);
  });

  it('heartbeat and claim do not retry by default; attempts overrides', async () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/api/daemon/heartbeat', method: 'POST' }).reply(503, { error: 'x' });
    pool.intercept({ path: '/api/daemon/heartbeat', method: 'POST' }).reply(200, { runtime_id: 'r', status: 'online' });
    await expect(client().heartbeat({ runtime_id: 'r' })).rejects.toBeInstanceOf(PlatformUnavailable);
    await client().heartbeat({ runtime_id: 'r' }); // the second interceptor is still there: no retry happened
    pool.intercept({ path: '/api/daemon/tasks/claim', method: 'POST' }).reply(502, {}).times(1);
    pool.intercept({ path: '/api/daemon/tasks/claim', method: 'POST' }).reply(200, { tasks: [] });
    expect(await client().claimTasks({ daemon_id: 'd', runtime_ids: ['r'], max_tasks: 1 }, { attempts: 2 })).toEqual({ tasks: [] });
  });

  it('honours Retry-After (capped) on 429', async () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/api/daemon/tasks/t1/complete', method: 'POST' }).reply(429, { error: 'slow down' }, { headers: { 'retry-after': '0' } });
    pool.intercept({ path: '/api/daemon/tasks/t1/complete', method: 'POST' }).reply(200, {});
    await client({ retry: { attempts: 2, baseMs: 60_000, capMs: 60_000 } }).completeTask('t1', { output: '' });
  });
});

describe('the install-token exchange is never retried once it may have been sent', () => {
  it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'])('retries %s (the request never left)', async (code) => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: EXCHANGE, method: 'POST' }).replyWithError(netError(code));
    pool.intercept({ path: EXCHANGE, method: 'POST' }).reply(200, { token: MDT, workspace_id: 'w', daemon_id: 'd', expires_at: '' });
    expect((await client().exchangeInstallToken({ token: MIT, daemon_id: 'd' })).token).toBe(MDT);
  });

  it('a refused connection after the retries: maybeSent false', async () => {
    agent.get(ORIGIN).intercept({ path: EXCHANGE, method: 'POST' }).replyWithError(netError('ECONNREFUSED')).times(4);
    const err = (await client().exchangeInstallToken({ token: MIT, daemon_id: 'd' }).catch((e: unknown) => e)) as PlatformUnavailable;
    expect(err).toBeInstanceOf(PlatformUnavailable);
    expect(err.maybeSent).toBe(false);
    expect(err.networkCode).toBe('ECONNREFUSED');
    expect(err.message).toMatch(/after 4 attempts/);
  });

  it.each(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'SELF_SIGNED_CERT_IN_CHAIN'])('a TLS failure (%s) is not retried, not "maybe sent", on any route', async (code) => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: EXCHANGE, method: 'POST' }).replyWithError(netError(code));
    pool.intercept({ path: '/api/daemon/tasks/t1/complete', method: 'POST' }).replyWithError(netError(code));
    const a = (await client().exchangeInstallToken({ token: MIT, daemon_id: 'd' }).catch((e: unknown) => e)) as PlatformUnavailable;
    const b = (await client().completeTask('t1', { output: '' }).catch((e: unknown) => e)) as PlatformUnavailable;
    for (const e of [a, b]) {
      expect(e).toBeInstanceOf(PlatformUnavailable);
      expect(e.message).toMatch(/TLS certificate not accepted/);
      expect(e.maybeSent).toBe(false);
    }
  });

  it('finds the code inside an AggregateError (happy eyeballs)', async () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: EXCHANGE, method: 'POST' }).replyWithError(new AggregateError([netError('ECONNREFUSED'), netError('ECONNREFUSED')], 'connect failed'));
    pool.intercept({ path: EXCHANGE, method: 'POST' }).reply(200, { token: MDT, workspace_id: 'w', daemon_id: 'd', expires_at: '' });
    expect((await client().exchangeInstallToken({ token: MIT, daemon_id: 'd' })).token).toBe(MDT);
  });

  it.each(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'])('does not retry %s', async (code) => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: EXCHANGE, method: 'POST' }).replyWithError(netError(code));
    pool.intercept({ path: EXCHANGE, method: 'POST' }).reply(200, { token: MDT, workspace_id: 'w', daemon_id: 'd', expires_at: '' });
    const err = await client().exchangeInstallToken({ token: MIT, daemon_id: 'd' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformUnavailable);
    expect((err as Error).message).toMatch(/may have reached the platform/);
    expect((err as PlatformUnavailable).maybeSent).toBe(true);
    expect((err as PlatformUnavailable).networkCode).toBe(code);
    expect(agent.pendingInterceptors()).toHaveLength(1);
  });

  it.each([500, 502, 503, 504, 429])('does not retry %i', async (status) => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: EXCHANGE, method: 'POST' }).reply(status, { error: 'x' });
    pool.intercept({ path: EXCHANGE, method: 'POST' }).reply(200, { token: MDT, workspace_id: 'w', daemon_id: 'd', expires_at: '' });
    await expect(client().exchangeInstallToken({ token: MIT, daemon_id: 'd' })).rejects.toBeInstanceOf(PlatformUnavailable);
    expect(agent.pendingInterceptors()).toHaveLength(1);
  });

  it('does not retry a timeout', async () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: EXCHANGE, method: 'POST' }).reply(200, { token: MDT, workspace_id: 'w', daemon_id: 'd', expires_at: '' }).delay(2_000);
    pool.intercept({ path: EXCHANGE, method: 'POST' }).reply(200, { token: MDT, workspace_id: 'w', daemon_id: 'd', expires_at: '' });
    const err = await client().exchangeInstallToken({ token: MIT, daemon_id: 'd' }, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformUnavailable);
    expect((err as Error).message).toMatch(/no answer within 50 ms/);
    expect(agent.pendingInterceptors()).toHaveLength(1);
  });
});

describe('response bodies', () => {
  it.each([
    ['not JSON', '<html>proxy error</html>', /not JSON/],
    ['empty', '', /not JSON/],
    ['wrong shape', JSON.stringify({ runtimes: 'nope' }), /answered POST \/api\/daemon\/register with JSON of an unexpected shape \(runtimes must be an array\)/],
    ['a runtime without an id', JSON.stringify({ runtimes: [{ name: 'claude', type: 'claude' }] }), /unexpected shape \(runtimes\[0\]\.id is required\)/],
    ['a field name with escapes', JSON.stringify({ runtimes: [{ id: 1, name: 'c', type: 'c' }] }), /unexpected shape \(runtimes\[0\]\.id must be a string\)/],
    ['an array', '[]', /unexpected shape \(the answer must be a JSON object\)/],
  ])('2xx with %s → BadResponse, not retried', async (_what, body, re) => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/daemon/register', method: 'POST' })
      .reply((o) => {
        record(o);
        return { statusCode: 200, data: body };
      })
      .persist();
    const err = await client().register(REGISTER_BODY).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadResponse);
    expect((err as Error).message).toMatch(re);
    expect(calls).toHaveLength(1);
  });

  it('an exchange answer without a well-formed mdt_ is a BadResponse', async () => {
    agent.get(ORIGIN).intercept({ path: EXCHANGE, method: 'POST' }).reply(200, { token: 'mit_nope', workspace_id: 'w', daemon_id: 'd' });
    await expect(client().exchangeInstallToken({ token: MIT, daemon_id: 'd' })).rejects.toBeInstanceOf(BadResponse);
  });

  it('caps the body size: a 10 MB answer is refused, not buffered', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x20);
    agent.get(ORIGIN).intercept({ path: '/api/daemon/tasks/claim', method: 'POST' }).reply(200, big);
    const err = await client().claimTasks({ daemon_id: 'd', runtime_ids: [], max_tasks: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadResponse);
    expect((err as Error).message).toMatch(/larger than 1048576 bytes/);
  });

  it('ignores the body of calls that return nothing', async () => {
    agent.get(ORIGIN).intercept({ path: '/api/daemon/tasks/t1/messages', method: 'POST' }).reply(200, 'whatever');
    await expect(client().postMessages('t1', { messages: [{ seq: 1, type: 'text', content: 'hi' }] })).resolves.toBeUndefined();
  });

  it('accepts unknown extra fields and a null legacy task', async () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/api/daemon/tasks/claim', method: 'POST' }).reply(200, { tasks: [{ id: 't', runtime_id: 'r', workspace_id: 'w', prompt: 'p', extra: 1 }], more: true });
    pool.intercept({ path: '/api/daemon/runtimes/r/tasks/claim', method: 'POST' }).reply(200, { task: null });
    const r = await client().claimTasks({ daemon_id: 'd', runtime_ids: ['r'], max_tasks: 1 });
    expect(r.tasks[0]).toMatchObject({ id: 't', extra: 1 });
    expect(await client().claimLegacy('r')).toEqual({ task: null });
  });
});

describe('timeouts and aborts', () => {
  it('a call without an answer within timeoutMs fails as PlatformUnavailable', async () => {
    agent.get(ORIGIN).intercept({ path: '/api/daemon/heartbeat', method: 'POST' }).reply(200, { runtime_id: 'r', status: 'x' }).delay(2_000);
    const err = await client().heartbeat({ runtime_id: 'r' }, { timeoutMs: 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformUnavailable);
  });

  it('an aborted signal before the call → RequestAborted, nothing sent', async () => {
    agent.get(ORIGIN).intercept({ path: '/api/daemon/heartbeat', method: 'POST' }).reply(200, {});
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(client().heartbeat({ runtime_id: 'r' }, { signal: ac.signal })).rejects.toBeInstanceOf(RequestAborted);
    expect(agent.pendingInterceptors()).toHaveLength(1);
  });

  it('abort while waiting for the answer → RequestAborted (not PlatformUnavailable)', async () => {
    agent.get(ORIGIN).intercept({ path: '/api/daemon/tasks/claim', method: 'POST' }).reply(200, { tasks: [] }).delay(2_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('shutdown')), 20);
    await expect(client().claimTasks({ daemon_id: 'd', runtime_ids: [], max_tasks: 1, wait_s: 25 }, { signal: ac.signal })).rejects.toBeInstanceOf(RequestAborted);
  });

  it('abort during the backoff sleep → RequestAborted without another try', async () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/api/daemon/tasks/t1/complete', method: 'POST' }).reply(503, {});
    pool.intercept({ path: '/api/daemon/tasks/t1/complete', method: 'POST' }).reply(200, {});
    const ac = new AbortController();
    const p = client({ retry: { attempts: 3, baseMs: 10_000, capMs: 10_000 }, random: () => 0.99 }).completeTask('t1', { output: '' }, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 30);
    await expect(p).rejects.toBeInstanceOf(RequestAborted);
    expect(agent.pendingInterceptors()).toHaveLength(1);
  });
});

describe('tokens never appear in errors', () => {
  it('scrubs token-like text the platform echoes, and never quotes request bodies', async () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: EXCHANGE, method: 'POST' }).reply(400, { error: `bad token ${MIT}` });
    pool.intercept({ path: '/api/daemon/heartbeat', method: 'POST' }).reply(401, { error: `revoked ${MDT}` });
    pool.intercept({ path: '/api/daemon/register', method: 'POST' }).reply(200, `{"token":"${MDT}"`);
    pool.intercept({ path: '/api/daemon/tasks/t/fail', method: 'POST' }).replyWithError(netError('ECONNRESET'));
    const errors = await Promise.all([
      client().exchangeInstallToken({ token: MIT, daemon_id: 'd' }).catch((e: unknown) => e),
      client().heartbeat({ runtime_id: 'r' }).catch((e: unknown) => e),
      client().register(REGISTER_BODY).catch((e: unknown) => e),
      client({ retry: { attempts: 1 } }).failTask('t', { error: MDT, failure_reason: 'agent_error' }).catch((e: unknown) => e),
    ]);
    for (const e of errors) {
      expect(e).toBeInstanceOf(Error);
      const text = `${(e as Error).message} ${String((e as { platformError?: string }).platformError)} ${(e as Error).stack}`;
      expect(text).not.toContain(MIT.slice(4));
      expect(text).not.toContain(MDT.slice(4));
    }
  });
});

describe('Backoff', () => {
  it('full jitter: uniform in [0, min(cap, base·2^n)], doubling up to the cap', () => {
    const top = new Backoff({ baseMs: 100, capMs: 1_000, random: () => 0.999999 });
    expect([top.next(), top.next(), top.next(), top.next(), top.next(), top.next()]).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(top.failures).toBe(6);
    top.reset();
    expect(top.failures).toBe(0);
    expect(top.next()).toBe(100);
    const bottom = new Backoff({ baseMs: 100, capMs: 1_000, random: () => 0 });
    expect(bottom.next()).toBe(0);
    const mid = new Backoff({ baseMs: 100, capMs: 1_000, random: () => 0.5 });
    mid.next();
    expect(mid.next()).toBe(100); // half of 200
  });

  it('never overflows after many failures', () => {
    const b = new Backoff({ baseMs: 1, capMs: 5_000, random: () => 0.999999 });
    for (let i = 0; i < 2_000; i++) b.next();
    expect(b.next()).toBe(5_000);
  });

  it('sleep resolves after the time, rejects with the reason on abort', async () => {
    await sleep(1);
    const ac = new AbortController();
    const reason = new Error('bye');
    const p = sleep(10_000, ac.signal);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    await expect(sleep(10, AbortSignal.abort(reason))).rejects.toBe(reason);
  });
});

describe('one shared signal', () => {
  it('many concurrent calls on one signal print no listener-leak warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const pool = agent.get(ORIGIN);
      pool.intercept({ path: '/api/daemon/tasks/t1/progress', method: 'POST' }).reply(503, {}).times(30); // every call also sleeps once
      pool.intercept({ path: '/api/daemon/tasks/t1/progress', method: 'POST' }).reply(200, {}).delay(20).times(30);
      const ac = new AbortController();
      const c = client({ retry: { attempts: 2, baseMs: 30, capMs: 30 }, random: () => 0.99 });
      await Promise.all(Array.from({ length: 30 }, () => c.reportProgress('t1', { summary: 's', step: 1, total: 2 }, { signal: ac.signal })));
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w === 'MaxListenersExceededWarning')).toEqual([]);
  });
});
