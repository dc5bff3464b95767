// Coalesces a raw byte stream (a `text` adapter's stdout or stderr) into text chunks of
// up to `maxBytes`, instead of one message per line: 1 GB of 100-byte lines is 16,384
// chunks of 64 KiB rather than 10.7 million messages.
//
//   push(bytes)  appends; each time maxBytes are pending one chunk goes out, cut after
//                the last newline in its second half when there is one (a person reading
//                the transcript sees whole lines), else on a UTF-8 character boundary;
//   flushMs      after the first pending byte, whatever is pending goes out (a quiet
//                child's last line is not held back), minus an incomplete trailing
//                UTF-8 sequence, which waits for its remaining bytes;
//   end()        everything goes out (a sequence cut off by the end of the stream is
//                decoded later as U+FFFD, as any UTF-8 decoder would).
//
// Every byte pushed is emitted exactly once and in order: the chunks concatenated are
// the stream. Chunks are bytes: no long-lived JS strings (see output.ts).

export interface TextChunkerOptions {
  /** Largest chunk, in bytes of UTF-8 (at least 4). */
  maxBytes: number;
  /** How long pending bytes may wait for more before they go out (0: at once). */
  flushMs: number;
  /** One chunk (a view of the stream's bytes; the chunker never writes to it again). */
  emit: (bytes: Buffer) => void;
}

const NL = 10;

export class TextChunker {
  private parts: Buffer[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;
  private readonly maxBytes: number;

  constructor(private readonly o: TextChunkerOptions) {
    this.maxBytes = Math.max(4, Math.floor(o.maxBytes));
  }

  /** Bytes waiting to go out. */
  get pendingBytes(): number {
    return this.bytes;
  }

  push(chunk: Buffer): void {
    if (this.ended || chunk.length === 0) return;
    this.parts.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= this.maxBytes) this.cutFull();
    if (this.bytes > 0) this.armTimer();
  }

  /** Emit what is pending now (keeping an incomplete trailing UTF-8 sequence back). */
  flush(): void {
    this.clearTimer();
    if (this.bytes === 0) return;
    const buf = this.joined();
    const keep = incompleteTail(buf);
    if (keep === buf.length) {
      this.parts = [buf];
      return;
    }
    this.o.emit(own(buf, 0, buf.length - keep));
    this.rest(buf, buf.length - keep);
  }

  /** End of stream: emit everything. */
  end(): void {
    this.clearTimer();
    this.ended = true;
    if (this.bytes === 0) return;
    const buf = this.joined();
    this.parts = [];
    this.bytes = 0;
    this.o.emit(own(buf, 0, buf.length));
  }

  private cutFull(): void {
    const buf = this.joined();
    let off = 0;
    while (buf.length - off >= this.maxBytes) {
      const limit = off + this.maxBytes;
      // Prefer ending the chunk at a line end in its second half.
      const nl = buf.lastIndexOf(NL, limit - 1);
      let cut = nl >= off + (this.maxBytes >> 1) ? nl + 1 : off + charBoundary(buf.subarray(off), this.maxBytes);
      if (cut <= off) cut = limit; // not UTF-8 at all: cut anyway, the decoder replaces
      this.o.emit(own(buf, off, cut));
      off = cut;
    }
    this.rest(buf, off);
  }

  /** Keep buf[from..] as the pending bytes (copied, so the big joined buffer can go). */
  private rest(buf: Buffer, from: number): void {
    const left = buf.length - from;
    this.parts = left > 0 ? [Buffer.from(buf.subarray(from))] : [];
    this.bytes = left;
  }

  private joined(): Buffer {
    if (this.parts.length === 1) return this.parts[0] as Buffer;
    const b = Buffer.concat(this.parts, this.bytes);
    this.parts = [b];
    return b;
  }

  private armTimer(): void {
    if (this.timer !== null) return;
    if (this.o.flushMs <= 0) {
      this.flush();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.o.flushMs);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * buf[from, to) as a view, not a copy: a chunk is serialised as soon as it is emitted,
 * and a copy per chunk was garbage outside the JS heap (collected only after ~64 MB).
 * A view pins the joined buffer (≤ 2 × maxBytes) only as long as it is kept.
 */
function own(buf: Buffer, from: number, to: number): Buffer {
  return from === 0 && to === buf.length ? buf : buf.subarray(from, to);
}

/** Largest cut ≤ max that does not split a UTF-8 sequence (0 when none exists in reach). */
function charBoundary(buf: Buffer, max: number): number {
  if (max >= buf.length) return buf.length - incompleteTail(buf);
  let i = max;
  // Step back over continuation bytes (10xxxxxx) to the start of the character at max.
  for (let back = 0; back < 4 && i > 0 && ((buf[i] as number) & 0xc0) === 0x80; back++) i--;
  return ((buf[i] as number) & 0xc0) === 0x80 ? max : i;
}

/**
 * Bytes at the end of `buf` that start a UTF-8 sequence without finishing it (0–3).
 * Bytes that cannot become valid UTF-8 are not held back (the decoder replaces them).
 */
export function incompleteTail(buf: Buffer): number {
  const n = buf.length;
  for (let k = 1; k <= Math.min(3, n); k++) {
    const b = buf[n - k] as number;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = b >= 0xf0 ? (b <= 0xf4 ? 4 : 1) : b >= 0xe0 ? 3 : b >= 0xc2 ? 2 : 1;
    return need > k ? k : 0;
  }
  return 0;
}
