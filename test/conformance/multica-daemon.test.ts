// A daemon that behaves as Multica's does (multica-daemon-client.ts) against the real
// agentd-platform process: every route and field a Multica daemon relies on, in the
// shapes Multica's server answers. Each test names the routes it checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolRaw, startPlatform, type TestPlatform } from '../helpers/platform.js';
import { MULTICA_MESSAGE_TYPES, MulticaDaemonClient, RequestError, type MulticaTask } from './multica-daemon-client.js';

let p: TestPlatform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.stop();
});

let n = 0;
/** A provider no other test uses: tasks route by runtime type, and tests share one workspace. */
const uniqueProvider = () => `prov${process.pid}x${++n}`;

async function daemon(id: string, o: { legacy?: string[]; platform?: TestPlatform } = {}): Promise<MulticaDaemonClient> {
  const q = o.platform ?? p;
  return new MulticaDaemonClient({ serverUrl: q.url, token: await enrolRaw(q, id), daemonId: id, deviceName: `${id}.local`, legacyDaemonIds: o.legacy });
}

/** Registers `providers` the Go daemon's way; returns runtime ids by provider. */
async function registered(d: MulticaDaemonClient, providers: string[], q: TestPlatform = p): Promise<Record<string, string>> {
  const r = await d.register(q.workspaceId, providers.map((x) => d.builtin(x)));
  return Object.fromEntries(r.body.runtimes.map((rt) => [rt.provider, rt.id]));
}

async function agentFor(provider: string, extra: Record<string, unknown> = {}) {
  const res = await fetch(`${p.url}/api/workspaces/${p.workspaceId}/agents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${p.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `agent-${provider}`, provider, instructions: 'You are a careful reviewer.', ...extra }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; name: string };
}

async function enqueueFor(agentId: string, chat_message: string): Promise<string> {
  const res = await fetch(`${p.url}/api/workspaces/${p.workspaceId}/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${p.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent_id: agentId, chat_message }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const rejection = (e: unknown) => (e instanceof RequestError ? { status: e.statusCode, body: e.body } : { status: -1, body: String(e) });

describe('workspace sync', () => {
  it('GET /api/daemon/workspaces: [{id,name}] with a weak ETag, then 304 for If-None-Match', async () => {
    const d = await daemon('m-sync');
    const first = await d.syncWorkspaces();
    expect(first.changed).toBe(true);
    expect(first.workspaces).toEqual([{ id: p.workspaceId, name: 'default' }]);
    expect(first.etag).toMatch(/^W\/"[0-9a-f]{64}"$/);
    expect(await d.syncWorkspaces()).toEqual({ changed: false });
  });

  it('GET …/repos and …/runtime-profiles answer Multica’s shapes; another workspace is 404', async () => {
    const d = await daemon('m-repos');
    const repos = await d.repos(p.workspaceId);
    expect(repos.body).toEqual({ workspace_id: p.workspaceId, repos: [], repos_version: expect.stringMatching(/^[0-9a-f]{64}$/), settings: {} });
    expect((await d.runtimeProfiles(p.workspaceId)).body).toEqual({ workspace_id: p.workspaceId, runtime_profiles: [] });
    expect(await d.repos('00000000-0000-0000-0000-000000000000').catch(rejection)).toEqual({ status: 404, body: '{"error":"workspace not found"}' });
  });
});

describe('register and heartbeat', () => {
  it('free-text names, provider/repos/repos_version/settings in the answer, stable ids', async () => {
    const d = await daemon('m-reg');
    const prov = uniqueProvider();
    const long = 'x'.repeat(200);
    const r = await d.register(p.workspaceId, [d.builtin(prov), { name: long, type: `${prov}b`, version: '2', status: 'online' }]);
    expect(r.body.runtimes).toEqual([
      expect.objectContaining({ name: `${prov.charAt(0).toUpperCase()}${prov.slice(1)} (m-reg.local)`, provider: prov, status: 'online', id: expect.any(String) }),
      expect.objectContaining({ name: long, provider: `${prov}b` }),
    ]);
    expect(r.body).toMatchObject({ repos: [], repos_version: expect.stringMatching(/^[0-9a-f]{64}$/), settings: {} });
    const again = await d.register(p.workspaceId, [d.builtin(prov), { name: long, type: `${prov}b`, version: '2', status: 'online' }]);
    expect(again.body.runtimes.map((x) => x.id)).toEqual(r.body.runtimes.map((x) => x.id));
    // Bounded: a name past 200 characters, or with a control character, is 400.
    expect((await d.register(p.workspaceId, [{ name: 'y'.repeat(201), type: prov, version: '', status: 'online' }]).catch(rejection)).status).toBe(400);
    expect((await d.register(p.workspaceId, [{ name: 'a\nb', type: prov, version: '', status: 'online' }]).catch(rejection)).status).toBe(400);
  });

  it('legacy_daemon_ids: the old id’s runtime row is merged away; a live daemon is never merged; the new runtime takes the work', async () => {
    const prov = uniqueProvider();
    const old = await daemon('m-legacy-old');
    await registered(old, [prov]);
    // The machine switches to a persistent id: the old one's credential is retired (its
    // unfinished work ends at the revocation, so only the runtime row is left to merge).
    await p.admin.revokeDaemon(p.workspaceId, 'm-legacy-old');
    const live = await daemon('m-legacy-live');
    const liveIds = await registered(live, [prov]);

    const fresh = await daemon('m-legacy-new', { legacy: ['m-legacy-old', 'm-legacy-live'] });
    const newIds = await registered(fresh, [prov]);
    const daemons = await p.admin.listDaemons(p.workspaceId);
    expect(daemons.find((x) => x.daemon_id === 'm-legacy-old')).toBeUndefined();
    expect(daemons.find((x) => x.daemon_id === 'm-legacy-live')?.runtimes.map((r) => r.id)).toEqual([liveIds[prov]]);
    expect(daemons.find((x) => x.daemon_id === 'm-legacy-new')?.runtimes.map((r) => r.id)).toEqual([newIds[prov]]);
    const agent = await agentFor(prov);
    const taskId = await enqueueFor(agent.id, 'carry on');
    expect((await fresh.claim([newIds[prov]!], 1)).tasks.map((t) => t.id)).toEqual([taskId]);
    await fresh.start(taskId);
    expect((await fresh.complete(taskId, { output: 'done' })).body).toMatchObject({ id: taskId, status: 'completed', runtime_id: newIds[prov] });
  });

  it('POST /api/daemon/heartbeat → {status:"ok"}; an unknown runtime is 404 "runtime not found"', async () => {
    const d = await daemon('m-hb');
    const ids = await registered(d, [uniqueProvider()]);
    const [rid] = Object.values(ids);
    expect((await d.heartbeat(rid!)).body).toMatchObject({ status: 'ok' });
    const gone = rejection(await d.heartbeat('no-such-runtime').catch((e: unknown) => e));
    expect(gone.status).toBe(404);
    expect(gone.body).toContain('runtime not found');
  });

  it('POST /api/daemon/deregister → {status:"ok"}; recover-orphans → {orphaned, retried}', async () => {
    const d = await daemon('m-dereg');
    const ids = await registered(d, [uniqueProvider()]);
    const [rid] = Object.values(ids);
    expect((await d.recoverOrphans(rid!)).body).toMatchObject({ orphaned: 0, retried: 0 });
    expect((await d.deregister([rid!])).body).toEqual({ status: 'ok' });
  });
});

describe('claims', () => {
  it('a batch claim with an unknown runtime id still hands out the task (skipped, not 404); the alias and the legacy claim work', async () => {
    const prov = uniqueProvider();
    const d = await daemon('m-claim');
    const ids = await registered(d, [prov]);
    const agent = await agentFor(prov);
    const a = await enqueueFor(agent.id, 'one');
    const b = await enqueueFor(agent.id, 'two');
    const c = await enqueueFor(agent.id, 'three');
    const other = await daemon('m-claim-other');
    const foreign = Object.values(await registered(other, [uniqueProvider()]))[0]!;

    const batch = await d.claim(['00000000-dead-beef-0000-000000000000', foreign, ids[prov]!], 1);
    expect(batch.legacy).toBe(false);
    expect(batch.tasks.map((t) => t.id)).toEqual([a]);
    expect((await d.claim([ids[prov]!], 1, '/api/daemon/claim')).tasks.map((t) => t.id)).toEqual([b]);
    expect((await d.claimLegacy(ids[prov]!))?.id).toBe(c);
    expect(await d.claimLegacy(ids[prov]!)).toBeNull();
    expect((await d.claim([ids[prov]!], 0)).tasks).toEqual([]);
  });

  it('an agent task carries agent_id, agent{…}, the chat context and a mat_; the prompt is built from it', async () => {
    const d = await daemon('m-agent');
    const ids = await registered(d, ['claude']);
    const agent = await agentFor('claude', { model: 'sonnet', custom_env: { LOG_LEVEL: 'debug' }, custom_args: ['--max-turns', '3'] });
    const id = await enqueueFor(agent.id, 'Summarise the failing test');
    const [t] = (await d.claim([ids.claude!], 4)).tasks as MulticaTask[];
    expect(t).toMatchObject({
      id,
      agent_id: agent.id,
      runtime_id: ids.claude,
      workspace_id: p.workspaceId,
      issue_id: '',
      auth_token: expect.stringMatching(/^mat_[0-9a-f]{40}$/),
      agent: { id: agent.id, name: agent.name, instructions: 'You are a careful reviewer.', model: 'sonnet', custom_env: { LOG_LEVEL: 'debug' }, custom_args: ['--max-turns', '3'], skills: [] },
      chat_session_id: expect.any(String),
      chat_message: 'Summarise the failing test',
      repos: [],
    });
    expect(t).not.toHaveProperty('prompt');
    expect(MulticaDaemonClient.identityProblem(t!)).toBeUndefined();
    const run = await d.runTask(t!, { leaseEveryMs: 10, agent: async (prompt) => ({ output: `read: ${prompt.length} chars`, sessionId: 'sess-1' }) });
    expect(run.outcome).toBe('completed');
    expect(run.prompt).toContain('You are a careful reviewer.');
    expect(run.prompt).toContain('Summarise the failing test');
  });
});

describe('the task life', () => {
  it('start (task JSON; a second start is 400), progress, messages in Multica’s vocabulary, session, usage, complete (task JSON)', async () => {
    const prov = uniqueProvider();
    const d = await daemon('m-life');
    const ids = await registered(d, [prov]);
    const agent = await agentFor(prov);
    const id = await enqueueFor(agent.id, 'go');
    const [t] = (await d.claim([ids[prov]!], 1)).tasks;
    const lease = await d.prepareLease(ids[prov]!, id);
    expect(lease.body).toMatchObject({ id, agent_id: agent.id, status: 'claimed', prepare_lease_expires_at: expect.any(String) });
    const started = await d.start(id);
    expect(started.body).toMatchObject({ id, agent_id: agent.id, runtime_id: ids[prov], status: 'running', started_at: expect.any(String) });
    expect(rejection(await d.start(id).catch((e: unknown) => e)).status).toBe(400);
    expect((await d.progress(id, 'Launching claude', 1, 2)).body).toEqual({ status: 'ok' });
    const all = MULTICA_MESSAGE_TYPES.map((type) => (type === 'tool_use' ? { type, tool: 'Bash', input: { command: 'ls' } } : type === 'tool_result' ? { type, tool: 'Bash', output: 'a\nb' } : { type, content: `${type} here` }));
    expect((await d.messages(id, all)).body).toMatchObject({ status: 'ok' });
    expect((await d.session(id, { session_id: 'sess-9', work_dir: '/w/9' })).body).toEqual({ status: 'ok' });
    expect(rejection(await d.session(id, {}).catch((e: unknown) => e)).status).toBe(400);
    expect((await d.usage(id, [{ provider: 'anthropic', model: 'm', input_tokens: 10, output_tokens: 4, cache_read_tokens: 2, cache_write_tokens: 1, cost_usd_ticks: 5 }])).body).toEqual({ status: 'ok' });
    const done = await d.complete(id, { output: 'all good', session_id: 'sess-9', branch_name: 'agent/x' });
    expect(done.body).toMatchObject({ id, status: 'completed', completed_at: expect.any(String) });
    expect((await d.complete(id, { output: 'again' })).body).toMatchObject({ status: 'completed' }); // already terminal: success
    expect(t!.auth_token).toMatch(/^mat_/);

    const detail = await p.admin.getTask(p.workspaceId, id);
    expect(detail).toMatchObject({ status: 'completed', output: 'all good', session_id: 'sess-9', work_dir: '/w/9', agent_id: agent.id, chat_message: 'go' });
    expect((detail as unknown as { usage: unknown }).usage).toEqual({ input_tokens: 10, output_tokens: 4, cache_read_tokens: 2, cache_write_tokens: 1, reports: 1 });
    expect(detail.messages.map((m) => m.type)).toEqual([...MULTICA_MESSAGE_TYPES]);
    expect(detail.messages[2]).toMatchObject({ type: 'tool_use', tool: 'Bash', input: { command: 'ls' } });
  });

  it('fail with Multica’s failure reasons stores them as given; a malformed reason is 400; a prompt task fails invalid_task_identity', async () => {
    const prov = uniqueProvider();
    const d = await daemon('m-fail');
    const ids = await registered(d, [prov]);
    const agent = await agentFor(prov);
    const reasons = ['agent_error.provider_auth_or_access', 'runtime_recovery', 'agent_error.context_overflow', 'timeout', 'idle_watchdog'];
    for (const reason of reasons) {
      const id = await enqueueFor(agent.id, reason);
      const [t] = (await d.claim([ids[prov]!], 1)).tasks;
      expect(t!.id).toBe(id);
      await d.start(id);
      expect((await d.fail(id, { error: `failed: ${reason}`, failure_reason: reason, session_id: 's' })).body).toMatchObject({ id, status: 'failed', failure_reason: reason });
      expect(await p.admin.getTask(p.workspaceId, id)).toMatchObject({ status: 'failed', failure_reason: reason, error: `failed: ${reason}` });
    }
    const id = await enqueueFor(agent.id, 'bad reason');
    await d.claim([ids[prov]!], 1);
    const bad = rejection(await d.fail(id, { error: 'x', failure_reason: 'Not A Reason' }).catch((e: unknown) => e));
    expect(bad.status).toBe(400);
    expect(rejection(await d.fail(id, { error: 'x', failure_reason: 'a'.repeat(101) }).catch((e: unknown) => e)).status).toBe(400);
    expect((await d.fail(id, { error: 'no reason given' })).body).toMatchObject({ status: 'failed', failure_reason: 'agent_error' });

    // A task without an agent identity (our prompt task) is refused before /start, as the Go daemon does.
    const { id: promptTask } = await p.admin.enqueueTask(p.workspaceId, { runtime: prov, prompt: 'echo hi' });
    const [pt] = (await d.claim([ids[prov]!], 1)).tasks;
    expect(pt!.id).toBe(promptTask);
    expect((await d.runTask(pt!, { agent: async () => ({ output: 'never' }) })).outcome).toBe('failed');
    expect(await p.admin.getTask(p.workspaceId, promptTask)).toMatchObject({ status: 'failed', failure_reason: 'invalid_task_identity', started_at: null });
  });

  it('cancel: the status poll sees it, usage is still accepted, cancel-ack → {status:"ok"}', async () => {
    const prov = uniqueProvider();
    const d = await daemon('m-cancel');
    const ids = await registered(d, [prov]);
    const agent = await agentFor(prov);
    const id = await enqueueFor(agent.id, 'long job');
    const [t] = (await d.claim([ids[prov]!], 1)).tasks;
    const run = d.runTask(t!, {
      leaseEveryMs: 10,
      agent: async () => {
        await p.admin.cancelTask(p.workspaceId, id); // the operator cancels while the agent runs
        return { output: 'partial' };
      },
    });
    expect((await run).outcome).toBe('cancelled');
    const detail = await p.admin.getTask(p.workspaceId, id);
    expect(detail).toMatchObject({ status: 'cancelled', failure_reason: 'cancelled', cancel_acked_at: expect.any(String) });
    expect((detail as unknown as { usage: { reports: number } }).usage.reports).toBe(1);
  });

  it('wait-local-directory parks a claimed task (task JSON, reason shown); gc-check routes', async () => {
    const prov = uniqueProvider();
    const d = await daemon('m-gc');
    const ids = await registered(d, [prov]);
    const agent = await agentFor(prov);
    const id = await enqueueFor(agent.id, 'needs /srv/repo');
    const [t] = (await d.claim([ids[prov]!], 1)).tasks;
    expect((await d.waitLocalDirectory(id, '/srv/repo (held by task 1a2b3c4d)')).body).toMatchObject({ id, status: 'claimed' });
    expect(await p.admin.getTask(p.workspaceId, id)).toMatchObject({ wait_reason: '/srv/repo (held by task 1a2b3c4d)' });
    expect((await d.request('GET', `/api/daemon/tasks/${id}/gc-check`)).body).toEqual({ status: 'claimed', completed_at: null });
    expect((await d.request('GET', `/api/daemon/chat-sessions/${t!.chat_session_id}/gc-check`)).body).toMatchObject({ status: 'active' });
    await d.start(id);
    await d.complete(id, { output: 'ok' });
    expect((await d.request('GET', `/api/daemon/tasks/${id}/gc-check`)).body).toEqual({ status: 'completed', completed_at: expect.any(String) });
    expect((await d.request('GET', `/api/daemon/chat-sessions/${t!.chat_session_id}/gc-check`)).body).toMatchObject({ status: 'archived', updated_at: expect.any(String) });
    expect((await d.request('POST', `/api/daemon/workspaces/${p.workspaceId}/issues/gc-check`, { issue_ids: ['i1', 'i2'] })).body).toEqual({
      issues: [
        { id: 'i1', found: false },
        { id: 'i2', found: false },
      ],
    });
    expect(rejection(await d.request('GET', '/api/daemon/issues/i1/gc-check').catch((e: unknown) => e))).toEqual({ status: 404, body: '{"error":"issue not found"}' });
    expect(rejection(await d.request('GET', '/api/daemon/autopilot-runs/r1/gc-check').catch((e: unknown) => e)).status).toBe(404);
    expect(rejection(await d.request('GET', '/api/daemon/chat-sessions/nope/gc-check').catch((e: unknown) => e)).status).toBe(404);
  });
});

describe('claim-to-start window', () => {
  let q: TestPlatform;
  beforeAll(async () => {
    // A short claim lease stands in for Multica's 300 s, so the test need not wait minutes.
    q = await startPlatform({ args: ['--claim-lease', '3s'] });
  });
  afterAll(async () => {
    await q?.stop();
  });

  it('prepare-lease keeps a task claimed through a preparation longer than the claim lease; without it the task is queued again', async () => {
    const d = await daemon('m-lease', { platform: q });
    const ids = await registered(d, ['claude'], q);
    const admin = q.admin;
    const agentRes = await fetch(`${q.url}/api/workspaces/${q.workspaceId}/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${q.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'slow', provider: 'claude' }),
    });
    const agent = (await agentRes.json()) as { id: string };
    const enqueue = async (msg: string) =>
      ((await (
        await fetch(`${q.url}/api/workspaces/${q.workspaceId}/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${q.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ agent_id: agent.id, chat_message: msg }),
        })
      ).json()) as { id: string }).id;

    // Without a prepare-lease: queued again once the lease is over (waited for, not timed).
    const lost = await enqueue('lost');
    await d.claim([ids.claude!], 1);
    await admin.waitForTask(q.workspaceId, lost, (t) => t.status === 'queued', 20_000);
    expect(q.output()).toContain(`task ${lost} was claimed but not started`);
    const [again] = (await d.claim([ids.claude!], 1)).tasks;
    expect(again!.id).toBe(lost); // handed out again, with a fresh token
    await d.start(lost);
    await d.complete(lost, { output: 'ok' });

    // With prepare-leases: the preparation outlasts the claim lease (until the sweep has
    // requeued something else claimed after it) and the task is still ours to start.
    const kept = await enqueue('kept');
    const [t] = (await d.claim([ids.claude!], 1)).tasks;
    expect(t!.id).toBe(kept);
    const witness = await enqueue('witness');
    const run = await d.runTask(t!, {
      leaseEveryMs: 100,
      prepare: async () => {
        const [w] = (await d.claim([ids.claude!], 1)).tasks;
        expect(w!.id).toBe(witness);
        // The witness, claimed after `kept` and never leased, goes back to the queue:
        // the sweep has passed `kept`'s claim lease too.
        await admin.waitForTask(q.workspaceId, witness, (x) => x.status === 'queued', 20_000);
      },
      agent: async () => ({ output: 'prepared for long' }),
    });
    expect(run.outcome).toBe('completed');
    expect(run.leases).toBeGreaterThanOrEqual(1);
    expect(await admin.getTask(q.workspaceId, kept, { messagesLimit: 0 })).toMatchObject({ status: 'completed', output: 'prepared for long' });
  });
});

describe('WebSocket control channel', () => {
  it('daemon:task_available on enqueue for one of the connection’s runtimes; heartbeat acks; runtime_gone', async () => {
    const prov = uniqueProvider();
    const d = await daemon('m-ws');
    const ids = await registered(d, [prov, `${prov}z`]);
    const ch = await d.connect([ids[prov]!]);
    try {
      const agent = await agentFor(prov);
      const otherAgent = await agentFor(`${prov}z`);
      // A task for a runtime type the connection did not name sends nothing; then one it did.
      await enqueueFor(otherAgent.id, 'not for this socket');
      const id = await enqueueFor(agent.id, 'wake up');
      const f = await ch.next((x) => x.type === 'daemon:task_available');
      expect(f).toEqual({ type: 'daemon:task_available', payload: { runtime_id: ids[prov], task_id: id } });
      expect(ch.frames.filter((x) => x.type === 'daemon:task_available')).toHaveLength(1);
      // The wakeup leads to a claim, as in the Go daemon.
      expect((await d.claim([ids[prov]!], 1)).tasks.map((t) => t.id)).toEqual([id]);

      const ack = await ch.heartbeat(ids[prov]!);
      expect(ack).toEqual({ type: 'daemon:heartbeat_ack', payload: { status: 'ok', runtime_id: ids[prov], runtime_status: 'online', server_capabilities: ['agentd-task-status-push'] } });
      const gone = await ch.heartbeat('not-a-runtime');
      expect(gone.payload).toMatchObject({ status: 'runtime_gone', runtime_gone: true, runtime_id: 'not-a-runtime' });
      const daemons = await p.admin.listDaemons(p.workspaceId);
      expect(daemons.find((x) => x.daemon_id === 'm-ws')?.online).toBe(true);
    } finally {
      ch.close();
    }
  });

  it('same auth as HTTP: refused before the upgrade; a revoked credential closes the socket at its next frame', async () => {
    const d = await daemon('m-ws-auth');
    const ids = await registered(d, [uniqueProvider()]);
    const [rid] = Object.values(ids);
    const bad = new MulticaDaemonClient({ ...d.o, token: 'mdt_' + '0'.repeat(40) });
    expect(rejection(await bad.connect([rid!]).catch((e: unknown) => e))).toEqual({ status: 401, body: '{"error":"invalid or revoked daemon token"}' });
    expect(rejection(await d.connect([]).catch((e: unknown) => e)).status).toBe(400);
    expect(rejection(await d.connect(['someone-elses']).catch((e: unknown) => e))).toEqual({ status: 404, body: '{"error":"runtime not found"}' });
    expect(rejection(await d.request('GET', '/api/daemon/ws').catch((e: unknown) => e)).status).toBe(426);

    // A daemon holds one socket (a few while reconnecting); past 8 the upgrade is refused.
    const many = [];
    for (let i = 0; i < 8; i++) many.push(await d.connect([rid!]));
    expect(rejection(await d.connect([rid!]).catch((e: unknown) => e))).toEqual({ status: 429, body: '{"error":"at most 8 WebSocket connections per daemon"}' });
    for (const c of many) c.close();
    await Promise.all(many.map((c) => c.untilClosed()));
    const ch = await d.connect([rid!]);
    await p.admin.revokeDaemon(p.workspaceId, 'm-ws-auth');
    ch.send('daemon:heartbeat', { runtime_id: rid, supports_batch_import: true });
    expect(await ch.untilClosed()).toEqual({ code: 1008, reason: 'invalid or revoked daemon token' });
    expect(ch.frames).toEqual([]);
  });
});

describe('WebSocket at shutdown', () => {
  it('SIGTERM closes open channels with 1001 and the platform still exits 0 promptly', async () => {
    const q = await startPlatform();
    try {
      const d = await daemon('m-ws-stop', { platform: q });
      const ids = await registered(d, ['claude'], q);
      const ch = await d.connect([ids.claude!]);
      const quiet = await d.connect([ids.claude!]);
      // A peer that never answers the close handshake must not hold the shutdown.
      quiet.ws.pause();
      const exited = new Promise<number | null>((r) => q.proc.once('exit', (code) => r(code)));
      q.proc.kill('SIGTERM');
      expect(await ch.untilClosed()).toMatchObject({ code: 1001 });
      expect(await exited).toBe(0);
    } finally {
      await q.stop();
    }
  });
});
