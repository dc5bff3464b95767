// Tasks against the real platform process: enqueue, atomic batch claim with mat_
// tokens, long poll, the task state machine (409 on illegal transitions), messages
// idempotent by seq, cancel, orphan recovery, persistence across a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASK_TOKEN_RE, type Task } from '../../api/types.js';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { encodeOutputBody } from '../../api/output-frames.js';
import { rawCall, registerRaw, startPlatform, type TestPlatform } from '../helpers/platform.js';

let p: TestPlatform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.stop();
});

let n = 0;
/** A runtime name no other test uses, so tests sharing the platform never steal each other's tasks. */
const uniqueRuntime = () => `rt-${process.pid}-${++n}`;

async function claim(token: string, daemonId: string, runtimeIds: string[], max = 1, wait_s?: number) {
  return rawCall(p, token, 'POST', '/api/daemon/tasks/claim', { daemon_id: daemonId, runtime_ids: runtimeIds, max_tasks: max, ...(wait_s === undefined ? {} : { wait_s }) });
}

/** POST …/output with `parts` as [type, text] from seq `first` on. */
async function rawOutput(q: { url: string }, token: string, id: string, first: number, parts: [string, string][]) {
  const body = encodeOutputBody(
    first,
    parts.map(([type, text]) => ({ type, bytes: Buffer.from(text) })),
  );
  const r = await fetch(`${q.url}/api/daemon/tasks/${id}/output`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-agentd-output' }, body: new Uint8Array(body) });
  const text = await r.text();
  return { status: r.status, json: text ? (JSON.parse(text) as { accepted?: number; error?: string; ok?: boolean }) : undefined };
}

/** A fresh platform's daemon `name` with one `command` task claimed and started. */
async function runningTask(q: TestPlatform, name: string) {
  const d = await registerRaw(q, name);
  const a = await q.admin.enqueueTask(q.workspaceId, { runtime: 'command', prompt: 'a' });
  await rawCall(q, d.token, 'POST', '/api/daemon/tasks/claim', { daemon_id: name, runtime_ids: [d.runtimeIds.command], max_tasks: 1 });
  await rawCall(q, d.token, 'POST', `/api/daemon/tasks/${a.id}/start`);
  return { d, a };
}

/** Every stored seq of the task, in order, each message's content checked against `content(seq)`. */
async function storedSeqs(q: TestPlatform, id: string, content: (seq: number) => string): Promise<number[]> {
  const seqs: number[] = [];
  for (let after = -1; ; ) {
    const page = (await q.admin.getTask(q.workspaceId, id, { messagesAfter: after, messagesLimit: 100 })).messages;
    if (page.length === 0) break;
    for (const m of page) {
      expect(m.content).toBe(content(m.seq));
      seqs.push(m.seq);
    }
    after = page.at(-1)!.seq;
  }
  return seqs;
}

describe('deeply nested JSON', () => {
  /** JSON text nested `levels` deep (built as text: JSON.stringify itself overflows). */
  const deep = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
  const send = async (token: string, path: string, text: string) => {
    const res = await fetch(p.url + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: text });
    return { status: res.status, json: (await res.json()) as unknown };
  };
  const tooDeep = { status: 400, json: { error: 'request body is nested deeper than 64 levels' } };

  it('register.device or a message input nested 100,000 deep is a 400, never a 500; 50 levels pass', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-deep', [rt]);
    const reg = (device: string) =>
      send(d.token, '/api/daemon/register', `{"workspace_id":${JSON.stringify(p.workspaceId)},"daemon_id":"d-deep","device_name":"x","cli_version":"1","runtimes":[{"name":"${rt}","type":"${rt}","version":"1","status":"online"}],"device":${device}}`);
    expect(await reg(deep(100_000))).toEqual(tooDeep);
    expect((await reg(deep(50))).status).toBe(200);

    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'x' });
    const c = await claim(d.token, 'd-deep', [d.runtimeIds[rt]!], 1);
    expect(c.json.tasks[0].id).toBe(id);
    const post = (input: string) => send(d.token, `/api/daemon/tasks/${id}/messages`, `{"messages":[{"seq":1,"type":"tool_use","tool":"t","input":${input}}]}`);
    expect(await post(deep(100_000))).toEqual(tooDeep);
    expect(await post('['.repeat(10_000) + ']'.repeat(10_000))).toEqual(tooDeep);
    expect((await post(deep(50))).status).toBe(200);
    expect(p.output()).not.toContain('RangeError');
    expect(p.output()).not.toContain('internal error');
  });
});

describe('task lifecycle', () => {
  it('runs enqueue → claim → start → messages → complete, and revokes the task token at the end', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-life', [rt]);
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'echo hi', timeout_s: 60 });
    expect((await p.admin.getTask(p.workspaceId, id)).status).toBe('queued');

    const c = await claim(d.token, 'd-life', [d.runtimeIds[rt]!], 5);
    expect(c.status).toBe(200);
    expect(c.json.tasks).toHaveLength(1);
    const task = c.json.tasks[0] as Task;
    expect(task).toMatchObject({ id, runtime_id: d.runtimeIds[rt], workspace_id: p.workspaceId, prompt: 'echo hi', timeout_s: 60 });
    expect(task.auth_token).toMatch(TASK_TOKEN_RE);
    const mat = task.auth_token!;

    expect(await rawCall(p, d.token, 'GET', `/api/daemon/tasks/${id}/status`)).toEqual({ status: 200, json: { status: 'claimed' } });
    expect((await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/start`)).json).toMatchObject({ id, status: 'running' });
    // A second start is 400, as Multica answers it.
    expect(await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/start`)).toEqual({ status: 400, json: { error: 'cannot start a running task (only a claimed task can start)' } });
    // The task's own token may read its status and post output, not complete it.
    expect(await rawCall(p, mat, 'GET', `/api/daemon/tasks/${id}/status`)).toEqual({ status: 200, json: { status: 'running' } });
    expect((await rawCall(p, mat, 'POST', `/api/daemon/tasks/${id}/complete`, { output: 'x' })).status).toBe(401);

    const post = (msgs: unknown[]) => rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/messages`, { messages: msgs });
    expect((await post([{ seq: 2, type: 'text', content: 'two' }, { seq: 1, type: 'text', content: 'one' }])).json.accepted).toBe(2);
    // A resend (same seq) is ignored, even with different content: first copy wins.
    expect((await post([{ seq: 2, type: 'text', content: 'TWO?' }, { seq: 3, type: 'tool_use', tool: 'bash', input: { cmd: 'ls' } }])).json.accepted).toBe(1);
    expect((await rawCall(p, mat, 'POST', `/api/daemon/tasks/${id}/messages`, { messages: [{ seq: 4, type: 'text', content: 'from the child' }] })).status).toBe(200);
    expect((await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/progress`, { summary: 'halfway', step: 1, total: 2 })).status).toBe(200);

    expect((await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/complete`, { output: 'done', session_id: 's1' })).status).toBe(200);
    expect((await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/complete`, { output: 'again' })).status).toBe(200); // terminal → no-op

    const detail = await p.admin.getTask(p.workspaceId, id);
    expect(detail).toMatchObject({ status: 'completed', output: 'done', session_id: 's1', daemon_id: 'd-life', failure_reason: null, message_count: 4, progress: { summary: 'halfway', step: 1, total: 2 } });
    expect(detail.messages).toEqual([
      { seq: 1, type: 'text', content: 'one' },
      { seq: 2, type: 'text', content: 'two' },
      { seq: 3, type: 'tool_use', tool: 'bash', input: { cmd: 'ls' } },
      { seq: 4, type: 'text', content: 'from the child' },
    ]);
    const page = await p.admin.getTask(p.workspaceId, id, { messagesAfter: 1, messagesLimit: 2 });
    expect(page.messages.map((m) => m.seq)).toEqual([2, 3]);
    for (const t of [detail.started_at, detail.claimed_at, detail.finished_at]) expect(t).not.toBeNull();

    // Task token revoked once the task ended.
    expect((await rawCall(p, mat, 'GET', `/api/daemon/tasks/${id}/status`)).status).toBe(401);
    // Late output is still accepted (and idempotent).
    expect((await post([{ seq: 5, type: 'text', content: 'late' }])).status).toBe(200);
    expect(p.output()).not.toContain(mat);
  });

  it('a batch larger than one INSERT, with a seq repeated inside it, stores each seq once, in order', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-batch', [rt]);
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'x' });
    expect((await claim(d.token, 'd-batch', [d.runtimeIds[rt]!], 1)).json.tasks[0].id).toBe(id);
    const msgs = Array.from({ length: 250 }, (_, i) => ({ seq: 250 - i, type: 'text', content: `m${250 - i}` }));
    msgs.push({ seq: 7, type: 'text', content: 'second copy' }); // after the first seq 7, in the next INSERT
    const r = await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/messages`, { messages: msgs });
    expect(r).toMatchObject({ status: 200, json: { accepted: 250 } });
    const detail = await p.admin.getTask(p.workspaceId, id);
    expect(detail.message_count).toBe(250);
    expect(detail.messages.map((m) => m.seq)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(detail.messages.find((m) => m.seq === 7)?.content).toBe('m7');
  });

  it('raw output (POST …/output): claims offer it, bytes land in the task file once per seq, 4xx for bad bodies', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-raw', [rt]);
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'x' });
    expect((await rawOutput(p, d.token, id, 1, [['text', 'early']])).status).toBe(409); // still queued
    const task = (await claim(d.token, 'd-raw', [d.runtimeIds[rt]!], 1)).json.tasks[0] as Task;
    expect(task).toMatchObject({ id, raw_output: true });
    await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/start`);
    const big = 'é€😀 "quoted" \\ \x01\n'.repeat(5000);
    expect(await rawOutput(p, d.token, id, 1, [['text', 'one\n'], ['error', 'two\n'], ['text', big]])).toEqual({ status: 200, json: { status: 'ok', accepted: 3 } });
    // A resend overlapping what is stored: only seq 4 is new; the task's own mat_ may post too.
    expect((await rawOutput(p, task.auth_token!, id, 2, [['error', 'TWO?'], ['text', 'ignored'], ['text', 'four\n']])).json?.accepted).toBe(1);
    expect((await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/messages`, { messages: [{ seq: 5, type: 'tool_use', tool: 'bash', input: { cmd: 'ls' } }] })).json.accepted).toBe(1);
    expect((await rawOutput(p, d.token, id, 6, [['text', 'six']])).json?.accepted).toBe(1);
    const detail = await p.admin.getTask(p.workspaceId, id);
    expect(detail.message_count).toBe(6);
    expect(detail.messages).toEqual([
      { seq: 1, type: 'text', content: 'one\n' },
      { seq: 2, type: 'error', content: 'two\n' },
      { seq: 3, type: 'text', content: big },
      { seq: 4, type: 'text', content: 'four\n' },
      { seq: 5, type: 'tool_use', tool: 'bash', input: { cmd: 'ls' } },
      { seq: 6, type: 'text', content: 'six' },
    ]);
    expect((await p.admin.getTask(p.workspaceId, id, { messagesAfter: 2, messagesLimit: 2 })).messages.map((m) => m.content)).toEqual([big, 'four\n']);
    // SQLite: the bytes are in the task's file (0600), each once; PostgreSQL keeps them in the rows.
    if (p.database === undefined) {
      const file = join(p.dataDir, 'task-output', id);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toBe(`one\ntwo\n${big}four\nsix`);
    }

    const send = (body: string, type = 'application/x-agentd-output') =>
      fetch(`${p.url}/api/daemon/tasks/${id}/output`, { method: 'POST', headers: { authorization: `Bearer ${d.token}`, 'content-type': type }, body }).then(async (r) => ({ status: r.status, json: (await r.json()) as { error: string } }));
    expect(await send('{"seq":7,"parts":[["text",2]]}\nhi', 'application/json')).toEqual({ status: 415, json: { error: 'POST …/output takes application/x-agentd-output' } });
    expect((await send('no head line')).json.error).toMatch(/no head line/);
    expect((await send('{"seq":7,"parts":[["text",5]]}\nhi')).json.error).toMatch(/shorter than its head says/);
    expect((await send('{"seq":7,"parts":[["text",1]]}\nhi')).json.error).toMatch(/1 bytes more than its head says/);
    expect(await send('{"seq":-1,"parts":[]}\n')).toMatchObject({ status: 400 });
    expect((await p.admin.getTask(p.workspaceId, id, { messagesLimit: 0 })).message_count).toBe(6);
  });

  it('answers 409 to illegal transitions and 404 to tasks the daemon cannot see', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-illegal', [rt]);
    const other = await registerRaw(p, 'd-illegal-other', [rt]);
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'x' });
    const call = (tok: string, verb: string, body?: unknown) => rawCall(p, tok, 'POST', `/api/daemon/tasks/${id}/${verb}`, body);

    expect(await call(d.token, 'complete', { output: '' })).toEqual({ status: 409, json: { error: 'cannot complete a queued task (claim it first)' } });
    expect((await call(d.token, 'start')).status).toBe(400);
    expect((await call(d.token, 'fail', { error: 'e', failure_reason: 'agent_error' })).status).toBe(409);
    expect((await call(d.token, 'cancel-ack')).status).toBe(409);
    expect((await call(d.token, 'messages', { messages: [{ seq: 1, type: 'text' }] })).status).toBe(409);

    expect((await claim(d.token, 'd-illegal', [d.runtimeIds[rt]!])).json.tasks).toHaveLength(1);
    // Claimed by d: invisible to the other daemon.
    expect(await call(other.token, 'start')).toEqual({ status: 404, json: { error: 'task not found' } });
    expect(await rawCall(p, other.token, 'GET', `/api/daemon/tasks/${id}/status`)).toEqual({ status: 404, json: { error: 'task not found' } });
    expect(await rawCall(p, d.token, 'GET', `/api/daemon/tasks/no-such-task/status`)).toEqual({ status: 404, json: { error: 'task not found' } });

    expect((await call(d.token, 'cancel-ack')).status).toBe(409); // not cancelled
    // Any well-formed reason is stored (Multica's classifier has many); a malformed one is 400.
    const bad = await call(d.token, 'fail', { error: 'e', failure_reason: 'Not A Reason!' });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('failure_reason must be a lowercase code like agent_error or agent_error.context_overflow');
    expect((await call(d.token, 'fail', { error: 'silent for 2s', failure_reason: 'idle_watchdog' })).status).toBe(200);
    expect((await call(d.token, 'fail', { error: 'again', failure_reason: 'timeout' })).status).toBe(200); // terminal → no-op
    expect((await call(d.token, 'complete', { output: 'late' })).status).toBe(200); // terminal → no-op
    expect(await call(d.token, 'start')).toEqual({ status: 400, json: { error: 'cannot start a failed task (only a claimed task can start)' } });
    const t = await p.admin.getTask(p.workspaceId, id);
    expect(t).toMatchObject({ status: 'failed', failure_reason: 'idle_watchdog', error: 'silent for 2s', output: null });
    await expect(p.admin.cancelTask(p.workspaceId, id)).rejects.toMatchObject({ status: 409 });
  });

  it('operator cancel: the daemon sees it via status and acknowledges; later terminal calls are no-ops', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-cancel', [rt]);
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'sleep 100' });
    const [task] = (await claim(d.token, 'd-cancel', [d.runtimeIds[rt]!])).json.tasks as Task[];
    await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/start`);
    await p.admin.cancelTask(p.workspaceId, id);
    await p.admin.cancelTask(p.workspaceId, id); // idempotent
    expect((await rawCall(p, d.token, 'GET', `/api/daemon/tasks/${id}/status`)).json.status).toBe('cancelled');
    expect((await rawCall(p, task!.auth_token!, 'GET', `/api/daemon/tasks/${id}/status`)).status).toBe(401);
    expect((await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/cancel-ack`)).status).toBe(200);
    expect((await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${id}/fail`, { error: 'x', failure_reason: 'cancelled' })).status).toBe(200);
    const t = await p.admin.getTask(p.workspaceId, id);
    expect(t.status).toBe('cancelled');
    expect(t.cancel_acked_at).not.toBeNull();
    // A queued task can be cancelled too, and is then never handed out.
    const q = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'never' });
    await p.admin.cancelTask(p.workspaceId, q.id);
    expect((await claim(d.token, 'd-cancel', [d.runtimeIds[rt]!])).json.tasks).toEqual([]);
  });

  it('recover-orphans fails what the runtime left claimed or running', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-orphan', [rt]);
    const a = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'a' });
    const b = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'b' });
    const c = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'c' });
    const tasks = (await claim(d.token, 'd-orphan', [d.runtimeIds[rt]!], 2)).json.tasks as Task[];
    expect(tasks.map((t) => t.id)).toEqual([a.id, b.id]); // queue order
    await rawCall(p, d.token, 'POST', `/api/daemon/tasks/${a.id}/start`);
    const r = await rawCall(p, d.token, 'POST', `/api/daemon/runtimes/${d.runtimeIds[rt]}/recover-orphans`);
    expect(r).toEqual({ status: 200, json: { orphaned: 2, retried: 0, recovered: 2 } });
    for (const id of [a.id, b.id]) expect(await p.admin.getTask(p.workspaceId, id)).toMatchObject({ status: 'failed', failure_reason: 'orphaned' });
    expect((await p.admin.getTask(p.workspaceId, c.id)).status).toBe('queued');
    expect((await rawCall(p, tasks[0]!.auth_token!, 'GET', `/api/daemon/tasks/${a.id}/status`)).status).toBe(401);
    expect((await rawCall(p, d.token, 'POST', `/api/daemon/runtimes/not-mine/recover-orphans`)).status).toBe(404);
  });

  it('legacy single claim hands out one task or null', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-legacy', [rt]);
    const path = `/api/daemon/runtimes/${d.runtimeIds[rt]}/tasks/claim`;
    expect(await rawCall(p, d.token, 'POST', path)).toEqual({ status: 200, json: { task: null } });
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'p' });
    const r = await rawCall(p, d.token, 'POST', path);
    expect(r.json.task).toMatchObject({ id, prompt: 'p' });
    expect(r.json.task.auth_token).toMatch(TASK_TOKEN_RE);
  });

  it('validates claim and enqueue bodies', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-valid', [rt]);
    const rid = d.runtimeIds[rt]!;
    // As Multica serves them: more than 32 is served as 32, 0 is nothing, a negative count is 400.
    expect(await claim(d.token, 'd-valid', [rid], 33)).toEqual({ status: 200, json: { tasks: [] } });
    expect(await claim(d.token, 'd-valid', [rid], 0)).toEqual({ status: 200, json: { tasks: [] } });
    expect((await claim(d.token, 'd-valid', [rid], -1)).status).toBe(400);
    expect((await claim(d.token, 'd-valid', [])).status).toBe(400);
    expect((await claim(d.token, 'someone-else', [rid])).status).toBe(403);
    // Unknown runtime ids are skipped, not 404.
    expect(await claim(d.token, 'd-valid', ['not-a-runtime'])).toEqual({ status: 200, json: { tasks: [] } });
    await expect(p.admin.enqueueTask(p.workspaceId, { runtime: '', prompt: 'x' })).rejects.toMatchObject({ status: 400, error: 'runtime is required' });
    await expect(p.admin.enqueueTask(p.workspaceId, { runtime: 'a b', prompt: 'x' })).rejects.toMatchObject({ status: 400 });
    await expect(p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'x', timeout_s: 0 })).rejects.toMatchObject({ status: 400 });
    await expect(p.admin.getTask(p.workspaceId, 'nope')).rejects.toMatchObject({ status: 404, error: 'task not found' });
  });
});

describe('claim atomicity and long poll', () => {
  it('50 tasks, 4 concurrent claimers: every task is claimed exactly once', async () => {
    const rt = uniqueRuntime();
    const daemons = await Promise.all([0, 1, 2, 3].map((i) => registerRaw(p, `d-race-${i}`, [rt])));
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: `t${i}` })).id);
    const claimed: string[] = [];
    await Promise.all(
      daemons.map(async (d, i) => {
        for (;;) {
          const r = await claim(d.token, `d-race-${i}`, [d.runtimeIds[rt]!], 1 + (i % 3) * 2);
          expect(r.status).toBe(200);
          if (r.json.tasks.length === 0) return;
          for (const t of r.json.tasks as Task[]) claimed.push(t.id);
        }
      }),
    );
    expect(claimed).toHaveLength(50);
    expect(new Set(claimed)).toEqual(ids);
    const list = await p.admin.listTasks(p.workspaceId, 1000);
    expect(list.filter((t) => ids.has(t.id)).every((t) => t.status === 'claimed')).toBe(true);
  });

  it('a waiting claim returns the task enqueued during the wait, long before wait_s', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-long', [rt]);
    const started = Date.now();
    const pending = claim(d.token, 'd-long', [d.runtimeIds[rt]!], 4, 20);
    await new Promise((r) => setTimeout(r, 200));
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'now' });
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.json.tasks.map((t: Task) => t.id)).toEqual([id]);
    // Correctness bound, not a speed figure: the answer came from the enqueue, not the 20 s timer.
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a task for another runtime does not wake the claim; the wait ends empty at wait_s', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-long-empty', [rt]);
    const pending = claim(d.token, 'd-long-empty', [d.runtimeIds[rt]!], 1, 1);
    await p.admin.enqueueTask(p.workspaceId, { runtime: uniqueRuntime(), prompt: 'not yours' });
    expect(await pending).toEqual({ status: 200, json: { tasks: [] } });
  });

  it('a claim abandoned by its client never takes a task', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-gone', [rt]);
    const ac = new AbortController();
    const pending = fetch(`${p.url}/api/daemon/tasks/claim`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ daemon_id: 'd-gone', runtime_ids: [d.runtimeIds[rt]], max_tasks: 1, wait_s: 20 }),
      signal: ac.signal,
    }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 150));
    ac.abort();
    await pending;
    await new Promise((r) => setTimeout(r, 50));
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'for the next claim' });
    expect((await p.admin.getTask(p.workspaceId, id)).status).toBe('queued');
    expect((await claim(d.token, 'd-gone', [d.runtimeIds[rt]!])).json.tasks.map((t: Task) => t.id)).toEqual([id]);
  });

  it('a daemon revoked during a long poll gets 401 on the next wake-up', async () => {
    const rt = uniqueRuntime();
    const d = await registerRaw(p, 'd-long-revoked', [rt]);
    const pending = claim(d.token, 'd-long-revoked', [d.runtimeIds[rt]!], 1, 20);
    await new Promise((r) => setTimeout(r, 150));
    await p.admin.revokeDaemon(p.workspaceId, 'd-long-revoked');
    const { id } = await p.admin.enqueueTask(p.workspaceId, { runtime: rt, prompt: 'x' });
    expect((await pending).status).toBe(401);
    expect((await p.admin.getTask(p.workspaceId, id)).status).toBe('queued');
  });
});

describe('platform options and persistence', () => {
  it('--no-long-poll answers at once, ignoring wait_s', async () => {
    const q = await startPlatform({ args: ['--no-long-poll'] });
    try {
      const d = await registerRaw(q, 'd-nlp');
      const started = Date.now();
      const r = await rawCall(q, d.token, 'POST', '/api/daemon/tasks/claim', { daemon_id: 'd-nlp', runtime_ids: [d.runtimeIds.command], max_tasks: 1, wait_s: 20 });
      expect(r).toEqual({ status: 200, json: { tasks: [] } });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await q.stop();
    }
  });

  it('claim lease: a claimed task never started goes back to the queue and wakes a waiting claimer', async () => {
    const q = await startPlatform({ args: ['--claim-lease', '300ms'] });
    try {
      const lost = await registerRaw(q, 'd-lost');
      const other = await registerRaw(q, 'd-next');
      const a = await q.admin.enqueueTask(q.workspaceId, { runtime: 'command', prompt: 'a' });
      const b = await q.admin.enqueueTask(q.workspaceId, { runtime: 'command', prompt: 'b' });
      const body = (d: string, rid: string, wait_s = 0) => ({ daemon_id: d, runtime_ids: [rid], max_tasks: 2, wait_s });
      const first = (await rawCall(q, lost.token, 'POST', '/api/daemon/tasks/claim', body('d-lost', lost.runtimeIds.command!))).json.tasks as Task[];
      expect(first.map((t) => t.id)).toEqual([a.id, b.id]);
      // b is started (a live task keeps its claim); a's claim answer was "lost".
      expect((await rawCall(q, lost.token, 'POST', `/api/daemon/tasks/${b.id}/start`)).status).toBe(200);
      const again = await rawCall(q, other.token, 'POST', '/api/daemon/tasks/claim', body('d-next', other.runtimeIds.command!, 20));
      expect(again.json.tasks.map((t: Task) => t.id)).toEqual([a.id]);
      expect((await rawCall(q, first[0]!.auth_token!, 'GET', `/api/daemon/tasks/${a.id}/status`)).status).toBe(401);
      expect((await rawCall(q, lost.token, 'POST', `/api/daemon/tasks/${a.id}/start`)).status).toBe(404);
      expect(await q.admin.getTask(q.workspaceId, b.id)).toMatchObject({ status: 'running', daemon_id: 'd-lost' });
      expect(q.output()).toContain(`task ${a.id} was claimed but not started`);
    } finally {
      await q.stop();
    }
  });

  it('queued tasks, messages and runtime ids survive a restart', async () => {
    const q = await startPlatform();
    try {
      const d = await registerRaw(q, 'd-persist');
      const a = await q.admin.enqueueTask(q.workspaceId, { runtime: 'command', prompt: 'a' });
      const b = await q.admin.enqueueTask(q.workspaceId, { runtime: 'command', prompt: 'b' });
      const claimBody = { daemon_id: 'd-persist', runtime_ids: [d.runtimeIds.command], max_tasks: 1 };
      await rawCall(q, d.token, 'POST', '/api/daemon/tasks/claim', claimBody);
      await rawCall(q, d.token, 'POST', `/api/daemon/tasks/${a.id}/messages`, { messages: [{ seq: 1, type: 'text', content: 'kept' }] });
      await q.restart();
      expect((await q.admin.getTask(q.workspaceId, a.id)).messages).toEqual([{ seq: 1, type: 'text', content: 'kept' }]);
      const r = await rawCall(q, d.token, 'POST', '/api/daemon/tasks/claim', claimBody);
      expect(r.json.tasks.map((t: Task) => t.id)).toEqual([b.id]);
    } finally {
      await q.stop();
    }
  });

  it('output acknowledged before a SIGKILL mid-stream is all there after a restart, once each (WAL past its bound)', async () => {
    const q = await startPlatform();
    try {
      const { d, a } = await runningTask(q, 'd-kill');
      const PER = 15;
      const filler = 'y'.repeat(64 * 1024 - 16);
      const content = (seq: number) => `${String(seq).padStart(8, '0')}:${filler}`;
      const batch = (k: number) => ({ messages: Array.from({ length: PER }, (_, i) => ({ seq: k * PER + i + 1, type: 'text', content: content(k * PER + i + 1) })) });
      // 72 batches of ~1 MiB: past the 64 MiB the WAL may hold before writes wait for the
      // checkpointer, so the kill may land in any of its phases.
      const ACKED = 72;
      for (let k = 0; k < ACKED; k++) expect((await rawCall(q, d.token, 'POST', `/api/daemon/tasks/${a.id}/messages`, batch(k))).json.accepted).toBe(PER);
      // One more in flight as the process dies.
      const inFlight = rawCall(q, d.token, 'POST', `/api/daemon/tasks/${a.id}/messages`, batch(ACKED)).catch((e: unknown) => e);
      q.proc.kill('SIGKILL');
      await inFlight;
      await q.restart();
      const seqs = await storedSeqs(q, a.id, content);
      // Every acknowledged message, once, in order; the one in flight wholly or not at all.
      const stored = seqs.length === (ACKED + 1) * PER ? ACKED + 1 : ACKED;
      expect(seqs).toEqual(Array.from({ length: stored * PER }, (_, i) => i + 1));
      // A resend of the batch in flight is taken or ignored, never doubled.
      await rawCall(q, d.token, 'POST', `/api/daemon/tasks/${a.id}/messages`, batch(ACKED));
      expect((await q.admin.getTask(q.workspaceId, a.id, { messagesLimit: 0 })).message_count).toBe((ACKED + 1) * PER);
    } finally {
      await q.stop();
    }
  });

  it('raw output acknowledged before a SIGKILL mid-stream is all there after a restart, once each; a resend fills the gap', async () => {
    const q = await startPlatform();
    try {
      const { d, a } = await runningTask(q, 'd-kill-raw');
      const PER = 15;
      const filler = 'z'.repeat(64 * 1024 - 16);
      const content = (seq: number) => `${String(seq).padStart(8, '0')}:${filler}\n`;
      const batch = (k: number): [string, string][] => Array.from({ length: PER }, (_, i) => ['text', content(k * PER + i + 1)]);
      const ACKED = 40;
      for (let k = 0; k < ACKED; k++) expect((await rawOutput(q, d.token, a.id, k * PER + 1, batch(k))).json?.accepted).toBe(PER);
      // Two more in flight as the process dies: their bytes may be in the file, uncommitted.
      const inFlight = [ACKED, ACKED + 1].map((k) => rawOutput(q, d.token, a.id, k * PER + 1, batch(k)).catch((e: unknown) => e));
      q.proc.kill('SIGKILL');
      await Promise.all(inFlight);
      await q.restart();
      const read = () => storedSeqs(q, a.id, content);
      const seqs = await read();
      expect(seqs.length % PER).toBe(0); // a batch is stored wholly or not at all
      expect(seqs.slice(0, ACKED * PER)).toEqual(Array.from({ length: ACKED * PER }, (_, i) => i + 1));
      // The daemon resends what it was not told was taken: each seq once, the bytes right.
      for (const k of [ACKED, ACKED + 1]) await rawOutput(q, d.token, a.id, k * PER + 1, batch(k));
      expect(await read()).toEqual(Array.from({ length: (ACKED + 2) * PER }, (_, i) => i + 1));
    } finally {
      await q.stop();
    }
  });

  it('SIGTERM during a long poll exits 0 promptly', async () => {
    const q = await startPlatform();
    try {
      const d = await registerRaw(q, 'd-term');
      const pending = rawCall(q, d.token, 'POST', '/api/daemon/tasks/claim', { daemon_id: 'd-term', runtime_ids: [d.runtimeIds.command], max_tasks: 1, wait_s: 25 }).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 150));
      const exited = new Promise<number | null>((r) => q.proc.once('exit', (code) => r(code)));
      q.proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(await pending).toEqual({ status: 200, json: { tasks: [] } });
    } finally {
      await q.stop();
    }
  });
});
