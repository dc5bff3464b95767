// `codex`: `codex exec --json` prints one JSON event per line. Two shapes exist in the
// wild and both are accepted:
//   current:  {"type":"thread.started","thread_id"} {"type":"item.started"|"item.completed",
//             "item":{"type":"agent_message"|"reasoning"|"command_execution"|"mcp_tool_call"|
//             "file_change"|"web_search"|"todo_list"|"error",…}} {"type":"turn.completed"}
//             {"type":"turn.failed","error":{"message"}} {"type":"error","message"}
//   legacy:   {"id":"0","msg":{"type":"agent_message"|"agent_reasoning"|"exec_command_begin"|
//             "exec_command_end"|"task_complete"|"error",…}}
// The prompt goes in on stdin (`-`). The work dir is not a git repository, hence
// --skip-git-repo-check.
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

export const codexAdapter: RuntimeAdapter = {
  name: 'codex',
  binary: 'codex',
  maxLineBytes: 8 * 1024 * 1024,
  briefFile: 'AGENTS.md',
  buildsPrompt: true,
  command(_task, ctx) {
    const model = ctx.input.agent?.model;
    return {
      file: ctx.binaryPath ?? 'codex',
      args: ['exec', '--json', '--skip-git-repo-check', ...(model ? ['--model', model] : []), ...(ctx.input.agent?.custom_args ?? []), '-'],
      stdin: ctx.input.prompt,
    };
  },
  parser: () => new CodexParser(),
};

const TOOL_ITEMS = new Set(['command_execution', 'mcp_tool_call', 'web_search', 'file_change']);

export class CodexParser implements StreamParser {
  private readonly open = new Set<string>();
  sessionId: string | undefined;
  private lastMessage: string | undefined;
  private failure: string | undefined;
  private readonly err = new StderrTail();

  get toolInFlight(): boolean {
    return this.open.size > 0;
  }

  stdoutLine(line: string): OutMessage[] {
    if (line.trim() === '') return [];
    const ev = parseJsonObject(line);
    if (!ev) return [{ type: 'text', content: line }];
    try {
      const msg = obj(ev.msg);
      if (msg) return this.legacy(msg, line);
      return this.current(ev, line);
    } catch {
      return [{ type: 'text', content: line }];
    }
  }

  stderrLine(line: string): OutMessage[] {
    this.err.push(line);
    return [{ type: 'stderr', content: line }];
  }

  finish() {
    const diagnostics = this.err.text();
    const failureReason = classifyAgentError(this.failure) ?? classifyAgentError(diagnostics);
    return {
      output: this.lastMessage ?? '',
      ...(this.sessionId ? { session_id: this.sessionId } : {}),
      ...(this.failure ? { error: this.failure } : {}),
      diagnostics,
      ...(failureReason ? { failureReason } : {}),
    };
  }

  private current(ev: Record<string, unknown>, raw: string): OutMessage[] {
    switch (ev.type) {
      case 'thread.started':
        this.sessionId = str(ev.thread_id) ?? this.sessionId;
        return [{ type: 'system', content: `thread started ${this.sessionId ?? ''}`.trim() }];
      case 'turn.started':
      case 'turn.completed':
        return [];
      case 'turn.failed': {
        this.failure = str(obj(ev.error)?.message) ?? 'codex reported a failed turn';
        return [{ type: 'error', content: this.failure }];
      }
      case 'error':
        return [{ type: 'error', content: str(ev.message) ?? raw }];
      case 'item.started':
      case 'item.updated':
      case 'item.completed': {
        const item = obj(ev.item);
        if (!item) return [{ type: 'system', content: raw }];
        return this.item(item, ev.type === 'item.completed', ev.type === 'item.started');
      }
      default:
        return [{ type: 'system', content: raw }];
    }
  }

  private item(item: Record<string, unknown>, completed: boolean, started: boolean): OutMessage[] {
    const id = str(item.id) ?? '';
    const kind = str(item.type) ?? 'item';
    if (TOOL_ITEMS.has(kind)) {
      const input = toolInput(kind, item);
      const tool = kind === 'mcp_tool_call' ? `${str(item.server) ?? 'mcp'}.${str(item.tool) ?? 'tool'}` : kind;
      if (completed) {
        const wasOpen = this.open.delete(id);
        const out: OutMessage[] = [];
        if (!wasOpen) out.push({ type: 'tool_use', tool, input }); // completed without a start event
        out.push({ type: 'tool_result', tool, output: toolOutput(kind, item) });
        return out;
      }
      if (started && !this.open.has(id)) {
        this.open.add(id);
        return [{ type: 'tool_use', tool, input }];
      }
      return [];
    }
    if (!completed) return [];
    switch (kind) {
      case 'agent_message': {
        const text = str(item.text) ?? '';
        this.lastMessage = text;
        return [{ type: 'text', content: text }];
      }
      case 'reasoning':
        return [{ type: 'thinking', content: str(item.text) ?? '' }];
      case 'error':
        return [{ type: 'error', content: str(item.message) ?? JSON.stringify(item) }];
      default:
        return [{ type: 'system', content: JSON.stringify(item) }];
    }
  }

  private legacy(msg: Record<string, unknown>, raw: string): OutMessage[] {
    const type = str(msg.type) ?? '';
    if (type.endsWith('_delta')) return []; // streamed fragments; the full item follows
    const callId = str(msg.call_id) ?? '';
    switch (type) {
      case 'session_configured':
        this.sessionId = str(msg.session_id) ?? this.sessionId;
        return [{ type: 'system', content: 'session configured' }];
      case 'agent_message': {
        const text = str(msg.message) ?? '';
        this.lastMessage = text;
        return [{ type: 'text', content: text }];
      }
      case 'agent_reasoning':
        return [{ type: 'thinking', content: str(msg.text) ?? '' }];
      case 'exec_command_begin':
        this.open.add(callId);
        return [{ type: 'tool_use', tool: 'command_execution', input: { command: msg.command } }];
      case 'exec_command_end':
        this.open.delete(callId);
        return [
          {
            type: 'tool_result',
            tool: 'command_execution',
            output: { exit_code: msg.exit_code, output: msg.aggregated_output ?? msg.stdout ?? '' },
          },
        ];
      case 'mcp_tool_call_begin':
      case 'patch_apply_begin':
        this.open.add(callId);
        return [{ type: 'tool_use', tool: type.replace(/_begin$/, ''), input: msg.invocation ?? msg.changes ?? {} }];
      case 'mcp_tool_call_end':
      case 'patch_apply_end':
        this.open.delete(callId);
        return [{ type: 'tool_result', tool: type.replace(/_end$/, ''), output: msg.result ?? msg.stdout ?? '' }];
      case 'task_complete': {
        const last = str(msg.last_agent_message);
        if (last !== undefined) this.lastMessage = last;
        return [];
      }
      case 'error':
        this.failure = str(msg.message) ?? 'codex reported an error';
        return [{ type: 'error', content: this.failure }];
      case 'task_started':
      case 'token_count':
        return [];
      default:
        return [{ type: 'system', content: raw }];
    }
  }
}

function toolInput(kind: string, item: Record<string, unknown>): unknown {
  switch (kind) {
    case 'command_execution':
      return { command: item.command };
    case 'mcp_tool_call':
      return item.arguments ?? {};
    case 'web_search':
      return { query: item.query };
    default:
      return { changes: item.changes };
  }
}

function toolOutput(kind: string, item: Record<string, unknown>): unknown {
  if (kind === 'command_execution') {
    return { exit_code: item.exit_code, output: item.aggregated_output ?? '', status: item.status };
  }
  return item.result ?? item.status ?? '';
}
