// `claude`: Claude Code in print mode with `--output-format stream-json --verbose`.
// One JSON event per line:
//   {"type":"system","subtype":"init","session_id":…,"model":…}
//   {"type":"assistant","message":{"content":[{type:"text",text}|{type:"thinking",thinking}
//                                             |{type:"tool_use",id,name,input}]}}
//   {"type":"user","message":{"content":[{type:"tool_result",tool_use_id,content,is_error}]}}
//   {"type":"result","subtype":"success"|"error_…","is_error":bool,"result":…,"session_id":…}
// A tool_use without its tool_result is a tool call in flight (the watchdog's long window).
//
// The prompt goes in on stdin as one stream-json user message (`--input-format
// stream-json`), never in argv: no length limit, and it stays out of `ps`. Stdin stays
// open until the `result` event, as Multica's daemon keeps it, because claude may ask
// for a control response on the same stream mid-run.
//
// Arguments: ours first, then the agent's `custom_args` (Multica's order) with the
// protocol flags taken out (an agent cannot switch the output format we parse). A
// Multica-shaped task (one with `agent{}`) runs unattended as Multica's daemon runs it:
// `--permission-mode bypassPermissions --disallowedTools AskUserQuestion` (no one is
// there to answer a permission prompt or a question), plus `--model` and `--resume`
// when the task names them.
import type { UsageEntry } from '../../../api/task-context.js';
import { TailBuffer } from '../lines.js';
import { classifyAgentError } from './failure.js';
import {
  StderrTail,
  obj,
  parseJsonObject,
  str,
  type OutMessage,
  type RuntimeAdapter,
  type StreamParser,
} from './types.js';

const TEXT_TAIL_BYTES = 64 * 1024;

export const claudeAdapter: RuntimeAdapter = {
  name: 'claude',
  binary: 'claude',
  maxLineBytes: 8 * 1024 * 1024,
  briefFile: 'CLAUDE.md',
  buildsPrompt: true,
  command(_task, ctx) {
    const { input } = ctx;
    const args = ['-p', '--output-format', 'stream-json', '--input-format', 'stream-json', '--verbose'];
    if (input.agent) args.push('--permission-mode', 'bypassPermissions', '--disallowedTools', 'AskUserQuestion');
    if (input.agent?.model) args.push('--model', input.agent.model);
    if (input.resumeSessionId) args.push('--resume', input.resumeSessionId);
    args.push(...withoutProtocolFlags(input.agent?.custom_args ?? []));
    return { file: ctx.binaryPath ?? 'claude', args, stdin: userMessage(input.prompt), keepStdinOpen: true };
  },
  parser: () => new ClaudeParser(),
};

/** One stream-json input line: the user turn carrying the prompt. */
export function userMessage(prompt: string): string {
  return JSON.stringify({ type: 'user', message: { role: 'user', content: [{ type: 'text', text: prompt }] } }) + '\n';
}

/** Flags that decide how we talk to claude; `custom_args` may not change them. */
const PROTOCOL_FLAGS = new Set(['-p', '--print', '--verbose']);
const PROTOCOL_FLAGS_WITH_VALUE = new Set(['--output-format', '--input-format']);

export function withoutProtocolFlags(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const name = a.split('=', 1)[0] as string;
    if (PROTOCOL_FLAGS.has(a)) continue;
    if (PROTOCOL_FLAGS_WITH_VALUE.has(name)) {
      if (!a.includes('=') && i + 1 < args.length && !(args[i + 1] as string).startsWith('-')) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

function usageEntry(model: string, u: Record<string, unknown>): UsageEntry | null {
  const e: UsageEntry = {
    provider: 'claude',
    model,
    input_tokens: count(u.input_tokens ?? u.inputTokens),
    output_tokens: count(u.output_tokens ?? u.outputTokens),
    cache_read_tokens: count(u.cache_read_input_tokens ?? u.cacheReadInputTokens),
    cache_write_tokens: count(u.cache_creation_input_tokens ?? u.cacheCreationInputTokens),
  };
  return e.input_tokens + e.output_tokens + e.cache_read_tokens + e.cache_write_tokens > 0 ? e : null;
}

/** Text of a tool_result's content: a string or an array of {type:"text",text} blocks. */
function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((b) => {
        const o = obj(b);
        return o ? (str(o.text) ?? (o.type === 'image' ? '[image]' : JSON.stringify(o))) : String(b);
      })
      .join('\n');
  }
  return content === undefined ? '' : JSON.stringify(content);
}

export class ClaudeParser implements StreamParser {
  private readonly open = new Map<string, string>(); // tool_use id → tool name
  sessionId: string | undefined;
  inputDone = false;
  private model: string | undefined;
  private usage: UsageEntry[] | undefined;
  private replies: string[] = [];
  private result: string | undefined;
  private resultError: string | undefined;
  private readonly texts = new TailBuffer(TEXT_TAIL_BYTES);
  private readonly err = new StderrTail();

  get toolInFlight(): boolean {
    return this.open.size > 0;
  }

  stdoutLine(line: string): OutMessage[] {
    if (line.trim() === '') return [];
    const ev = parseJsonObject(line);
    if (!ev) return [{ type: 'text', content: line }];
    try {
      return this.event(ev, line);
    } catch {
      return [{ type: 'text', content: line }];
    }
  }

  stderrLine(line: string): OutMessage[] {
    this.err.push(line);
    return [{ type: 'stderr', content: line }];
  }

  finish() {
    const output = this.result ?? this.texts.toString();
    const diagnostics = this.err.text();
    const failureReason = classifyAgentError(this.resultError) ?? classifyAgentError(diagnostics);
    return {
      output,
      ...(this.sessionId ? { session_id: this.sessionId } : {}),
      ...(this.resultError ? { error: this.resultError } : {}),
      diagnostics,
      ...(this.usage ? { usage: this.usage } : {}),
      ...(failureReason ? { failureReason } : {}),
    };
  }

  /** Lines to write to claude's stdin (answers to its control requests), taken once. */
  takeReplies(): string[] {
    const r = this.replies;
    this.replies = [];
    return r;
  }

  /**
   * A control request on the stream (claude asks its host; it waits for the answer on
   * stdin). A tool permission is granted, as Multica's daemon grants it: the agent runs
   * unattended, and a task with an agent already runs with bypassPermissions. Anything
   * else is answered with an error rather than left waiting.
   */
  private answerControl(ev: Record<string, unknown>): void {
    const id = str(ev.request_id);
    if (!id) return;
    const req = obj(ev.request);
    const response =
      req?.subtype === 'can_use_tool'
        ? { subtype: 'success', request_id: id, response: { behavior: 'allow', updatedInput: obj(req.input) ?? {} } }
        : { subtype: 'error', request_id: id, error: `agentd does not answer ${str(req?.subtype) ?? 'this'} control requests` };
    this.replies.push(JSON.stringify({ type: 'control_response', response }) + '\n');
  }

  /** Usage of the `result` event: per model (`modelUsage`), else its `usage` under the session's model. */
  private readUsage(ev: Record<string, unknown>): void {
    const per = obj(ev.modelUsage);
    const entries: UsageEntry[] = [];
    if (per) {
      for (const [model, u] of Object.entries(per)) {
        const o = obj(u);
        const e = o && model ? usageEntry(model, o) : null;
        if (e) entries.push(e);
      }
    }
    if (entries.length === 0) {
      const u = obj(ev.usage);
      const e = u ? usageEntry(this.model ?? 'unknown', u) : null;
      if (e) entries.push(e);
    }
    if (entries.length > 0) this.usage = entries;
  }

  private event(ev: Record<string, unknown>, raw: string): OutMessage[] {
    const sid = str(ev.session_id);
    if (sid) this.sessionId = sid;
    switch (ev.type) {
      case 'system': {
        const sub = str(ev.subtype) ?? 'system';
        const model = str(ev.model);
        if (model) this.model = model;
        return [{ type: 'system', content: model ? `${sub} (model ${model})` : sub }];
      }
      case 'assistant':
        return this.blocks(obj(ev.message)?.content, 'assistant');
      case 'user':
        return this.blocks(obj(ev.message)?.content, 'user');
      case 'control_request':
        this.answerControl(ev);
        return [];
      case 'result': {
        this.inputDone = true;
        this.readUsage(ev);
        const text = str(ev.result);
        if (text !== undefined) this.result = text;
        const isError = ev.is_error === true || (typeof ev.subtype === 'string' && ev.subtype.startsWith('error'));
        if (isError) {
          this.resultError = text || `claude reported ${str(ev.subtype) ?? 'an error'}`;
          return [{ type: 'error', content: this.resultError }];
        }
        return [];
      }
      default:
        // stream_event (partial messages), rate-limit notices and future event types:
        // keep them visible, unparsed.
        return [{ type: 'system', content: raw }];
    }
  }

  private blocks(content: unknown, role: 'assistant' | 'user'): OutMessage[] {
    if (typeof content === 'string') {
      if (role === 'assistant') this.texts.append(content + '\n');
      return [{ type: role === 'assistant' ? 'text' : 'system', content }];
    }
    if (!Array.isArray(content)) return [];
    const out: OutMessage[] = [];
    for (const b of content) {
      const block = obj(b);
      if (!block) continue;
      switch (block.type) {
        case 'text': {
          const t = str(block.text) ?? '';
          if (role === 'assistant') this.texts.append(t + '\n');
          out.push({ type: 'text', content: t });
          break;
        }
        case 'thinking':
          out.push({ type: 'thinking', content: str(block.thinking) ?? str(block.text) ?? '' });
          break;
        case 'redacted_thinking':
          out.push({ type: 'thinking', content: '[redacted]' });
          break;
        case 'tool_use':
        case 'server_tool_use': {
          const id = str(block.id) ?? `anon-${this.open.size}`;
          const name = str(block.name) ?? 'tool';
          this.open.set(id, name);
          out.push({ type: 'tool_use', tool: name, input: block.input ?? {} });
          break;
        }
        case 'tool_result': {
          const id = str(block.tool_use_id);
          const name = (id && this.open.get(id)) || undefined;
          if (id) this.open.delete(id);
          const text = toolResultText(block.content);
          out.push({
            type: 'tool_result',
            ...(name ? { tool: name } : {}),
            output: text,
            ...(block.is_error === true ? { content: 'error' } : {}),
          });
          break;
        }
        default:
          out.push({ type: 'system', content: JSON.stringify(block) });
      }
    }
    return out;
  }
}
