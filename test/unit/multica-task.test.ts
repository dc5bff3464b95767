// A Multica task turned into the agent's input: identity check, the prompt by trigger,
// the brief files (and the marked block that keeps a file's own text), the environment
// (MULTICA_* and custom_env minus blocked keys), the failure classifier.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readTaskContext } from '../../api/task-context.js';
import type { Task } from '../../api/types.js';
import { claudeAdapter } from '../../daemon/tasks/adapters/claude.js';
import { commandAdapter } from '../../daemon/tasks/adapters/command.js';
import { classifyAgentError } from '../../daemon/tasks/adapters/failure.js';
import { briefFiles } from '../../daemon/tasks/brief.js';
import { buildTaskEnv, isBlockedEnvKey } from '../../daemon/tasks/env.js';
import { buildPrompt, taskKind } from '../../daemon/tasks/prompt.js';
import { prepareInput } from '../../daemon/tasks/task-input.js';
import { TaskIsolation } from '../../daemon/tasks/isolation.js';
import { writeWorkFiles } from '../../store/workdirs.js';

const MAT = 'mat_' + 'a'.repeat(40);
const agent = { id: 'ag-1', name: 'Reviewer', instructions: 'Be terse.' };
const task = (extra: Record<string, unknown> = {}): Task => ({ id: 't1', runtime_id: 'r1', workspace_id: 'w1', agent_id: 'ag-1', agent, issue_id: 'iss-1', auth_token: MAT, ...extra });

describe('task identity', () => {
  it.each([
    ['agent.id differs from agent_id', { agent_id: 'ag-2' }],
    ['no agent{}', { agent: undefined }],
    ['no agent_id', { agent_id: undefined }],
    ['a malformed agent (no id)', { agent: { name: 'x' } }],
    ['a token that is not a mat_', { auth_token: 'mdt_' + 'b'.repeat(40) }],
    ['no token at all', { auth_token: undefined }],
  ])('refuses %s with invalid_task_identity', (_what, extra) => {
    const r = prepareInput(task(extra), claudeAdapter);
    expect(r).toMatchObject({ ok: false, reason: 'invalid_task_identity' });
  });

  it('a task of our platform (prompt, no agent) runs as before; a command task without prompt is agent_error', () => {
    const ours = prepareInput({ id: 't', runtime_id: 'r', prompt: 'echo hi', auth_token: MAT }, commandAdapter);
    expect(ours).toMatchObject({ ok: true, input: { prompt: 'echo hi' }, files: [] });
    const bare = prepareInput({ id: 't', runtime_id: 'r', agent_id: 'ag-1', agent, auth_token: MAT }, commandAdapter);
    expect(bare).toMatchObject({ ok: false, reason: 'agent_error' });
  });

  it('a prompt on a Multica-shaped task wins over the built one, and its brief files are still written', () => {
    const r = prepareInput(task({ prompt: 'do exactly this' }), claudeAdapter);
    expect(r).toMatchObject({ ok: true, input: { prompt: 'do exactly this' } });
    if (r.ok) expect(r.files.map((f) => f.path)).toContain('CLAUDE.md');
  });

  it('drops a context field of the wrong type, not the task', () => {
    const c = readTaskContext({ chat_session_id: 42, chat_message: 'hi', handoff_note: 'x', agent: { id: 'a', custom_env: { A: 1 } } });
    expect(c).toEqual({ chat_message: 'hi', handoff_note: 'x' });
  });
});

describe('the prompt, by trigger', () => {
  it('chat wins over everything; then comment; then autopilot; then quick-create; else the issue', () => {
    expect(taskKind({ chat_session_id: 'c', trigger_comment_id: 'x', autopilot_run_id: 'a' })).toBe('chat');
    expect(taskKind({ trigger_comment_id: 'x', autopilot_run_id: 'a' })).toBe('comment');
    expect(taskKind({ autopilot_run_id: 'a', quick_create_prompt: 'q' })).toBe('autopilot');
    expect(taskKind({ quick_create_prompt: 'q' })).toBe('quick_create');
    expect(taskKind({})).toBe('issue');
  });

  it('an issue assignment carries the issue id and the handoff note', () => {
    const p = buildPrompt({ issue_id: 'iss-1', handoff_note: 'Only the README.' });
    expect(p).toContain('iss-1');
    expect(p).toContain('> Only the README.');
    expect(p).toContain('multica issue get iss-1 --output json');
  });

  it('a comment carries its text, its author, every folded comment and the reply parent', () => {
    const p = buildPrompt({
      issue_id: 'iss-1',
      trigger_comment_id: 'c-3',
      trigger_comment_content: 'line one\nline two',
      trigger_author_type: 'agent',
      trigger_author_name: 'Scout',
      coalesced_comments: [
        { id: 'c-1', content: 'first', thread_id: 'th-a', author_name: 'Ada' },
        { id: 'c-2', content: 'second', author_type: 'system' },
      ],
    });
    expect(p).toContain('> line one\n> line two');
    expect(p).toContain('another agent (Scout)');
    expect(p).toMatch(/comment c-1 by Ada in thread th-a:\n {2}> first/);
    expect(p).toMatch(/comment c-2 by the platform/);
    expect(p).toContain('--parent c-3');
  });

  it('an autopilot run carries its instructions and payload; quick-create its input and fixed flags', () => {
    const a = buildPrompt({ autopilot_run_id: 'run-1', autopilot_id: 'ap-1', autopilot_description: 'Triage new bugs.', autopilot_trigger_payload: { n: 1 } });
    expect(a).toContain('run-1');
    expect(a).toContain('Triage new bugs.');
    expect(a).toContain('"n": 1');
    const q = buildPrompt({ quick_create_prompt: 'login page broken', quick_create_priority: 'high', agent: { id: 'ag-1' } });
    expect(q).toContain('> login page broken');
    expect(q).toContain('--priority high');
    expect(q).toContain('--assignee-id ag-1');
    expect(q).not.toContain('multica issue get');
  });
});

describe('brief files', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes CLAUDE.md with the agent, issue_context.md and the task marker; an existing CLAUDE.md keeps its text, and a rewrite replaces only the block', async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-brief-'));
    writeFileSync(join(dir, 'CLAUDE.md'), '# Repo rules\nUse tabs.\n');
    const c = readTaskContext(task({ workspace_context: 'Ship on Fridays.', handoff_note: 'start small' }));
    writeWorkFiles(dir, briefFiles(c, 'CLAUDE.md'));
    const once = readFileSync(join(dir, 'CLAUDE.md'), 'utf8');
    expect(once.startsWith('# Repo rules\nUse tabs.\n')).toBe(true);
    expect(once).toContain('**Reviewer** (id `ag-1`)');
    expect(once).toContain('Be terse.');
    expect(once).toContain('Ship on Fridays.');
    expect(readFileSync(join(dir, '.agent_context/issue_context.md'), 'utf8')).toContain('> start small');
    writeWorkFiles(dir, briefFiles(readTaskContext(task({ agent: { ...agent, instructions: 'Be kind.' } })), 'CLAUDE.md'));
    const twice = readFileSync(join(dir, 'CLAUDE.md'), 'utf8');
    expect(twice.startsWith('# Repo rules\nUse tabs.\n')).toBe(true);
    expect(twice).toContain('Be kind.');
    expect(twice).not.toContain('Be terse.');
    expect(twice.match(/runtime brief \(rewritten/g)).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(dir, '.multica/daemon_task_context.json'), 'utf8'))).toEqual({ managed_by: 'multica-daemon-task', agent_id: 'ag-1', issue_id: 'iss-1' });
  });

  it.skipIf(!(process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0))('with a task user, the brief files are written by that user into its own work dir', async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-brief-user-'));
    chmodSync(dir, 0o711);
    mkdirSync(join(dir, 'work'), { mode: 0o700 });
    chownSync(join(dir, 'work'), 65534, 65534);
    const iso = await TaskIsolation.detect({ taskUser: 'nobody', stateDir: dir, env: {} });
    const wd = join(dir, 'work', 't1');
    await iso.writeWorkFiles(wd, briefFiles(readTaskContext(task()), 'CLAUDE.md'));
    for (const f of ['CLAUDE.md', '.agent_context/issue_context.md', '.multica/daemon_task_context.json']) expect(statSync(join(wd, f)).uid).toBe(65534);
    expect(statSync(wd).uid).toBe(65534);
    expect(readFileSync(join(wd, 'CLAUDE.md'), 'utf8')).toContain('Be terse.');
    await expect(iso.writeWorkFiles(wd, [{ path: '../x', content: '' }])).rejects.toThrow(/outside the work directory/);
  });

  it('refuses a path that leaves the work dir', async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-brief-'));
    expect(() => writeWorkFiles(dir, [{ path: '../escape.md', content: 'x' }])).toThrow(/outside the work directory/);
  });
});

describe('task environment', () => {
  it('gives MULTICA_* beside AGENTD_*, applies custom_env minus the blocked keys', () => {
    const env = buildTaskEnv(
      { PATH: '/usr/bin', HOME: '/home/me', AGENTD_TOKEN: 'mdt_secret', SECRET: 'x' },
      {
        taskId: 't1',
        taskToken: MAT,
        platformUrl: 'https://m.example',
        multica: { workspaceId: 'w1', agentId: 'ag-1', agentName: 'Reviewer', daemonPort: 19514 },
        customEnv: { FOO: 'bar', MULTICA_TOKEN: 'mat_forged', multica_server_url: 'x', HOME: '/evil', PATH: '/evil', TMPDIR: '/evil', AGENTD_TASK_TOKEN: 'x', 'BAD=NAME': 'x' },
      },
    );
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/me',
      AGENTD_TASK_ID: 't1',
      AGENTD_TASK_TOKEN: MAT,
      AGENTD_PLATFORM_URL: 'https://m.example',
      MULTICA_TOKEN: MAT,
      MULTICA_SERVER_URL: 'https://m.example',
      MULTICA_WORKSPACE_ID: 'w1',
      MULTICA_TASK_ID: 't1',
      MULTICA_AGENT_ID: 'ag-1',
      MULTICA_AGENT_NAME: 'Reviewer',
      MULTICA_DAEMON_PORT: '19514',
      FOO: 'bar',
    });
  });

  it('blocks Multica\'s keys case-insensitively, and ours', () => {
    for (const k of ['MULTICA_X', 'multica_token', 'HOME', 'path', 'USER', 'SHELL', 'TERM', 'TMPDIR', 'TMP', 'TEMP', 'CODEX_HOME', 'AGENTD_X']) expect(isBlockedEnvKey(k)).toBe(true);
    for (const k of ['ANTHROPIC_API_KEY', 'HOMEBREW', 'GIT_AUTHOR_NAME']) expect(isBlockedEnvKey(k)).toBe(false);
  });
});

describe('failure classifier', () => {
  it.each([
    ['Invalid API key · Please run /login', 'agent_error.provider_auth_or_access'],
    ['API Error: 429 rate_limit_error', 'agent_error.provider_capacity_or_rate_limit'],
    ['API Error: 529 Overloaded', 'agent_error.provider_capacity_or_rate_limit'],
    ['Prompt is too long', 'agent_error.context_overflow'],
    ['Your credit balance is too low', 'agent_error.provider_quota_limit'],
    ['API Error: 500 Internal server error', 'agent_error.provider_server_error'],
    ['fetch failed: ECONNRESET', 'agent_error.provider_network'],
    ['model: claude-nope not found', 'agent_error.model_not_found_or_unavailable'],
  ])('%s → %s', (text, reason) => {
    expect(classifyAgentError(text)).toBe(reason);
  });

  it('names nothing it cannot tell', () => {
    expect(classifyAgentError('it went wrong')).toBeUndefined();
    expect(classifyAgentError(undefined)).toBeUndefined();
  });
});
