// api/schema.ts: one sentence per problem, naming the field as a person reads it, for
// every schema the client, the platform and the store check.
import { describe, expect, it } from 'vitest';
import { fieldName, matches, problem, withoutNulls } from '../../api/schema.js';
import { ClaimRequest, EnqueueTaskRequest, FailRequest, MessagesRequest, RegisterBody, Task } from '../../api/types.js';

describe('problem()', () => {
  it.each([
    [RegisterBody, { runtimes: 'x' }, 'runtimes must be an array'],
    [RegisterBody, {}, 'runtimes is required'],
    // Names are free text (Multica's "Claude (build-01)"), bounded; the type is a runtime name.
    [RegisterBody, { runtimes: [{ name: 'a\nb' }] }, 'runtimes[0].name must be a runtime name without control characters'],
    [RegisterBody, { runtimes: [{ name: 'x'.repeat(201) }] }, 'runtimes[0].name is longer than 200 characters'],
    [RegisterBody, { runtimes: [{ name: 'Claude (host)', type: 'a b' }] }, "runtimes[0].type must be a runtime type (letters, digits, '.', '_' or '-')"],
    [RegisterBody, { runtimes: [], legacy_daemon_ids: Array.from({ length: 17 }, (_, i) => `d${i}`) }, 'at most 16 legacy_daemon_ids'],
    [RegisterBody, { runtimes: Array.from({ length: 65 }, (_, i) => ({ name: `r${i}` })) }, 'at most 64 runtimes'],
    [RegisterBody, { runtimes: [], device_name: 'x'.repeat(201) }, 'device_name is longer than 200 characters'],
    [ClaimRequest, { runtime_ids: [] }, 'runtime_ids must be a non-empty array of runtime ids'],
    [ClaimRequest, { runtime_ids: ['a'], max_tasks: -1 }, 'max_tasks must be ≥ 0'],
    [ClaimRequest, { runtime_ids: ['a'], wait_s: -1 }, 'wait_s must be a number of seconds ≥ 0'],
    [MessagesRequest, { messages: [{ seq: -1, type: 'text' }] }, 'messages[0].seq must be an integer ≥ 0'],
    [MessagesRequest, { messages: [{ seq: 1.5, type: 'text' }] }, 'messages[0].seq must be an integer ≥ 0'],
    [FailRequest, { failure_reason: 'Not A Code' }, 'failure_reason must be a lowercase code like agent_error or agent_error.context_overflow'],
    [FailRequest, { failure_reason: 'a'.repeat(101) }, 'failure_reason is longer than 100 characters'],
    [EnqueueTaskRequest, { runtime: '', prompt: 'x' }, 'runtime is required'],
    [EnqueueTaskRequest, { runtime: 'a', prompt: 'x', timeout_s: 0 }, 'timeout_s must be ≥ 1'],
    [Task, [], 'request body must be a JSON object'],
  ])('%# %j → %s', (schema, value, expected) => {
    expect(problem(schema, value, 'request body')).toBe(expected);
  });

  it('accepts what a Multica daemon sends: free-text runtime names, Multica failure reasons, max_tasks 0 or above 32', () => {
    expect(problem(RegisterBody, { runtimes: [{ name: 'Claude (build-01)', type: 'claude' }, { type: 'codex' }], legacy_daemon_ids: ['old'], failed_profiles: [] })).toBeUndefined();
    for (const r of ['invalid_task_identity', 'agent_error.provider_auth_or_access', 'runtime_recovery', 'agent_error.context_overflow', '']) expect(problem(FailRequest, { failure_reason: r })).toBeUndefined();
    for (const n of [0, 33, 1000]) expect(problem(ClaimRequest, { runtime_ids: ['a'], max_tasks: n })).toBeUndefined();
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
