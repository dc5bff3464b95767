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
//
// The pending bytes are copied into one buffer of the chunker's own (2 × maxBytes),
// which every emitted chunk is a view of: a chunk is valid only during the `emit` call
// (the consumer copies or serialises it at once). Why: joining a stream's pieces with
// Buffer.concat allocated a new buffer per chunk, external memory that V8 frees with
// full GCs once little else is allocated (the raw output path: 29–37 full GCs per
// 256 MB, --trace-gc; 11 with this buffer, the rest for the pipe's own read buffers).

export interface TextChunkerOptions {
  /** Largest chunk, in bytes of UTF-8 (at least 4). */
  maxBytes: number;
  /** How long pending bytes may wait for more before they go out (0: at once). */
  flushMs: number;
  /** One chunk: a view of the chunker's buffer, valid only until `emit` returns. */
  emit: (bytes: Buffer) => void;
}

const NL = 10;

export class TextChunker {
  private readonly acc: Buffer;
  /** Pending bytes: acc[0, bytes). */
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;
  private readonly maxBytes: number;

  constructor(private readonly o: TextChunkerOptions) {
    this.maxBytes = Math.max(4, Math.floor(o.maxBytes));
    this.acc = Buffer.allocUnsafe(2 * this.maxBytes);
  }

  /** Bytes waiting to go out. */
  get pendingBytes(): number {
    return this.bytes;
  }

  push(chunk: Buffer): void {
    if (this.ended || chunk.length === 0) return;
    let off = 0;
    while (off < chunk.length) {
      // After cutFull fewer than maxBytes are pending: there is always room.
      const n = chunk.copy(this.acc, this.bytes, off, off + Math.min(chunk.length - off, this.acc.length - this.bytes));
      this.bytes += n;
      off += n;
      if (this.bytes >= this.maxBytes) this.cutFull();
    }
    if (this.bytes > 0) this.armTimer();
  }

  /** Emit what is pending now (keeping an incomplete trailing UTF-8 sequence back). */
  flush(): void {
    this.clearTimer();
    if (this.bytes === 0) return;
    const keep = incompleteTail(this.acc.subarray(0, this.bytes));
    if (keep === this.bytes) return;
    this.o.emit(this.acc.subarray(0, this.bytes - keep));
    this.rest(this.bytes - keep);
  }

  /** End of stream: emit everything. */
  end(): void {
    this.clearTimer();
    this.ended = true;
    if (this.bytes === 0) return;
    const n = this.bytes;
    this.bytes = 0;
    this.o.emit(this.acc.subarray(0, n));
  }

  private cutFull(): void {
    const buf = this.acc;
    let off = 0;
    while (this.bytes - off >= this.maxBytes) {
      const limit = off + this.maxBytes;
      // Prefer ending the chunk at a line end in its second half.
      const nl = buf.lastIndexOf(NL, limit - 1);
      let cut = nl >= off + (this.maxBytes >> 1) ? nl + 1 : off + charBoundary(buf.subarray(off, this.bytes), this.maxBytes);
      if (cut <= off) cut = limit; // not UTF-8 at all: cut anyway, the decoder replaces
      this.o.emit(buf.subarray(off, cut));
      off = cut;
    }
    this.rest(off);
  }

  /** Keep acc[from, bytes) as the pending bytes, moved to the front. */
  private rest(from: number): void {
    if (from > 0 && from < this.bytes) this.acc.copyWithin(0, from, this.bytes);
    this.bytes -= from;
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
