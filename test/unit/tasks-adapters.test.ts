import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claudeAdapter } from '../../daemon/tasks/adapters/claude.js';
import { codexAdapter } from '../../daemon/tasks/adapters/codex.js';
import { PROMPT_FROM_STDIN, commandAdapter } from '../../daemon/tasks/adapters/command.js';
import type { AgentInput, OutMessage, RuntimeAdapter } from '../../daemon/tasks/adapters/types.js';
import { ROOT } from '../helpers/bin.js';

const BIN = join(ROOT, 'test', 'fixtures', 'bin');

const input = (prompt: string, agent?: AgentInput['agent']): AgentInput => ({ prompt, agent, resumeSessionId: undefined });

/** Run a fake CLI the way the adapter would and return its stdout lines. */
function record(adapter: RuntimeAdapter, prompt: string): string[] {
  const cmd = adapter.command({ id: 't', runtime_id: 'r', workspace_id: 'w', prompt }, { binaryPath: join(BIN, adapter.name), input: input(prompt) });
  let out: string;
  try {
    out = execFileSync(cmd.file, cmd.args, { input: cmd.stdin ?? '', encoding: 'utf8' });
  } catch (err) {
    out = (err as { stdout: string }).stdout; // "fail" scenarios exit 1
  }
  return out.split('\n').filter((l) => l !== '');
}

function parseAll(adapter: RuntimeAdapter, lines: string[]) {
  const p = adapter.parser();
  const msgs: OutMessage[] = [];
  const inFlight: boolean[] = [];
  for (const l of lines) {
    msgs.push(...p.stdoutLine(l));
    inFlight.push(p.toolInFlight);
  }
  return { p, msgs, inFlight, result: p.finish() };
}

describe('claude adapter (stream-json)', () => {
  it('asks for print mode with stream-json in and out and passes the prompt on stdin as a user message', () => {
    const cmd = claudeAdapter.command({ id: 't', runtime_id: 'r', workspace_id: 'w', prompt: 'do it' }, { binaryPath: '/x/claude', input: input('do it') });
    expect(cmd.file).toBe('/x/claude');
    expect(cmd.args).toEqual(['-p', '--output-format', 'stream-json', '--input-format', 'stream-json', '--verbose']);
    expect(JSON.parse(cmd.stdin ?? '')).toEqual({ type: 'user', message: { role: 'user', content: [{ type: 'text', text: 'do it' }] } });
    expect(cmd.stdin?.endsWith('\n')).toBe(true);
    expect(cmd.keepStdinOpen).toBe(true);
    expect(cmd.args.join(' ')).not.toContain('do it');
  });

  it('a Multica agent runs unattended, with its model and custom_args after ours, protocol flags removed', () => {
    const agent = { id: 'a1', model: 'sonnet', custom_args: ['--max-turns', '3', '--output-format', 'json', '--verbose', '--input-format=text', '-p'] };
    const cmd = claudeAdapter.command({ id: 't', runtime_id: 'r', workspace_id: 'w' }, { binaryPath: null, input: input('x', agent) });
    expect(cmd.args).toEqual([
      '-p', '--output-format', 'stream-json', '--input-format', 'stream-json', '--verbose',
      '--permission-mode', 'bypassPermissions', '--disallowedTools', 'AskUserQuestion', '--model', 'sonnet', '--max-turns', '3',
    ]);
  });

  it('reads usage per model from the result, says the session id at once and that input is done', () => {
    const p = claudeAdapter.parser();
    p.stdoutLine(JSON.stringify({ type: 'system', subtype: 'init', session_id: 's-9', model: 'm1' }));
    expect(p.sessionId).toBe('s-9');
    expect(p.inputDone).toBe(false);
    p.stdoutLine(JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: 'ok', usage: { input_tokens: 3, output_tokens: 4 } }));
    expect(p.inputDone).toBe(true);
    expect(p.finish().usage).toEqual([{ provider: 'claude', model: 'm1', input_tokens: 3, output_tokens: 4, cache_read_tokens: 0, cache_write_tokens: 0 }]);
  });

  it('names the cause of a failure in Multica\'s vocabulary when the error says it', () => {
    const p = claudeAdapter.parser();
    p.stdoutLine(JSON.stringify({ type: 'result', is_error: true, result: 'Invalid API key · Please run /login' }));
    expect(p.finish().failureReason).toBe('agent_error.provider_auth_or_access');
    const q = claudeAdapter.parser();
    q.stdoutLine(JSON.stringify({ type: 'result', is_error: true, result: 'Prompt is too long' }));
    expect(q.finish().failureReason).toBe('agent_error.context_overflow');
    const r = claudeAdapter.parser();
    r.stdoutLine(JSON.stringify({ type: 'result', is_error: true, result: 'it went wrong' }));
    expect(r.finish().failureReason).toBeUndefined();
  });

  it('turns events into typed messages, tracks the tool in flight, returns result and session id', () => {
    const lines = record(claudeAdapter, 'build it tool 0.05');
    const { msgs, inFlight, result } = parseAll(claudeAdapter, lines);
    expect(msgs.map((m) => m.type)).toEqual(['system', 'thinking', 'text', 'tool_use', 'tool_result', 'text']);
    expect(msgs[3]).toMatchObject({ type: 'tool_use', tool: 'Bash', input: { command: 'sleep 0.05' } });
    expect(msgs[4]).toMatchObject({ type: 'tool_result', tool: 'Bash', output: 'slept' });
    const toolLine = lines.findIndex((l) => l.includes('"tool_use"'));
    expect(inFlight[toolLine]).toBe(true);
    expect(inFlight[toolLine + 1]).toBe(false);
    expect(result.output).toBe('Final answer for: build it tool 0.05');
    expect(result.session_id).toMatch(/^sess-\d+$/);
    expect(result.error).toBeUndefined();
  });

  it('malformed and unknown lines become plain messages, never a crash', () => {
    const lines = record(claudeAdapter, 'malformed');
    const { msgs, result } = parseAll(claudeAdapter, [...lines, '{"type":"brand_new_event","x":1}', '[1,2]', '{', 'null', '{"type":"assistant","message":{"content":[null,7,{"type":"future_block"}]}}']);
    expect(msgs).toContainEqual({ type: 'text', content: 'this is not json' });
    expect(msgs).toContainEqual({ type: 'text', content: '{"type":"assistant","message":{"content":[{"type":"te' });
    expect(msgs.some((m) => m.type === 'system' && String(m.content).includes('brand_new_event'))).toBe(true);
    expect(msgs).toContainEqual({ type: 'text', content: '[1,2]' });
    expect(result.output).toBe('Final answer for: malformed');
  });

  it('an error result marks the task failed even before the exit code is seen', () => {
    const { msgs, result } = parseAll(claudeAdapter, record(claudeAdapter, 'please fail'));
    expect(result.error).toBe('it went wrong');
    expect(msgs.at(-1)).toEqual({ type: 'error', content: 'it went wrong' });
  });

  it('stderr lines are stderr messages and explain a failure', () => {
    const p = claudeAdapter.parser();
    expect(p.stderrLine('API key missing')).toEqual([{ type: 'stderr', content: 'API key missing' }]);
    expect(p.finish().diagnostics).toBe('API key missing');
  });
});

describe('codex adapter (exec --json)', () => {
  it('runs codex exec --json reading the prompt from stdin', () => {
    const cmd = codexAdapter.command({ id: 't', runtime_id: 'r', workspace_id: 'w', prompt: 'p' }, { binaryPath: null, input: input('p') });
    expect(cmd).toEqual({ file: 'codex', args: ['exec', '--json', '--skip-git-repo-check', '-'], stdin: 'p' });
  });

  it('parses the current item events', () => {
    const lines = record(codexAdapter, 'fix tool 0.05 malformed');
    const { msgs, inFlight, result } = parseAll(codexAdapter, lines);
    expect(msgs.map((m) => m.type)).toEqual(['system', 'thinking', 'text', 'tool_use', 'tool_result', 'text']);
    expect(msgs[2]).toEqual({ type: 'text', content: 'not json at all' });
    expect(msgs[4]).toMatchObject({ tool: 'command_execution', output: { exit_code: 0, output: 'a\n' } });
    const started = lines.findIndex((l) => l.includes('item.started'));
    expect(inFlight[started]).toBe(true);
    expect(inFlight[started + 1]).toBe(false);
    expect(result.output).toBe('Codex answer for: fix tool 0.05 malformed');
    expect(result.session_id).toMatch(/^thread-\d+$/);
  });

  it('parses the legacy msg events', () => {
    const { msgs, result } = parseAll(codexAdapter, record(codexAdapter, 'legacy'));
    expect(msgs.map((m) => m.type)).toEqual(['system', 'thinking', 'tool_use', 'tool_result', 'text']);
    expect(result.output).toBe('Legacy answer for: legacy');
    expect(result.session_id).toMatch(/^legacy-\d+$/);
  });

  it('turn.failed is an error', () => {
    const { result } = parseAll(codexAdapter, record(codexAdapter, 'fail'));
    expect(result.error).toBe('model refused');
  });
});

describe('command adapter', () => {
  it('runs the prompt with /bin/sh, read from stdin (never argv); lines are text, stderr is stderr, output is the stdout tail', () => {
    const cmd = commandAdapter.command({ id: 't', runtime_id: 'r', workspace_id: 'w', prompt: 'echo hi' }, { binaryPath: null, input: input('echo hi') });
    expect(cmd).toEqual({ file: '/bin/sh', args: ['-c', PROMPT_FROM_STDIN], stdin: 'echo hi' });
    expect(cmd.args.join(' ')).not.toContain('echo hi');
    const p = commandAdapter.parser();
    expect(p.stdoutLine('one')).toEqual([{ type: 'text', content: 'one' }]);
    expect(p.stdoutLine('{"type":"result"}')).toEqual([{ type: 'text', content: '{"type":"result"}' }]);
    expect(p.stderrLine('warn')).toEqual([{ type: 'stderr', content: 'warn' }]);
    const r = p.finish();
    expect(r.output).toBe('one\n{"type":"result"}\n');
    expect(r.error).toBeUndefined();
  });

  it('keeps only the last 64 KB of stdout as the output', () => {
    const p = commandAdapter.parser();
    const line = 'x'.repeat(1023);
    for (let i = 0; i < 200; i++) p.stdoutLine(`${i} ${line}`);
    const out = p.finish().output;
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(64 * 1024);
    expect(out.endsWith(`199 ${line}\n`)).toBe(true);
    expect(out).not.toContain(`\n100 ${line}`);
  });
});
