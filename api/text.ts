// Text a platform supplied (error strings, names, ids) is shown to people: in a
// terminal, a log line, a web page. Control characters in it could move the cursor,
// retitle the terminal or hide text (ANSI CSI / OSC escapes), so they are removed at
// the edge, before anything else sees the text.

// C0 (including ESC and BEL), DEL, C1 (including the 8-bit CSI 0x9b), and the Unicode
// bidirectional overrides that can reorder what a reader sees.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` without control characters; line breaks and tabs become a space. */
export function sanitizeText(text: string): string {
  return text.replace(CONTROL_RE, (c) => (c === '\n' || c === '\r' || c === '\t' ? ' ' : ''));
}
