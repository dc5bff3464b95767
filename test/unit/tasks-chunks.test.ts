import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TextChunker, incompleteTail } from '../../daemon/tasks/chunks.js';

/** Cuts `buf` at the given (sorted, deduplicated) offsets. */
function pieces(buf: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, buf.length]) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  return out;
}

describe('TextChunker', () => {
  it('coalesces many small writes into chunks of at most maxBytes, cut after a newline', () => {
    const chunks: string[] = [];
    const c = new TextChunker({ maxBytes: 1000, flushMs: 60_000, emit: (b) => chunks.push(b.toString()) });
    const line = 'x'.repeat(99) + '\n';
    for (let i = 0; i < 100; i++) c.push(Buffer.from(line)); // 10,000 bytes
    expect(chunks.length).toBe(10);
    for (const ch of chunks) {
      expect(Buffer.byteLength(ch)).toBeLessThanOrEqual(1000);
      expect(ch.endsWith('\n')).toBe(true);
    }
    c.end();
    expect(chunks.join('')).toBe(line.repeat(100));
  });

  it('cuts a newline-free stream on character boundaries, never inside one', () => {
    const chunks: string[] = [];
    const c = new TextChunker({ maxBytes: 10, flushMs: 60_000, emit: (b) => chunks.push(b.toString()) });
    const text = '€'.repeat(20); // 3 bytes each: 10 is not a multiple
    c.push(Buffer.from(text));
    c.end();
    expect(chunks.join('')).toBe(text);
    for (const ch of chunks) {
      expect(ch).not.toContain('\uFFFD');
      expect(Buffer.byteLength(ch)).toBeLessThanOrEqual(10);
    }
  });

  it('flush() sends what is pending but holds back an incomplete UTF-8 sequence', () => {
    const chunks: string[] = [];
    const c = new TextChunker({ maxBytes: 1024, flushMs: 60_000, emit: (b) => chunks.push(b.toString()) });
    const snow = Buffer.from('a☃'); // 61 e2 98 83
    c.push(snow.subarray(0, 3));
    c.flush();
    expect(chunks).toEqual(['a']);
    expect(c.pendingBytes).toBe(2);
    c.push(snow.subarray(3));
    c.flush();
    expect(chunks).toEqual(['a', '☃']);
    expect(c.pendingBytes).toBe(0);
  });

  it('end() sends everything; a sequence cut off by the end of the stream becomes U+FFFD', () => {
    const chunks: string[] = [];
    const c = new TextChunker({ maxBytes: 1024, flushMs: 60_000, emit: (b) => chunks.push(b.toString()) });
    c.push(Buffer.from([0x6f, 0x6b, 0xe2, 0x98]));
    c.end();
    expect(chunks).toEqual(['ok\uFFFD']);
    c.push(Buffer.from('late'));
    expect(chunks).toEqual(['ok\uFFFD']); // nothing after the end
  });

  it('a quiet stream is flushed after flushMs without more input', async () => {
    const chunks: string[] = [];
    const c = new TextChunker({ maxBytes: 1024, flushMs: 5, emit: (b) => chunks.push(b.toString()) });
    c.push(Buffer.from('prompt> '));
    await expect.poll(() => chunks).toEqual(['prompt> ']);
    c.end();
    expect(chunks).toEqual(['prompt> ']);
  });

  it('property: every byte comes out exactly once, in order, in chunks ≤ maxBytes and never split inside a character', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 400 }),
        fc.array(fc.nat(2000), { maxLength: 30 }),
        fc.integer({ min: 4, max: 64 }),
        fc.array(fc.boolean(), { maxLength: 30 }),
        (text, cuts, maxBytes, flushes) => {
          const chunks: string[] = [];
          const c = new TextChunker({ maxBytes, flushMs: 60_000, emit: (b) => chunks.push(b.toString()) });
          const ps = pieces(Buffer.from(text), cuts);
          ps.forEach((p, i) => {
            c.push(p);
            if (flushes[i]) c.flush();
          });
          c.end();
          expect(chunks.join('')).toBe(text);
          for (const ch of chunks) {
            expect(Buffer.byteLength(ch)).toBeLessThanOrEqual(maxBytes);
            expect(ch.length).toBeGreaterThan(0);
          }
          // Valid input never decodes to a replacement character: no character was split.
          if (!text.includes('\uFFFD')) for (const ch of chunks) expect(ch).not.toContain('\uFFFD');
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('incompleteTail', () => {
  it('counts the bytes of an unfinished trailing sequence, and only those', () => {
    expect(incompleteTail(Buffer.from('abc'))).toBe(0);
    expect(incompleteTail(Buffer.from([0x61, 0xc3]))).toBe(1); // é's lead byte
    expect(incompleteTail(Buffer.from('é'))).toBe(0);
    expect(incompleteTail(Buffer.from([0xf0, 0x9f, 0x98]))).toBe(3); // 😀 without its last byte
    expect(incompleteTail(Buffer.from('😀'))).toBe(0);
    expect(incompleteTail(Buffer.from([0x61, 0xff]))).toBe(0); // never valid: not held back
    expect(incompleteTail(Buffer.from([0x80, 0x80]))).toBe(0); // stray continuation bytes
  });
});


describe('command adapter, raw text', () => {
  it('passes chunks through as bytes; output is the last 64 KB of stdout, diagnostics the last stderr lines', async () => {
    const { commandAdapter } = await import('../../daemon/tasks/adapters/command.js');
    expect(commandAdapter.output).toBe('text');
    const p = commandAdapter.parser();
    const a = Buffer.from('x'.repeat(40 * 1024) + '\n');
    const b = Buffer.from('é'.repeat(20 * 1024) + '\nend\n'); // 40 KB of 2-byte characters
    expect(p.stdoutText!(a)).toEqual([{ type: 'text', bytes: a }]);
    p.stdoutText!(b);
    p.stderrText!(Buffer.from('warn 1\nwarn'));
    p.stderrText!(Buffer.from(' 2\r\n'));
    const r = p.finish();
    expect(Buffer.byteLength(r.output)).toBeLessThanOrEqual(64 * 1024);
    expect(r.output.endsWith('é\nend\n')).toBe(true);
    expect(r.output).not.toContain('\uFFFD'); // the cut starts on a character
    expect(r.diagnostics).toBe('warn 1\nwarn 2');
  });
});
