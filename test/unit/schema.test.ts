// api/schema.ts: one sentence per problem, naming the field as a person reads it, for
// every schema the client, the platform and the store check.
import { describe, expect, it } from 'vitest';
import { fieldName, matches, problem, withoutNulls } from '../../api/schema.js';
import { ClaimRequest, EnqueueTaskRequest, FailRequest, MessagesRequest, RegisterBody, Task } from '../../api/types.js';

describe('problem()', () => {
  it.each([
    [RegisterBody, { runtimes: 'x' }, 'runtimes must be an array'],
    [RegisterBody, {}, 'runtimes is required'],
    [RegisterBody, { runtimes: [{ name: 'a b' }] }, "runtimes[0].name must be letters, digits, '.', '_' or '-'"],
    [RegisterBody, { runtimes: [{}] }, 'runtimes[0].name is required'],
    [RegisterBody, { runtimes: Array.from({ length: 65 }, (_, i) => ({ name: `r${i}` })) }, 'at most 64 runtimes'],
    [RegisterBody, { runtimes: [], device_name: 'x'.repeat(201) }, 'device_name is longer than 200 characters'],
    [ClaimRequest, { runtime_ids: [] }, 'runtime_ids must be a non-empty array of runtime ids'],
    [ClaimRequest, { runtime_ids: ['a'], max_tasks: 33 }, 'max_tasks must be ≤ 32'],
    [ClaimRequest, { runtime_ids: ['a'], wait_s: -1 }, 'wait_s must be a number of seconds ≥ 0'],
    [MessagesRequest, { messages: [{ seq: -1, type: 'text' }] }, 'messages[0].seq must be an integer ≥ 0'],
    [MessagesRequest, { messages: [{ seq: 1.5, type: 'text' }] }, 'messages[0].seq must be an integer ≥ 0'],
    [FailRequest, { failure_reason: 'bogus' }, 'failure_reason must be one of: idle_watchdog, timeout, cancelled, agent_error, daemon_shutdown, orphaned, runtime_offline'],
    [EnqueueTaskRequest, { runtime: '', prompt: 'x' }, 'runtime is required'],
    [EnqueueTaskRequest, { runtime: 'a', prompt: 'x', timeout_s: 0 }, 'timeout_s must be ≥ 1'],
    [Task, [], 'request body must be a JSON object'],
  ])('%# %j → %s', (schema, value, expected) => {
    expect(problem(schema, value, 'request body')).toBe(expected);
  });

  it('matches what it accepts, and keeps fields it does not know', () => {
    const t = { id: 't1', runtime_id: 'r1', prompt: 'p', agent: { id: 'a' } };
    expect(matches(Task, t)).toBe(true);
    expect(problem(Task, t)).toBeUndefined();
  });

  it('quotes field names for messages about a file', () => {
    expect(problem(RegisterBody, {}, 'the file', { quote: true })).toBe('"runtimes" is required');
  });

  it('names nested fields', () => {
    expect(fieldName('/a/0/b~1c')).toBe('a[0].b/c');
    expect(fieldName('', 'the answer')).toBe('the answer');
  });

  it('treats a null field as absent, at the top and in array items, and leaves values inside alone', () => {
    expect(withoutNulls({ a: null, b: [{ c: null, d: 1, input: { e: null } }], f: 2 })).toEqual({ b: [{ d: 1, input: { e: null } }], f: 2 });
    expect(withoutNulls(null)).toBeNull();
    expect(withoutNulls([1])).toEqual([1]);
  });
});
