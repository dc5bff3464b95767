// Raw task output on the wire (agentd's extension, our platform only): one request
// carries a run of consecutive text messages as their bytes, not as JSON strings.
//
//   POST /api/daemon/tasks/{id}/output
//   content-type: application/x-agentd-output
//   {"seq":101,"parts":[["text",65536],["error",120]]}\n<65536 bytes><120 bytes>
//
// The head line names the first seq and each message's type and byte length; the bytes
// follow, concatenated, and must add up exactly. Message k has seq `seq + k`. Why: the
// JSON string form cost the daemon ~3 ms/MB escaping and the platform as much parsing
// (CPU profiles of bench/tasks.mjs, a task flooding 100-byte lines), work that only
// turned bytes into the same bytes. Structured messages (agent events) stay JSON on
// POST …/messages; both routes store by seq, idempotently.
import { Type } from '@sinclair/typebox';
import { MAX_MESSAGES_PER_BATCH } from './types.js';

export const OUTPUT_CONTENT_TYPE = 'application/x-agentd-output';

/**
 * Largest raw body a platform takes (the JSON route's is 1 MiB). agentd sends up to
 * 2 MiB: per request, both ends pay ~1 ms of fixed work (authentication, the
 * transaction, HTTP), and 1 → 2 MiB bodies took ~0.5–1 ms/MB off each side
 * (bench/tasks.mjs, alternating runs).
 */
export const MAX_OUTPUT_BODY_BYTES = 4 * 1024 * 1024;
/** The raw bodies agentd sends, at most. */
export const RAW_BATCH_BYTES = 2 * 1024 * 1024;

export const OutputHead = Type.Object(
  {
    seq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, mustBe: 'an integer ≥ 0' }),
    parts: Type.Array(
      Type.Tuple([Type.String({ minLength: 1, maxLength: 50 }), Type.Integer({ minimum: 0, mustBe: 'a byte count ≥ 0' })], {
        mustBe: 'a [type, byte count] pair',
      }),
      { minItems: 1, maxItems: MAX_MESSAGES_PER_BATCH },
    ),
  },
  { additionalProperties: true },
);
export type OutputHead = { seq: number; parts: [string, number][] };

/**
 * One message of a raw output body: its seq, type and bytes, as views of the body's
 * pieces (a message may span several of the pieces the body arrived in).
 */
export interface OutputPart {
  seq: number;
  type: string;
  length: number;
  pieces: Buffer[];
}

/** A part's bytes in one buffer (a view when it is one piece). */
export function partBytes(p: OutputPart): Buffer {
  return p.pieces.length === 1 ? (p.pieces[0] as Buffer) : Buffer.concat(p.pieces, p.length);
}

const NL = 0x0a;
/** Longest head line accepted (10,000 parts of a long type name fit). */
export const MAX_OUTPUT_HEAD_BYTES = 1024 * 1024;

/** Bytes a part adds to the head line at most: `["<type>",<length>],` with a 16-digit length. */
export function headBytesFor(type: string): number {
  return type.length + 22;
}

/** A body of head + parts, in a new buffer (the daemon writes its arenas in place instead). */
export function encodeOutputBody(firstSeq: number, parts: readonly { type: string; bytes: Buffer }[]): Buffer {
  const head = outputHeadLine(firstSeq, parts);
  let size = Buffer.byteLength(head);
  for (const p of parts) size += p.bytes.length;
  const out = Buffer.allocUnsafe(size);
  let n = out.write(head, 0, 'utf8');
  for (const p of parts) n += p.bytes.copy(out, n);
  return out;
}

/** The head line (with its newline) of a body carrying `parts` from seq `firstSeq` on. */
export function outputHeadLine(firstSeq: number, parts: readonly { type: string; bytes: Buffer }[]): string {
  return `${JSON.stringify({ seq: firstSeq, parts: parts.map((p) => [p.type, p.bytes.length]) })}\n`;
}

/** Why a raw output body was refused (the platform answers 400 with this text). */
export class OutputBodyError extends Error {}

/**
 * Splits a body, as the pieces it arrived in, into its parts (views, no copies of the
 * bytes). `check` validates the parsed head against OutputHead (the caller's schema
 * layer) and returns it typed, or throws.
 */
export function decodeOutputBody(body: Buffer | readonly Buffer[], check: (v: unknown) => OutputHead): OutputPart[] {
  const pieces = Buffer.isBuffer(body) ? [body] : body;
  const total = pieces.reduce((n, b) => n + b.length, 0);
  // The head line: up to the first newline, which must come within MAX_OUTPUT_HEAD_BYTES.
  let pi = 0;
  let off = -1;
  let seen = 0;
  for (; pi < pieces.length && seen <= MAX_OUTPUT_HEAD_BYTES; pi++) {
    const nl = (pieces[pi] as Buffer).indexOf(NL);
    if (nl >= 0) {
      off = nl;
      break;
    }
    seen += (pieces[pi] as Buffer).length;
  }
  if (off < 0 || seen + off > MAX_OUTPUT_HEAD_BYTES) throw new OutputBodyError('output body has no head line (a JSON object and a newline before the bytes)');
  const headText = Buffer.concat([...pieces.slice(0, pi), (pieces[pi] as Buffer).subarray(0, off)]).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(headText) as unknown;
  } catch {
    throw new OutputBodyError('output head line is not valid JSON');
  }
  const head = check(raw);
  if (head.parts.length - 1 > Number.MAX_SAFE_INTEGER - head.seq) throw new OutputBodyError('output head: seqs run past the largest safe integer');
  const afterHead = total - (seen + off + 1);
  const declared = head.parts.reduce((n, [, len]) => n + len, 0);
  if (declared > afterHead) throw new OutputBodyError(`output body is shorter than its head says (${afterHead} bytes after the head, ${declared} declared)`);
  if (declared < afterHead) throw new OutputBodyError(`output body has ${afterHead - declared} bytes more than its head says`);
  // Walk the pieces from just after the newline.
  off += 1;
  const out: OutputPart[] = [];
  for (const [type, len] of head.parts) {
    const part: OutputPart = { seq: head.seq + out.length, type, length: len, pieces: [] };
    let need = len;
    while (need > 0) {
      const cur = pieces[pi] as Buffer;
      if (off >= cur.length) {
        pi++;
        off = 0;
        continue;
      }
      const n = Math.min(need, cur.length - off);
      part.pieces.push(cur.subarray(off, off + n));
      off += n;
      need -= n;
    }
    if (len === 0) part.pieces.push(Buffer.alloc(0));
    out.push(part);
  }
  return out;
}
