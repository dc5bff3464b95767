// The real `agentd run` (built bundle) against a server that answers as Multica's does
// (multica-server.ts): enrolment, register, heartbeat, claim, start, messages, complete,
// cancel, revocation; a Multica-shaped claude task end to end (brief files, MULTICA_*
// env, stdin prompt); the heartbeat-404 re-registration; the legacy claim; the
// WebSocket control channel. The fake `claude` on PATH is test/fixtures/bin/claude.
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_CAPABILITIES } from '../../api/task-context.js';
import { ROOT } from '../helpers/bin.js';
import { enrollDaemon, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';
import { startMulticaServer, type FakeTask, type MulticaServer } from './multica-server.js';

const FIXTURE_BIN = join(ROOT, 'test', 'fixtures', 'bin');
const VOCABULARY = ['text', 'thinking', 'tool_use', 'tool_result', 'error'];

let live: { s: MulticaServer; e: Enrolled; d: TestDaemon } | null = null;

async function boot(o: { server?: Parameters<typeof startMulticaServer>[0]; env?: NodeJS.ProcessEnv } = {}): Promise<{ s: MulticaServer; e: Enrolled; d: TestDaemon }> {
  const s = await startMulticaServer(o.server);
  const e = await enrollDaemon({ url: s.url, workspaceId: s.workspaceId, admin: { createInstallToken: () => s.createInstallToken() } }, { name: 'conformance-host' });
  const d = await startDaemon(e, { env: { PATH: `${FIXTURE_BIN}:${process.env.PATH ?? ''}`, AGENTD_HEARTBEAT_INTERVAL: '1s', ...o.env } });
  live = { s, e, d };
  await d.waitForState('ready');
  return live;
}

afterEach(async () => {
  if (!live) return;
  await live.d.stop();
  await live.s.close();
  await live.e.remove();
  live = null;
});

const done = (t: FakeTask): boolean => t.status === 'completed' || t.status === 'failed' || (t.status === 'cancelled' && t.cancelAcked);

/** The fake claude's `MULTICA {json}` line: what it saw of env, argv, cwd files and stdin. */
function sawOf(t: FakeTask): { env: Record<string, string>; argv: string[]; files: Record<string, string>; prompt: string; stdinEndedBeforeResult: boolean } {
  const line = t.messages.find((m) => typeof m.content === 'string' && m.content.startsWith('MULTICA '));
  if (!line) throw new Error(`no MULTICA line in ${JSON.stringify(t.messages).slice(0, 500)}`);
  return JSON.parse(String(line.content).slice('MULTICA '.length)) as ReturnType<typeof sawOf>;
}

describe('agentd against a Multica-shaped server', () => {
  it('enrols, registers with Multica fields, heartbeats, recovers orphans, sends the X-Client-* headers on every call', async () => {
    const { s, d, e } = await boot({ env: { AGENTD_WEBSOCKET: 'off' } });
    await s.waitFor('a heartbeat', () => s.requests.some((r) => r.path === '/api/daemon/heartbeat' && r.status === 200));
    const reg = s.requests.find((r) => r.path === '/api/daemon/register')!;
    expect(reg.status).toBe(200);
    expect(reg.body).toMatchObject({ workspace_id: s.workspaceId, daemon_id: e.daemonId, device_name: 'conformance-host', cli_version: expect.any(String) });
    const sent = (reg.body as { runtimes: Array<Record<string, unknown>> }).runtimes;
    expect(sent.map((r) => r.type).sort()).toEqual(['claude', 'codex', 'command']);
    for (const r of sent) expect(r).toMatchObject({ name: expect.any(String), type: expect.any(String), version: expect.any(String), status: 'online' });
    // The answer names providers, not types: the daemon still knows each runtime's adapter.
    const st = await d.status();
    expect(st.runtimes.map((r) => r.id).sort()).toEqual(s.runtimes.map((r) => r.id).sort());
    const hb = s.requests.find((r) => r.path === '/api/daemon/heartbeat')!;
    expect(s.runtimes.map((r) => r.id)).toContain((hb.body as { runtime_id: string }).runtime_id);
    await s.waitFor('recover-orphans for every runtime', () => s.runtimes.every((rt) => s.requests.some((r) => r.path === `/api/daemon/runtimes/${rt.id}/recover-orphans`)));
    const daemonCalls = s.requests.filter((r) => r.path.startsWith('/api/daemon/'));
    for (const r of daemonCalls) {
      expect(r.headers.authorization).toMatch(/^Bearer mdt_[0-9a-f]{40}$/);
      expect(r.headers['x-client-platform']).toBe('daemon');
      expect(r.headers['x-client-version']).toEqual(expect.any(String));
      expect(r.headers['x-client-os']).toBe('linux');
      expect(r.headers['x-client-capabilities']).toBe(CLIENT_CAPABILITIES.join(','));
    }
    // SIGTERM: drain, then deregister every runtime.
    await d.stop();
    const dereg = s.requests.find((r) => r.path === '/api/daemon/deregister');
    expect((dereg?.body as { runtime_ids: string[] }).runtime_ids.sort()).toEqual(s.runtimes.map((r) => r.id).sort());
  });

  it('runs a Multica-shaped claude task end to end: brief files, MULTICA_* env, custom env/args, prompt on stdin, session, usage, progress, complete', async () => {
    const { s, d } = await boot();
    const st = await d.status();
    const port = new URL(d.healthUrl).port;
    const t = s.enqueue({
      provider: 'claude',
      agent: {
        name: 'Reviewer',
        instructions: 'Always answer in haiku.',
        custom_env: { AGENT_CUSTOM_COLOUR: 'teal', MULTICA_TOKEN: 'mat_forged', HOME: '/nowhere', PATH: '/evil' },
        custom_args: ['--max-turns', '7', '--output-format', 'json'],
        model: 'claude-fake-model',
      },
      context: { handoff_note: 'Start with the broken test; reply multica.', workspace_context: 'We ship on Fridays.', repos: [{ url: 'https://example.com/r.git' }] },
    });
    await s.waitFor('the task to finish', () => done(t) && t);
    expect(t.status, JSON.stringify(t.result)).toBe('completed');
    expect(t.startCalls).toBe(1);
    const saw = sawOf(t);
    // Prompt: built from the context, delivered on stdin (stream-json), never in argv.
    expect(saw.prompt).toContain(t.issue_id);
    expect(saw.prompt).toContain('Start with the broken test; reply multica.');
    expect(saw.argv.join(' ')).not.toContain('broken test');
    expect(saw.argv).toEqual(expect.arrayContaining(['--input-format', 'stream-json', '--model', 'claude-fake-model', '--max-turns', '7', '--permission-mode', 'bypassPermissions']));
    expect(saw.argv.filter((a) => a === '--output-format')).toHaveLength(1);
    expect(saw.stdinEndedBeforeResult).toBe(false); // stdin stayed open until the result
    // Env: MULTICA_* beside AGENTD_*, custom_env applied minus blocked keys.
    expect(saw.env).toMatchObject({
      MULTICA_TOKEN: expect.stringMatching(/^mat_[0-9a-f]{40}$/),
      MULTICA_SERVER_URL: s.url,
      MULTICA_WORKSPACE_ID: s.workspaceId,
      MULTICA_TASK_ID: t.id,
      MULTICA_AGENT_ID: t.agent_id,
      MULTICA_AGENT_NAME: 'Reviewer',
      MULTICA_DAEMON_PORT: port,
      AGENT_CUSTOM_COLOUR: 'teal',
    });
    expect(saw.env.MULTICA_TOKEN).toBe(t.auth_token);
    expect(saw.env.HOME).not.toBe('/nowhere');
    // Brief files in the work dir.
    expect(saw.files['CLAUDE.md']).toContain('Always answer in haiku.');
    expect(saw.files['CLAUDE.md']).toContain('Reviewer');
    expect(saw.files['CLAUDE.md']).toContain('We ship on Fridays.');
    expect(saw.files['CLAUDE.md']).toContain('https://example.com/r.git');
    expect(saw.files['.agent_context/issue_context.md']).toContain(t.issue_id);
    expect(saw.files['.agent_context/issue_context.md']).toContain('Start with the broken test');
    expect(JSON.parse(saw.files['.multica/daemon_task_context.json']!)).toEqual({ managed_by: 'multica-daemon-task', agent_id: t.agent_id, issue_id: t.issue_id });
    // Task life: messages in Multica's vocabulary with increasing seqs, session, usage, progress, complete.
    expect(t.messages.length).toBeGreaterThan(0);
    for (const m of t.messages) expect(VOCABULARY).toContain(m.type);
    const seqs = t.messages.map((m) => m.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(t.sessions[0]).toMatchObject({ session_id: expect.stringMatching(/^sess-/), work_dir: expect.any(String) });
    expect(t.usage).toEqual([{ provider: 'claude', model: 'claude-fake', input_tokens: 12, output_tokens: 34, cache_read_tokens: 5, cache_write_tokens: 6 }]);
    expect(t.progress).toEqual([
      { summary: 'Launching claude', step: 1, total: 2 },
      { summary: 'Finishing task', step: 2, total: 2 },
    ]);
    expect(t.result).toMatchObject({ output: expect.stringContaining('Final answer for:'), session_id: t.sessions[0]!.session_id, work_dir: t.sessions[0]!.work_dir });
    expect(st.runtimes.length).toBeGreaterThan(0);
  });

  it('builds the prompt of a comment-triggered task from the comment and the folded earlier ones; of a chat task from the message', async () => {
    const { s } = await boot();
    const c = s.enqueue({
      context: {
        trigger_comment_id: 'c-9',
        trigger_comment_content: 'please rename it (multica)',
        trigger_author_type: 'member',
        trigger_author_name: 'Ada',
        coalesced_comments: [{ id: 'c-7', thread_id: 'th-1', author_type: 'agent', author_name: 'Bot', content: 'also fix the typo' }],
      },
    });
    const chat = s.enqueue({ context: { chat_session_id: 'cs-1', chat_message: 'what is 2+2? multica' } });
    await s.waitFor('both tasks to finish', () => done(c) && done(chat));
    const cp = sawOf(c).prompt;
    expect(cp).toContain('please rename it');
    expect(cp).toContain('also fix the typo');
    expect(cp).toContain('c-7');
    expect(cp).toContain('--parent c-9');
    const chp = sawOf(chat);
    expect(chp.prompt).toContain('what is 2+2?');
    expect(chp.prompt).not.toContain('multica issue get');
    expect(JSON.parse(chp.files['.multica/daemon_task_context.json']!)).toMatchObject({ chat_session_id: 'cs-1' });
  });

  it('answers claude\'s control request on the open stdin (a tool permission is granted, as Multica\'s daemon grants it)', async () => {
    const { s } = await boot();
    const t = s.enqueue({ context: { chat_session_id: 'cs-p', chat_message: 'permission please' } });
    await s.waitFor('the task to finish', () => done(t));
    expect(t.status, JSON.stringify(t.result)).toBe('completed');
    const line = t.messages.find((m) => String(m.content ?? '').startsWith('PERMISSION '));
    expect(JSON.parse(String(line?.content).slice('PERMISSION '.length))).toEqual({ subtype: 'success', request_id: 'req-1', response: { behavior: 'allow', updatedInput: { command: 'ls' } } });
  });

  it('refuses a task whose agent.id is not its agent_id: invalid_task_identity, the agent never starts', async () => {
    const { s } = await boot();
    const t = s.enqueue({ agentId: 'someone-else' });
    await s.waitFor('the task to fail', () => done(t));
    expect(t.status).toBe('failed');
    expect(t.result).toMatchObject({ failure_reason: 'invalid_task_identity' });
    expect(t.startCalls).toBe(0);
    expect(t.messages).toEqual([]);
  });

  it('fails with Multica\'s refined reason when the agent names the cause (invalid API key → agent_error.provider_auth_or_access)', async () => {
    const { s } = await boot();
    const t = s.enqueue({ context: { chat_session_id: 'cs-2', chat_message: 'authfail' } });
    await s.waitFor('the task to fail', () => done(t));
    expect(t.result).toMatchObject({ failure_reason: 'agent_error.provider_auth_or_access', error: expect.stringContaining('Invalid API key') });
  });

  it('a task the server cancels is stopped and acknowledged with cancel-ack', async () => {
    const { s } = await boot({ env: { AGENTD_KILL_GRACE: '1s' } });
    const t = s.enqueue({ context: { chat_session_id: 'cs-3', chat_message: 'tool 60' } });
    await s.waitFor('the tool call to start', () => t.messages.some((m) => m.type === 'tool_use'));
    s.cancel(t.id);
    await s.waitFor('cancel-ack', () => t.cancelAcked);
    expect(t.result).toBeNull();
  });

  it('heartbeat 404 `runtime not found` → registers again → a task for the NEW runtime id is claimed and runs', async () => {
    const { s, d } = await boot({ env: { AGENTD_WEBSOCKET: 'off', AGENTD_POLL_INTERVAL: '1s' } });
    // Past the one re-registration that sends the device facts (it would pick up the new id by itself).
    await s.waitFor('the device-facts registration', () => s.requests.filter((r) => r.path === '/api/daemon/register').length >= 2);
    const old = s.runtimes.find((r) => r.provider === 'claude')!;
    s.deleteRuntime(old.id);
    await s.waitFor('a heartbeat 404', () => s.requests.some((r) => r.path === '/api/daemon/heartbeat' && r.status === 404));
    const fresh = await s.waitFor('a new claude runtime row', () => s.runtimes.find((r) => r.provider === 'claude' && !r.deleted));
    expect(fresh.id).not.toBe(old.id);
    await d.waitFor((st) => st.state === 'ready' && st.runtimes.some((r) => r.id === fresh.id));
    const t = s.enqueue({ runtimeId: fresh.id, context: { chat_session_id: 'cs-4', chat_message: 'hello again' } });
    await s.waitFor('the task on the new runtime to finish', () => done(t));
    expect(t.status, JSON.stringify(t.result)).toBe('completed');
    // Exactly one claim loop: never two claims in flight at once.
    expect(s.maxConcurrentClaims()).toBe(1);
  });

  it('batch claim route missing (404 page not found) → claims per runtime on the legacy route', async () => {
    const { s } = await boot({ server: { batchClaim: false }, env: { AGENTD_POLL_INTERVAL: '1s' } });
    const t = s.enqueue({ context: { chat_session_id: 'cs-5', chat_message: 'legacy' } });
    await s.waitFor('the task to finish', () => done(t));
    expect(t.status, JSON.stringify(t.result)).toBe('completed');
    expect(s.requests.some((r) => /^\/api\/daemon\/runtimes\/[^/]+\/tasks\/claim$/.test(r.path) && r.status === 200)).toBe(true);
  });

  it('revocation: every call answers 401 `invalid daemon token` → the daemon says revoked and stops claiming', async () => {
    const { s, d } = await boot();
    s.revokeTokens();
    const st = await d.waitFor((x) => x.state === 'revoked', 20_000);
    expect(st.reason).toMatch(/refused the daemon credential/);
    await s.waitFor('the re-enrol hint in the log', () => /agentd credentials set/.test(d.stdout() + d.stderr()));
    expect(s.requests.some((r) => r.status === 401 && (r.path === '/api/daemon/heartbeat' || r.path === '/api/daemon/tasks/claim'))).toBe(true);
  });
});

describe('the WebSocket control channel', () => {
  it('connects with the runtime ids and the same headers; daemon:task_available claims at once (no poll for an hour); /status and /metrics show it', async () => {
    const { s, d } = await boot({ env: { AGENTD_POLL_INTERVAL: '1h' } });
    const up = await s.waitFor('a WebSocket connection', () => s.requests.find((r) => r.path === '/api/daemon/ws' && r.status === 101));
    expect((up.body as { runtime_ids: string[] }).runtime_ids.sort()).toEqual(s.runtimes.map((r) => r.id).sort());
    expect(up.headers.authorization).toMatch(/^Bearer mdt_/);
    expect(up.headers['x-client-platform']).toBe('daemon');
    expect(up.headers['x-client-capabilities']).toBe(CLIENT_CAPABILITIES.join(','));
    // Let the claim loop settle into its (hour-long) poll wait, then enqueue.
    await s.waitFor('the claim loop to go idle', () => s.requests.filter((r) => r.path === '/api/daemon/tasks/claim').length >= 3);
    const t = s.enqueue({ context: { chat_session_id: 'cs-6', chat_message: 'wake up' } });
    await s.waitFor('the task to finish', () => done(t));
    expect(t.status, JSON.stringify(t.result)).toBe('completed');
    const st = await d.status();
    expect(st.websocket).toMatchObject({ connected: true, connects_total: 1, task_available_total: 1 });
    const metrics = await (await fetch(`${d.healthUrl}/metrics`)).text();
    expect(metrics).toMatch(/^agentd_websocket_connected 1$/m);
  });

  it('heartbeats travel over it while acks come (HTTP heartbeats pause), resume over HTTP when acks stop, and it reconnects after a drop', async () => {
    const { s } = await boot();
    const http = (): number => s.requests.filter((r) => r.path === '/api/daemon/heartbeat').length;
    const ws = (): number => s.requests.filter((r) => r.method === 'WS' && r.path === 'daemon:heartbeat').length;
    const nRuntimes = s.runtimes.length;
    await s.waitFor('WebSocket heartbeats for every runtime', () => ws() >= 3 * nRuntimes);
    // While acks come, at most one round in four goes over HTTP.
    const h0 = http();
    const w0 = ws();
    await s.waitFor('eight more WebSocket heartbeat rounds', () => ws() >= w0 + 8 * nRuntimes);
    expect(http() - h0).toBeLessThanOrEqual(4 * nRuntimes);
    s.muteAcks(true);
    const h1 = http();
    await s.waitFor('HTTP heartbeats to resume every round', () => http() >= h1 + 4 * nRuntimes);
    s.muteAcks(false);
    const connects = s.requests.filter((r) => r.path === '/api/daemon/ws' && r.status === 101).length;
    s.dropSockets();
    await s.waitFor('a reconnect', () => s.requests.filter((r) => r.path === '/api/daemon/ws' && r.status === 101).length > connects);
  });

  it('an ack with runtime_gone registers again and reconnects with the new ids', async () => {
    const { s } = await boot({ env: { AGENTD_POLL_INTERVAL: '1h' } });
    await s.waitFor('a WebSocket connection', () => s.sockets().length > 0);
    await s.waitFor('the device-facts registration', () => s.requests.filter((r) => r.path === '/api/daemon/register').length >= 2);
    const old = s.runtimes.find((r) => r.provider === 'claude')!;
    s.deleteRuntime(old.id);
    const fresh = await s.waitFor('a new claude runtime row', () => s.runtimes.find((r) => r.provider === 'claude' && !r.deleted));
    await s.waitFor('a connection naming the new id', () => s.sockets().some((c) => c.runtimeIds.includes(fresh.id)));
    const t = s.enqueue({ runtimeId: fresh.id, context: { chat_session_id: 'cs-7', chat_message: 'new id' } });
    await s.waitFor('the task to finish', () => done(t));
    expect(t.status, JSON.stringify(t.result)).toBe('completed');
  });
});

afterAll(() => undefined);
