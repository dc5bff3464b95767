// A text message's JSON built straight from the output's bytes: {"seq":N,"type":"…",
// "content":"…"} with the content escaped as JSON requires (quote, backslash, control
// characters) and every other byte copied as is. Raw output never becomes a JS string in
// the daemon: no decode, no JSON.stringify, and no large strings left for the garbage
// collector (a flooding task's strings grew the daemon's heap by 100 MB before a full GC).

/** Per byte: 0 copied as is, 1 a two-byte escape (\n, \", …), 5 a \u00XX escape. */
const EXTRA = new Uint8Array(256);
const SHORT = new Uint8Array(256); // the letter after the backslash for two-byte escapes
for (let b = 0; b < 0x20; b++) EXTRA[b] = 5;
for (const [b, c] of [
  [0x08, 'b'],
  [0x09, 't'],
  [0x0a, 'n'],
  [0x0c, 'f'],
  [0x0d, 'r'],
  [0x22, '"'],
  [0x5c, '\\'],
] as const) {
  EXTRA[b] = 1;
  SHORT[b] = c.charCodeAt(0);
}
const HEX = Buffer.from('0123456789abcdef');

/**
 * The JSON of one text message whose content is `bytes` (which must be valid UTF-8: the
 * caller checks with isUtf8 and otherwise goes through a string, where invalid bytes
 * become U+FFFD).
 */
export function textMessageJson(seq: number, type: string, bytes: Buffer): Buffer {
  const head = Buffer.from(`{"seq":${seq},"type":${JSON.stringify(type)},"content":"`);
  let extra = 0;
  for (let i = 0; i < bytes.length; i++) extra += EXTRA[bytes[i] as number] as number;
  const out = Buffer.allocUnsafe(head.length + bytes.length + extra + 2);
  let o = head.copy(out, 0);
  if (extra === 0) {
    o += bytes.copy(out, o);
  } else {
    // One tight loop, byte by byte: a copy() call per run between escapes cost more
    // than the bytes (a newline every 100 bytes is 650 calls per 64 KiB chunk).
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      const e = EXTRA[b] as number;
      if (e === 0) {
        out[o++] = b;
      } else if (e === 1) {
        out[o++] = 0x5c; // backslash
        out[o++] = SHORT[b] as number;
      } else {
        out[o++] = 0x5c; // \u00XX
        out[o++] = 0x75;
        out[o++] = 0x30;
        out[o++] = 0x30;
        out[o++] = HEX[b >> 4] as number;
        out[o++] = HEX[b & 15] as number;
      }
    }
  }
  out[o++] = 0x22; // closing quote
  out[o++] = 0x7d; // }
  return out;
}
