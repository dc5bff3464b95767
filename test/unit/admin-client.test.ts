// HTTP edges of the fetch-based clients that a real server cannot easily produce, made
// with nock (which intercepts global fetch): a reset in the middle of the body, a
// truncated JSON answer, a 5xx with a proxy's HTML page, headers that never come. The
// undici-based PlatformClient keeps MockAgent and real loopback servers (nock cannot
// intercept undici's own request()); the happy paths of both run against the real
// platform in test/e2e/.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import nock from 'nock';
import { Readable } from 'node:stream';
import { AdminApiError, AdminClient } from '../../platform/admin-client.js';
import { getHealth } from '../../installer/ready.js';

const BASE = 'http://platform.test:8080';
const HEALTH = 'http://127.0.0.1:19514';
const ADMIN = 'adm_' + '1'.repeat(48);
const MIT = 'mit_' + 'a'.repeat(40);

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  expect(nock.isDone()).toBe(true); // every interceptor was used: the edge really happened
  nock.cleanAll();
});
afterAll(() => nock.enableNetConnect());

/** A body that sends `head`, then the connection breaks. */
function breaksAfter(head: string): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) return;
      sent = true;
      this.push(head);
      setImmediate(() => this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
    },
  });
}

async function failure(p: Promise<unknown>): Promise<AdminApiError> {
  const e = await p.then(
    () => new Error('resolved'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AdminApiError);
  return e as AdminApiError;
}

describe('AdminClient (global fetch) at the edges', () => {
  const client = (timeoutMs?: number): AdminClient => new AdminClient(BASE, ADMIN, timeoutMs);

  it('connection reset in the middle of the body: status 0, "broke off", the HTTP status it had', async () => {
    nock(BASE).get('/api/workspaces').reply(200, () => breaksAfter('[{"id":"ws-1","na'), { 'content-type': 'application/json' });
    const e = await failure(client().listWorkspaces());
    expect(e.status).toBe(0);
    expect(e.error).toMatch(/^the connection broke off in the middle of the answer \(HTTP 200, /);
    expect(e.route).toBe('GET /api/workspaces');
  });

  it('truncated JSON on a 200: an error, not a silent undefined, and never a piece of the body (it may hold a token)', async () => {
    nock(BASE).post('/api/workspaces/ws-1/install-tokens').reply(201, `{"id":"t1","token":"${MIT.slice(0, 30)}`, { 'content-type': 'application/json' });
    const e = await failure(client().createInstallToken('ws-1'));
    expect(e.status).toBe(201);
    expect(e.error).toMatch(/^the answer is not JSON \(\d+ bytes of application\/json\)$/);
    expect(e.message).not.toContain('mit_');
  });

  it("a 502 with a proxy's HTML page: the status and its text, not the markup", async () => {
    nock(BASE).get('/api/workspaces/ws-1/daemons').reply(502, '<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>', { 'content-type': 'text/html' });
    const e = await failure(client().listDaemons('ws-1'));
    expect(e.status).toBe(502);
    expect(e.error).toBe('Bad Gateway');
    expect(e.message).not.toMatch(/<html|nginx/);
  });

  it('a 503 with JSON keeps the platform\'s own error text', async () => {
    nock(BASE).get('/api/workspaces').reply(503, { error: 'database is locked' });
    expect((await failure(client().listWorkspaces())).error).toBe('database is locked');
  });

  it('headers that never come: status 0 after the timeout, not a hang', async () => {
    nock(BASE).get('/api/workspaces').delay({ head: 5_000 }).reply(200, []);
    const e = await failure(client(200).listWorkspaces());
    expect(e).toMatchObject({ status: 0, error: 'no answer within 0.2 s' });
  });

  it('connection refused: status 0 with the cause code', async () => {
    nock(BASE).get('/api/workspaces').replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const e = await failure(client().listWorkspaces());
    expect(e.status).toBe(0);
    expect(e.error).toMatch(/^cannot reach the platform at http:\/\/platform\.test:8080 \(/);
  });

  it('the admin token goes in the Authorization header only', async () => {
    nock(BASE, { reqheaders: { authorization: `Bearer ${ADMIN}` } }).get('/api/workspaces').reply(200, [{ id: 'ws-1', name: 'default' }]);
    await expect(client().listWorkspaces()).resolves.toEqual([{ id: 'ws-1', name: 'default' }]);
  });
});

describe('getHealth (the CLI reading the health port over global fetch) at the edges', () => {
  it('reset mid-body and slow headers read as "nothing answers" (null); truncated JSON keeps the text', async () => {
    nock(HEALTH).get('/readyz').reply(200, () => breaksAfter('{"ready":tr'));
    expect(await getHealth(HEALTH, '/readyz')).toBeNull();
    nock(HEALTH).get('/status').delay({ head: 5_000 }).reply(200, {});
    expect(await getHealth(HEALTH, '/status', 200)).toBeNull();
    nock(HEALTH).get('/status').reply(200, '{"state":"rea');
    expect(await getHealth(HEALTH, '/status')).toEqual({ status: 200, body: { text: '{"state":"rea' } });
    nock(HEALTH).get('/readyz').reply(500, '<html>Internal Server Error</html>');
    expect(await getHealth(HEALTH, '/readyz')).toEqual({ status: 500, body: { text: '<html>Internal Server Error</html>' } });
  });
});
