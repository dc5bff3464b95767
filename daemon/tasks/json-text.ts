// A chunk of raw output bytes as a JSON string literal, without decoding it to UTF-16
// and running JSON.stringify over it: that pair was most of the daemon's CPU per byte
// of a flooding task's output (JSON.stringify escapes one character at a time).
//
// The literal is returned as a latin1 ("binary") string: each char is one byte of the
// UTF-8 JSON text. Its `.length` is its exact size on the wire, and Buffer#write with
// 'latin1' puts it there as a plain copy. Valid UTF-8 only: JSON.stringify would leave
// every char ≥ U+0080 as it is, so escaping the bytes gives the same bytes as
// Buffer.from(JSON.stringify(bytes.toString('utf8'))); for anything else (where the
// decoder substitutes U+FFFD) the caller takes the JSON.stringify path.
import { isUtf8 } from 'node:buffer';

// Whole-string searches and replaces run as native code; a JS loop over the bytes was
// no faster than JSON.stringify.
const CONTROL = /[\x00-\x1f]/;
const CONTROL_ALL = /[\x00-\x1f]/g;

const SHORT: Record<string, string> = { '\b': '\\b', '\t': '\\t', '\f': '\\f', '\r': '\\r' };
const escapeControl = (c: string): string => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `"…"` for the UTF-8 text in `bytes`, as a latin1 string of its UTF-8 bytes; null when `bytes` is not valid UTF-8. */
export function jsonStringLatin1(bytes: Buffer): string | null {
  if (!isUtf8(bytes)) return null;
  let s = bytes.toString('latin1');
  // Backslashes first: the other replacements add backslashes of their own.
  if (s.includes('\\')) s = s.replaceAll('\\', '\\\\');
  if (s.includes('"')) s = s.replaceAll('"', '\\"');
  if (s.includes('\n')) s = s.replaceAll('\n', '\\n');
  if (CONTROL.test(s)) s = s.replace(CONTROL_ALL, escapeControl);
  return `"${s}"`;
}
