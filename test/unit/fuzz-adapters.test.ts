// Property tests of what reads an agent CLI's output: the line splitter and the
// claude / codex / command stream parsers. A child can print anything; the parsers must
// never throw, must always produce postable messages, and must track tool calls exactly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClaudeParser } from '../../daemon/tasks/adapters/claude.js';
import { CodexParser } from '../../daemon/tasks/adapters/codex.js';
import { commandAdapter } from '../../daemon/tasks/adapters/command.js';
import type { OutMessage, StreamParser } from '../../daemon/tasks/adapters/types.js';
import { LineSplitter } from '../../daemon/tasks/lines.js';

const anyJson = fc.jsonValue({ maxDepth: 3 });
const fuzzField = fc.oneof({ weight: 3, arbitrary: fc.string() }, { weight: 1, arbitrary: anyJson });
const id = fc.constantFrom('t1', 't2', 't3', '');

// Claude Code stream-json events, real shapes with fuzzed fields.
const claudeBlock = fc.oneof(
  fc.record({ type: fc.constant('text'), text: fuzzField }),
  fc.record({ type: fc.constant('thinking'), thinking: fuzzField }),
  fc.record({ type: fc.constant('tool_use'), id: fc.oneof(id, fuzzField), name: fuzzField, input: anyJson }),
  fc.record({ type: fc.constant('tool_result'), tool_use_id: fc.oneof(id, fuzzField), content: fc.oneof(fuzzField, fc.array(fc.record({ type: fc.constantFrom('text', 'image', 'x'), text: fuzzField }))), is_error: fuzzField }),
  fc.object({ maxDepth: 2 }),
);
const claudeEvent = fc.oneof(
  fc.record({ type: fc.constant('system'), subtype: fuzzField, session_id: fuzzField, model: fuzzField }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constantFrom('assistant', 'user'), message: fc.oneof(fc.record({ content: fc.oneof(fc.array(claudeBlock, { maxLength: 4 }), fuzzField) }), fuzzField) }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constant('result'), subtype: fuzzField, is_error: fuzzField, result: fuzzField, session_id: fuzzField }, { requiredKeys: ['type'] }),
  fc.record({ type: fuzzField }),
);

// Codex exec --json events (current and legacy `msg` shapes), fuzzed.
const codexItem = fc.record(
  {
    id: fc.oneof(id, fuzzField),
    type: fc.oneof(fc.constantFrom('command_execution', 'mcp_tool_call', 'web_search', 'file_change', 'agent_message', 'reasoning', 'error'), fuzzField),
    text: fuzzField,
    command: fuzzField,
    aggregated_output: fuzzField,
    exit_code: fuzzField,
    server: fuzzField,
    tool: fuzzField,
    arguments: anyJson,
    result: anyJson,
    changes: anyJson,
    query: fuzzField,
    message: fuzzField,
  },
  { requiredKeys: [] },
);
const codexEvent = fc.oneof(
  fc.record({ type: fc.constantFrom('item.started', 'item.updated', 'item.completed'), item: fc.oneof(codexItem, fuzzField) }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constantFrom('thread.started', 'turn.started', 'turn.completed', 'turn.failed', 'error'), thread_id: fuzzField, error: anyJson, message: fuzzField }, { requiredKeys: ['type'] }),
  fc.record({ id: fuzzField, msg: fc.oneof(fc.record({ type: fuzzField, call_id: fuzzField, message: fuzzField, command: anyJson }, { requiredKeys: [] }), fuzzField) }, { requiredKeys: ['msg'] }),
);

const noise = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('{', '{}', '[]', 'null', '{"type":', '\u0000', '\r', '{"type":"result"'));
const line = (events: fc.Arbitrary<unknown>) => fc.oneof({ weight: 3, arbitrary: events.map((e) => JSON.stringify(e)) }, { weight: 1, arbitrary: noise });

function checkMessages(out: OutMessage[]): void {
  expect(Array.isArray(out)).toBe(true);
  for (const m of out) {
    expect(typeof m.type).toBe('string');
    if (m.content !== undefined) expect(typeof m.content).toBe('string');
    if (m.tool !== undefined) expect(typeof m.tool).toBe('string');
    // Must be postable as JSON (no cycles, no BigInt).
    expect(() => JSON.stringify(m)).not.toThrow();
  }
}

function feed(p: StreamParser, lines: { out: boolean; text: string }[]): void {
  for (const l of lines) {
    checkMessages(l.out ? p.stdoutLine(l.text) : p.stderrLine(l.text));
    expect(typeof p.toolInFlight).toBe('boolean');
  }
  const r = p.finish();
  expect(typeof r.output).toBe('string');
  if (r.error !== undefined) expect(typeof r.error).toBe('string');
  if (r.session_id !== undefined) expect(typeof r.session_id).toBe('string');
}

const stream = (events: fc.Arbitrary<unknown>) =>
  fc.array(fc.record({ out: fc.boolean().map((b) => b || Math.random() < 0.5), text: line(events) }), { maxLength: 30 });

describe('stream parsers never throw and always produce postable messages', () => {
  it('claude', () => {
    fc.assert(fc.property(stream(claudeEvent), (lines) => feed(new ClaudeParser(), lines)), { numRuns: 500 });
  });
  it('codex', () => {
    fc.assert(fc.property(stream(codexEvent), (lines) => feed(new CodexParser(), lines)), { numRuns: 500 });
  });
  it('command', () => {
    fc.assert(fc.property(stream(fc.string()), (lines) => feed(commandAdapter.parser(), lines)), { numRuns: 300 });
  });
});

describe('tool-in-flight tracking (the watchdog picks its window from it)', () => {
  // Model: a set of open tool_use ids; tool_use opens, its tool_result closes.
  const op = fc.record({ open: fc.boolean(), id: fc.constantFrom('a', 'b', 'c') });
  it('claude: in flight exactly while some tool_use lacks its tool_result', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 20 }), (ops) => {
        const p = new ClaudeParser();
        const open = new Set<string>();
        for (const o of ops) {
          if (o.open) {
            p.stdoutLine(JSON.stringify({ type: 'assistant', message: { content: [{ type: 'tool_use', id: o.id, name: 'Bash', input: { command: 'ls' } }] } }));
            open.add(o.id);
          } else {
            p.stdoutLine(JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: o.id, content: 'ok' }] } }));
            open.delete(o.id);
          }
          expect(p.toolInFlight).toBe(open.size > 0);
        }
      }),
      { numRuns: 300 },
    );
  });
  it('codex: in flight exactly while some tool item started and has not completed', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 20 }), (ops) => {
        const p = new CodexParser();
        const open = new Set<string>();
        for (const o of ops) {
          const item = { id: o.id, type: 'command_execution', command: 'ls', aggregated_output: '', exit_code: 0 };
          p.stdoutLine(JSON.stringify({ type: o.open ? 'item.started' : 'item.completed', item }));
          if (o.open) open.add(o.id);
          else open.delete(o.id);
          expect(p.toolInFlight).toBe(open.size > 0);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('LineSplitter', () => {
  it('gives the same lines however the bytes are chunked, and no piece longer than the cap', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, '')), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 8, max: 64 }),
        (lines, cuts, max) => {
          const bytes = Buffer.from(lines.map((l) => l + '\n').join(''));
          const whole: string[] = [];
          const s1 = new LineSplitter(max, (l) => whole.push(l));
          s1.push(bytes);
          s1.end();
          const pieces: string[] = [];
          const s2 = new LineSplitter(max, (l) => pieces.push(l));
          let pos = 0;
          for (let i = 0; pos < bytes.length; i++) {
            const n = cuts[i % cuts.length] as number;
            s2.push(bytes.subarray(pos, pos + n));
            pos += n;
          }
          s2.end();
          expect(pieces).toEqual(whole);
          for (const p of pieces) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(max);
          // Lines within the cap come out unchanged.
          expect(whole.join('')).toBe(lines.join(''));
        },
      ),
      { numRuns: 500 },
    );
  });
});
