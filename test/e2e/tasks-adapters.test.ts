// The claude and codex adapters end to end: fake CLIs (test/fixtures/bin) speaking the
// real stream formats, found on PATH, run by the real manager against the real platform.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { delimiter } from 'node:path';
import { detectRuntimes } from '../../daemon/tasks/runtimes.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { FIXTURE_BIN, startHarness, type Harness } from './tasks-harness.js';

let p: TestPlatform;
let h: Harness | null = null;
const savedPath = process.env.PATH;

beforeAll(async () => {
  process.env.PATH = `${FIXTURE_BIN}${delimiter}${savedPath}`;
  // Variables the daemon has that a task must never see.
  process.env.AGENTD_TOKEN = 'mdt_' + '0'.repeat(40);
  process.env.AGENTD_SOMETHING_ELSE = 'x';
  p = await startPlatform();
});
afterAll(async () => {
  process.env.PATH = savedPath;
  delete process.env.AGENTD_TOKEN;
  delete process.env.AGENTD_SOMETHING_ELSE;
  await p?.stop();
});
afterEach(async () => {
  await h?.close();
  h = null;
});

describe('runtime adapters end to end', () => {
  it('detectRuntimes finds command always and the CLIs on PATH with their versions', async () => {
    const found = await detectRuntimes(process.env);
    expect(found.map((r) => r.name).sort()).toEqual(['claude', 'codex', 'command']);
    expect(found.find((r) => r.name === 'claude')!.version).toBe('1.0.99 (Claude Code)');
    expect(found.find((r) => r.name === 'codex')!.version).toBe('codex-cli 0.99.0');
    const bare = await detectRuntimes({ PATH: '/nonexistent' });
    expect(bare.map((r) => r.name)).toEqual(['command']);
  });

  it('a claude task completes with the final result, session id and typed messages; the env is the allow-list', async () => {
    h = await startHarness({ platform: p, register: await detectRuntimes(process.env) });
    const id = await h.enqueue('show env', { runtime: 'claude' });
    const t = await h.waitDone(id);
    expect(t.status).toBe('completed');
    expect(t.output).toBe('Final answer for: show env');
    const msgs = await h.messages(id);
    // claude's init line is not a transcript message (Multica's vocabulary has no `system`).
    expect(msgs.map((m) => m.type)).toEqual(['thinking', 'text', 'text', 'text']);
    // Only the task's own identity: no daemon credential, no other AGENTD_* variable.
    expect(msgs).toContainEqual(expect.objectContaining({ content: 'ENV AGENTD_PLATFORM_URL,AGENTD_TASK_ID,AGENTD_TASK_TOKEN' }));
  });

  it('the tool window applies while a claude tool call is in flight', async () => {
    // 1.5 s idle window, but the fake tool call is silent for 3 s: the tool window (10 s) holds.
    h = await startHarness({ platform: p, register: await detectRuntimes(process.env), taskIdleTimeoutMs: 1500, toolIdleTimeoutMs: 10_000 });
    const id = await h.enqueue('run tool 3', { runtime: 'claude' });
    const t = await h.waitDone(id, 20_000);
    expect(t.status).toBe('completed');
    const msgs = await h.messages(id);
    expect(msgs.find((m) => m.type === 'tool_use')).toMatchObject({ tool: 'Bash', input: { command: 'sleep 3' } });
    expect(msgs.find((m) => m.type === 'tool_result')).toMatchObject({ tool: 'Bash', output: 'slept' });
  });

  it('a claude error result fails the task with agent_error and its message', async () => {
    h = await startHarness({ platform: p, register: await detectRuntimes(process.env) });
    const id = await h.enqueue('please fail', { runtime: 'claude' });
    const t = await h.waitDone(id);
    expect(t.status).toBe('failed');
    expect(t.failure_reason).toBe('agent_error');
    expect(t.error).toContain('it went wrong');
  });

  it('a codex task completes with the last agent message; malformed lines are text', async () => {
    h = await startHarness({ platform: p, register: await detectRuntimes(process.env) });
    const id = await h.enqueue('fix it malformed', { runtime: 'codex' });
    const t = await h.waitDone(id);
    expect(t.status).toBe('completed');
    expect(t.output).toBe('Codex answer for: fix it malformed');
    const msgs = await h.messages(id);
    expect(msgs).toContainEqual(expect.objectContaining({ type: 'text', content: 'not json at all' }));
    expect(msgs.some((m) => m.type === 'tool_result')).toBe(true);
  });
});
