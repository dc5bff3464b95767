// The raw output framing (api/output-frames.ts): what the daemon encodes the platform
// decodes, whatever pieces the body arrives in; a malformed body is refused with a
// reason, never half-read.
import { describe, expect, it } from 'vitest';
import { OutputBodyError, decodeOutputBody, encodeOutputBody, partBytes, type OutputHead } from '../../api/output-frames.js';
import { ByteTail } from '../../daemon/tasks/lines.js';

const asHead = (v: unknown) => v as OutputHead;
const parts = [
  { type: 'text', bytes: Buffer.from('first line\nsecond "line"\n') },
  { type: 'error', bytes: Buffer.from('é€😀\x00\x01') },
  { type: 'text', bytes: Buffer.alloc(0) },
  { type: 'text', bytes: Buffer.alloc(70_000, 0x61) },
];

/** `body` cut into pieces at the given offsets. */
const cut = (body: Buffer, at: number[]): Buffer[] => [0, ...at].map((a, i, all) => body.subarray(a, all[i + 1] ?? body.length));

describe('raw output bodies', () => {
  it('decodes what was encoded, seqs from the head on, whatever pieces the body arrives in', () => {
    const body = encodeOutputBody(41, parts);
    const headEnd = body.indexOf(0x0a);
    for (const at of [[], [1], [headEnd], [headEnd + 1], [headEnd + 3, headEnd + 30, headEnd + 31], Array.from({ length: 200 }, (_, i) => i * 397 + 1)]) {
      const got = decodeOutputBody(cut(body, at), asHead);
      expect(got.map((p) => [p.seq, p.type, partBytes(p).toString('latin1')])).toEqual(parts.map((p, i) => [41 + i, p.type, p.bytes.toString('latin1')]));
      expect(got.map((p) => p.length)).toEqual(parts.map((p) => p.bytes.length));
    }
  });

  it('refuses a body without a head line, with bad JSON, or with more or fewer bytes than it declares', () => {
    const body = encodeOutputBody(1, parts);
    const refused = (b: Buffer | Buffer[]) => {
      try {
        decodeOutputBody(b, asHead);
      } catch (e) {
        expect(e).toBeInstanceOf(OutputBodyError);
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(refused(Buffer.from('no newline at all'))).toMatch(/no head line/);
    expect(refused(Buffer.from('{"seq":1,\n'))).toMatch(/not valid JSON/);
    expect(refused(body.subarray(0, body.length - 1))).toMatch(/shorter than its head says/);
    expect(refused(Buffer.concat([body, Buffer.from('x')]))).toMatch(/1 bytes more than its head says/);
    expect(refused(Buffer.from(`{"seq":${Number.MAX_SAFE_INTEGER},"parts":[["text",0],["text",0]]}\n`))).toMatch(/largest safe integer/);
    expect(refused(body)).toBe('accepted');
  });
});

describe('ByteTail', () => {
  it('keeps exactly the last max bytes of whatever was appended (against a plain concatenation)', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (const max of [1, 5, 64, 1000]) {
      const t = new ByteTail(max);
      let all = Buffer.alloc(0);
      for (let i = 0; i < 300; i++) {
        const b = Buffer.alloc(rnd(3 * max + 2), 0x41 + (i % 26));
        const before = Buffer.from(b);
        t.append(b);
        b.fill(0x7a); // the tail copied it
        all = Buffer.concat([all, before]);
        expect(t.toString()).toBe(all.subarray(Math.max(0, all.length - max)).toString('utf8'));
      }
    }
  });

  it('starts at a character, not inside one', () => {
    const t = new ByteTail(4);
    t.append(Buffer.from('aé€')); // 1 + 2 + 3 bytes: the last 4 start inside é
    expect(t.toString()).toBe('€');
  });
});
