import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonStringLatin1 } from '../../daemon/tasks/json-text.js';

/** What the output stream sent before: decode, then JSON.stringify, as UTF-8 bytes. */
const reference = (b: Buffer): Buffer => Buffer.from(JSON.stringify(b.toString('utf8')));
const asBytes = (latin1: string): Buffer => Buffer.from(latin1, 'latin1');

describe('jsonStringLatin1', () => {
  it('gives the bytes JSON.stringify gives for every escape JSON has, and non-ASCII text as it is', () => {
    const all: number[] = [];
    for (let c = 0; c < 0x80; c++) all.push(c);
    const text = Buffer.concat([Buffer.from(all), Buffer.from('"quoted" \\back\\slash\\ é € 😀 \u2028 \u007f\r\n\t\x1b[31mred\x1b[0m\n')]);
    const got = jsonStringLatin1(text);
    expect(got).not.toBeNull();
    expect(asBytes(got as string).equals(reference(text))).toBe(true);
    // .length is the size on the wire.
    expect((got as string).length).toBe(reference(text).length);
  });

  it('matches JSON.stringify on any valid UTF-8', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const b = Buffer.from(s);
        const got = jsonStringLatin1(b);
        expect(got).not.toBeNull();
        expect(asBytes(got as string).equals(reference(b))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('matches on views into a larger buffer and on the empty chunk', () => {
    const big = Buffer.from('ab"c\\d\n'.repeat(50));
    const view = big.subarray(3, 200);
    expect(asBytes(jsonStringLatin1(view) as string).equals(reference(view))).toBe(true);
    expect(jsonStringLatin1(Buffer.alloc(0))).toBe('""');
  });

  it('declines bytes that are not UTF-8 (the caller decodes them with replacement characters)', () => {
    expect(jsonStringLatin1(Buffer.from([0x61, 0xff, 0x62]))).toBeNull();
    expect(jsonStringLatin1(Buffer.from([0xe2, 0x82]))).toBeNull(); // a cut-off sequence
    expect(jsonStringLatin1(Buffer.from([0xed, 0xa0, 0x80]))).toBeNull(); // an encoded surrogate
  });
});
