// Property tests of the platform client's response handling: whatever a platform (or
// something pretending to be one) answers — any status, any body — a call either
// returns a value of the promised shape or throws one of api/errors.ts's typed errors,
// and no error message quotes a token that was in the body.
import fc from 'fast-check';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlatformClient } from '../../api/client.js';
import { PlatformError } from '../../api/errors.js';

const ORIGIN = 'http://platform.test';
const TOKEN = `mdt_${'a'.repeat(40)}`;
const TOKEN_LIKE = /m[ida]t_[0-9A-Za-z]{8,}/;

let agent: MockAgent;
let client: PlatformClient;

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  client = new PlatformClient({ baseUrl: ORIGIN, dispatcher: agent, getToken: () => TOKEN, retry: { attempts: 1, baseMs: 0, capMs: 0 } });
});
afterEach(async () => {
  await client.close();
  await agent.close();
});

const secret = fc.stringMatching(/^[0-9a-f]{40}$/).chain((hex) => fc.constantFrom(`mdt_${hex}`, `mat_${hex}`, `mit_${hex}`));
const anyText = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), secret);
/** Near-valid documents: the right keys with fuzzed value types, tokens sprinkled in. */
const fieldValue = fc.oneof(fc.string(), secret, fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
/** Mostly the right type, sometimes not: shapes close to valid find the narrow gaps. */
const mostlyString = fc.oneof({ weight: 4, arbitrary: fc.string() }, { weight: 1, arbitrary: fieldValue });
const taskLike = fc.record(
  { id: mostlyString, runtime_id: mostlyString, workspace_id: mostlyString, prompt: mostlyString, auth_token: fieldValue, timeout_s: fieldValue },
  { requiredKeys: [] },
);
const body = fc.oneof(
  anyText,
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.record({ error: fc.oneof(fieldValue, secret.map((s) => `token ${s} is revoked`)) }).map((v) => JSON.stringify(v)),
  fc.record({ tasks: fc.oneof(fc.array(taskLike, { maxLength: 3 }), fieldValue) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ task: fc.oneof(taskLike, fieldValue) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ runtime_id: fieldValue, status: fieldValue }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ runtimes: fc.oneof(fc.array(fc.record({ id: fieldValue, name: fieldValue }, { requiredKeys: [] }), { maxLength: 3 }), fieldValue) }, { requiredKeys: [] }).map((v) =>
    JSON.stringify(v),
  ),
  fc.record({ token: fieldValue, workspace_id: fieldValue, daemon_id: fieldValue, expires_at: fieldValue }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
);
const status = fc.oneof(fc.constantFrom(200, 201, 204, 400, 401, 403, 404, 408, 409, 429, 500, 502, 503), fc.integer({ min: 200, max: 599 }));

function answer(method: string, path: string, st: number, text: string): void {
  agent.get(ORIGIN).intercept({ method, path }).reply(st, st === 204 ? '' : text, { headers: { 'content-type': 'application/json' } });
}

/** Runs `call`; asserts the outcome is a typed error without a token, or passes the value to `check`. */
async function outcome<T>(call: () => Promise<T>, check: (v: T) => void): Promise<void> {
  let value: T;
  try {
    value = await call();
  } catch (err) {
    expect(err).toBeInstanceOf(PlatformError);
    const e = err as PlatformError;
    expect(e.message).not.toMatch(TOKEN_LIKE);
    expect(String(e.platformError ?? '')).not.toMatch(TOKEN_LIKE);
    return;
  }
  check(value);
}

const str = (v: unknown): boolean => typeof v === 'string';
const RUNS = { numRuns: 150 };

describe('PlatformClient under arbitrary platform answers', () => {
  it('heartbeat: a {runtime_id, status} of strings, or a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(status, body, async (st, text) => {
        answer('POST', '/api/daemon/heartbeat', st, text);
        await outcome(
          () => client.heartbeat({ runtime_id: 'rt1' }, { attempts: 1 }),
          (v) => {
            expect(str(v.runtime_id) && str(v.status)).toBe(true);
          },
        );
      }),
      RUNS,
    );
  });

  it('claim: every task has a string id and runtime_id, or a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(status, body, async (st, text) => {
        answer('POST', '/api/daemon/tasks/claim', st, text);
        await outcome(
          () => client.claimTasks({ daemon_id: 'd1', runtime_ids: ['rt1'], max_tasks: 4 }, { attempts: 1 }),
          (v) => {
            expect(Array.isArray(v.tasks)).toBe(true);
            for (const t of v.tasks) expect([t.id, t.runtime_id].every(str)).toBe(true);
          },
        );
      }),
      RUNS,
    );
  });

  // A task without a string prompt passes the client (only id and runtime_id are
  // checked); the task layer fails it as agent_error (daemon/tasks, since 61f08f3), which
  // beats refusing the whole claim answer and stranding its other tasks.

  it('legacy claim: null or a task with string id and runtime_id', async () => {
    await fc.assert(
      fc.asyncProperty(status, body, async (st, text) => {
        answer('POST', '/api/daemon/runtimes/rt1/tasks/claim', st, text);
        await outcome(
          () => client.claimLegacy('rt1', { attempts: 1 }),
          (v) => {
            if (v.task !== null) expect(str(v.task.id) && str(v.task.runtime_id)).toBe(true);
          },
        );
      }),
      RUNS,
    );
  });

  it('register: runtimes with string ids, or a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(status, body, async (st, text) => {
        answer('POST', '/api/daemon/register', st, text);
        await outcome(
          () => client.register({ workspace_id: 'w', daemon_id: 'd', device_name: 'n', cli_version: '0', runtimes: [] }, { attempts: 1 }),
          (v) => {
            expect(Array.isArray(v.runtimes)).toBe(true);
            for (const r of v.runtimes) expect(str(r.id)).toBe(true);
          },
        );
      }),
      RUNS,
    );
  });

  it('task status: a string status, or a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(status, body, async (st, text) => {
        answer('GET', '/api/daemon/tasks/t1/status', st, text);
        await outcome(
          () => client.taskStatus('t1', { attempts: 1 }),
          (v) => expect(str(v.status)).toBe(true),
        );
      }),
      RUNS,
    );
  });

  it('exchange: an mdt_ credential, or a typed error that does not quote a token', async () => {
    await fc.assert(
      fc.asyncProperty(status, body, async (st, text) => {
        answer('POST', '/api/install-tokens/exchange', st, text);
        await outcome(
          () => client.exchangeInstallToken({ token: `mit_${'b'.repeat(40)}`, daemon_id: 'd' }, { attempts: 1 }),
          (v) => expect(v.token).toMatch(/^mdt_[0-9a-f]{40}$/),
        );
      }),
      RUNS,
    );
  });

  it('messages (body ignored): resolves on 2xx, typed error otherwise', async () => {
    await fc.assert(
      fc.asyncProperty(status, body, async (st, text) => {
        answer('POST', '/api/daemon/tasks/t1/messages', st, text);
        let threw = false;
        await outcome(
          () => client.postMessages('t1', { messages: [{ seq: 1, type: 'text', content: 'x' }] }, { attempts: 1 }).catch((e: unknown) => {
            threw = true;
            throw e;
          }),
          () => {},
        );
        expect(threw).toBe(!(st >= 200 && st < 300));
      }),
      RUNS,
    );
  });
});
