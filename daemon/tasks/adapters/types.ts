// A runtime adapter turns a task into a command line and the child's output into
// messages. Parsers are tolerant by contract: any line they do not understand becomes a
// plain text message, and nothing a child prints can throw out of a parser.
import type { Agent, MulticaFailureReason, UsageEntry } from '../../../api/task-context.js';
import type { TaskMessage, Task } from '../../../api/types.js';

/**
 * A message before the output stream numbers it. `bytes` (raw text output) is the
 * content as UTF-8 bytes, put on the wire without becoming a JS string; `content` is
 * then absent.
 */
export type OutMessage = Omit<TaskMessage, 'seq'> & { bytes?: Buffer };

export interface AdapterCommand {
  file: string;
  args: string[];
  /** Written to the child's stdin then closed; null: stdin is /dev/null. */
  stdin: string | null;
  /** Keep stdin open after writing (closed when the parser says `inputDone`, or at exit). */
  keepStdinOpen?: boolean;
}

/** What the agent is asked to do, decided before the adapter builds its command line. */
export interface AgentInput {
  /** The task's `prompt` (our extension), or the prompt built from its Multica context. */
  prompt: string;
  /** The agent definition of a Multica-shaped task (model, custom_args…). */
  agent: Agent | undefined;
  /** A previous session to resume (`prior_session_id`). */
  resumeSessionId: string | undefined;
}

export interface AdapterResult {
  /** The task's final output (`complete` body). */
  output: string;
  session_id?: string;
  /** Set when the agent reported failure even if it exited 0 (e.g. claude is_error). */
  error?: string;
  /** Last stderr lines: explains a non-zero exit. */
  diagnostics?: string;
  /** Token counts the agent reported, per model (POST /usage). */
  usage?: UsageEntry[];
  /** Multica's refined reason, when the error text names a cause (adapters of agent CLIs only). */
  failureReason?: MulticaFailureReason;
}

export interface StreamParser {
  /**
   * `text` adapters only: one chunk of raw stdout (any number of lines, cut on a
   * character boundary; chunks concatenated are the whole output).
   */
  stdoutText?(bytes: Buffer): OutMessage[];
  /** `text` adapters only: one chunk of raw stderr. */
  stderrText?(bytes: Buffer): OutMessage[];
  /** One stdout line, without its newline. */
  stdoutLine(line: string): OutMessage[];
  /** One stderr line, without its newline. */
  stderrLine(line: string): OutMessage[];
  /** True while a tool call has started and its result has not been seen. */
  readonly toolInFlight: boolean;
  /** The agent's session id, as soon as it said one (POST /session pins it mid-run). */
  readonly sessionId?: string | undefined;
  /** The agent has answered (e.g. claude's `result`): its stdin can be closed. */
  readonly inputDone?: boolean;
  /** Lines the agent waits for on its stdin (claude's control responses), taken once. */
  takeReplies?(): string[];
  /** Called once after the child ended. */
  finish(): AdapterResult;
}

export interface RuntimeAdapter {
  /** Adapter name as registered (`command`, `claude`, `codex`). */
  readonly name: string;
  /** The executable looked up on PATH (null: always available). */
  readonly binary: string | null;
  /** Longest stdout line kept whole (JSON events can be large). */
  readonly maxLineBytes: number;
  /**
   * How the child's output reaches the parser: `lines` (default: one call per line, for
   * structured events, one message each) or `text` (raw text coalesced into chunks of up
   * to 64 KiB: one message per chunk, not per line).
   */
  readonly output?: 'lines' | 'text';
  /** The brief file Multica's daemon writes for this agent into the work dir (null: none). */
  readonly briefFile: 'CLAUDE.md' | 'AGENTS.md' | null;
  /** False: the task must carry `prompt` (nothing to build one for). */
  readonly buildsPrompt: boolean;
  command(task: Task, ctx: { binaryPath: string | null; input: AgentInput }): AdapterCommand;
  parser(): StreamParser;
}

/** Most recent stderr lines, for the error of a failed task. */
export class StderrTail {
  private lines: string[] = [];
  constructor(private readonly max = 20) {}
  push(line: string): void {
    if (line.trim() === '') return;
    this.lines.push(line.length > 500 ? line.slice(0, 500) + '…' : line);
    if (this.lines.length > this.max) this.lines.shift();
  }
  text(): string {
    return this.lines.join('\n');
  }
}

/** Parse a JSON object line; null for anything else. Never throws. */
export function parseJsonObject(line: string): Record<string, unknown> | null {
  const t = line.trim();
  if (!t.startsWith('{')) return null;
  try {
    const v: unknown = JSON.parse(t);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
