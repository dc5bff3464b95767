// `claude`: Claude Code in print mode with `--output-format stream-json --verbose`.
// One JSON event per line:
//   {"type":"system","subtype":"init","session_id":…,"model":…}
//   {"type":"assistant","message":{"content":[{type:"text",text}|{type:"thinking",thinking}
//                                             |{type:"tool_use",id,name,input}]}}
//   {"type":"user","message":{"content":[{type:"tool_result",tool_use_id,content,is_error}]}}
//   {"type":"result","subtype":"success"|"error_…","is_error":bool,"result":…,"session_id":…}
// A tool_use without its tool_result is a tool call in flight (the watchdog's long window).
// The prompt goes in on stdin: no argv length limit, and it stays out of `ps`.
import { TailBuffer } from '../lines.js';
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
  command(task, ctx) {
    return {
      file: ctx.binaryPath ?? 'claude',
      args: ['-p', '--output-format', 'stream-json', '--verbose'],
      stdin: task.prompt,
    };
  },
  parser: () => new ClaudeParser(),
};

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
  private sessionId: string | undefined;
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
    return {
      output,
      ...(this.sessionId ? { session_id: this.sessionId } : {}),
      ...(this.resultError ? { error: this.resultError } : {}),
      diagnostics: this.err.text(),
    };
  }

  private event(ev: Record<string, unknown>, raw: string): OutMessage[] {
    const sid = str(ev.session_id);
    if (sid) this.sessionId = sid;
    switch (ev.type) {
      case 'system': {
        const sub = str(ev.subtype) ?? 'system';
        const model = str(ev.model);
        return [{ type: 'system', content: model ? `${sub} (model ${model})` : sub }];
      }
      case 'assistant':
        return this.blocks(obj(ev.message)?.content, 'assistant');
      case 'user':
        return this.blocks(obj(ev.message)?.content, 'user');
      case 'result': {
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
