// Splits a byte stream into lines without quadratic copying. A line longer than
// `maxLineBytes` is emitted in pieces (cut on a UTF-8 character boundary) so one
// newline-free child cannot make the daemon buffer without bound.

export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;

  constructor(
    private readonly maxLineBytes: number,
    private readonly emit: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      const seg = chunk.subarray(start, nl);
      if (this.parts.length > 0) {
        this.parts.push(seg);
        const line = Buffer.concat(this.parts, this.partBytes + seg.length);
        this.parts = [];
        this.partBytes = 0;
        this.emitLine(line);
      } else {
        this.emitLine(seg);
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.parts.push(rest);
      this.partBytes += rest.length;
      // Strictly longer than the cap: a line of exactly maxLineBytes must wait for its
      // newline, or it would come out as the line plus an extra empty one.
      if (this.partBytes > this.maxLineBytes) this.flushLong();
    }
  }

  /** End of stream: a last line without a newline is still a line. */
  end(): void {
    if (this.partBytes > 0) {
      const line = Buffer.concat(this.parts, this.partBytes);
      this.parts = [];
      this.partBytes = 0;
      this.emitLine(line);
    }
  }

  private flushLong(): void {
    let buf = Buffer.concat(this.parts, this.partBytes);
    while (buf.length > this.maxLineBytes) {
      const cut = utf8Boundary(buf, this.maxLineBytes);
      this.emit(buf.subarray(0, cut).toString('utf8'));
      buf = buf.subarray(cut);
    }
    // Copy the remainder so the big concatenated buffer can be collected.
    this.parts = buf.length > 0 ? [Buffer.from(buf)] : [];
    this.partBytes = buf.length;
  }

  private emitLine(line: Buffer): void {
    let end = line.length;
    if (end > 0 && line[end - 1] === 13) end--; // CRLF
    let buf = line.subarray(0, end);
    while (buf.length > this.maxLineBytes) {
      const cut = utf8Boundary(buf, this.maxLineBytes);
      this.emit(buf.subarray(0, cut).toString('utf8'));
      buf = buf.subarray(cut);
    }
    this.emit(buf.toString('utf8'));
  }
}

/** Largest index ≤ max that does not cut a UTF-8 sequence (falls back to max). */
export function utf8Boundary(buf: Buffer, max: number): number {
  let i = Math.min(max, buf.length);
  if (i >= buf.length) return buf.length;
  let back = 0;
  while (i > 0 && back < 4 && ((buf[i] as number) & 0xc0) === 0x80) {
    i--;
    back++;
  }
  return i === 0 ? max : i;
}

/** Keeps the last `max` bytes of a text (e.g. a command's final output). */
export class TailBuffer {
  private chunks: string[] = [];
  private head = 0;
  private bytes = 0;
  constructor(private readonly max: number) {}

  append(text: string): void {
    this.chunks.push(text);
    this.bytes += Buffer.byteLength(text);
    while (this.bytes > this.max && this.chunks.length - this.head > 1) {
      this.bytes -= Buffer.byteLength(this.chunks[this.head] as string);
      this.head++;
    }
    // Compact now and then instead of shift() per line (O(n) on big arrays).
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  toString(): string {
    const s = this.chunks.slice(this.head).join('');
    const b = Buffer.from(s);
    if (b.length <= this.max) return s;
    let start = b.length - this.max;
    while (start < b.length && ((b[start] as number) & 0xc0) === 0x80) start++;
    return b.subarray(start).toString('utf8');
  }
}

/**
 * Keeps the last `max` bytes of a byte stream; toString() decodes them from a character
 * start. The bytes are copied into a ring of its own: a chunk is only valid while it is
 * handed over (the text chunker reuses its buffer, chunks.ts says why).
 */
export class ByteTail {
  private readonly ring: Buffer;
  /** Bytes ever appended (the ring's write position is total % max). */
  private total = 0;
  constructor(private readonly max: number) {
    this.ring = Buffer.alloc(Math.max(1, max));
  }

  append(b: Buffer): void {
    const n = this.ring.length;
    const src = b.length > n ? b.subarray(b.length - n) : b;
    const skipped = b.length - src.length;
    const pos = (this.total + skipped) % n;
    const first = Math.min(src.length, n - pos);
    src.copy(this.ring, pos, 0, first);
    if (first < src.length) src.copy(this.ring, 0, first);
    this.total += b.length;
  }

  toString(): string {
    const n = this.ring.length;
    const have = Math.min(this.total, this.max);
    const start = (this.total - have) % n;
    const b = start + have <= n ? this.ring.subarray(start, start + have) : Buffer.concat([this.ring.subarray(start), this.ring.subarray(0, (start + have) % n)]);
    let from = 0;
    while (from < b.length && ((b[from] as number) & 0xc0) === 0x80) from++;
    return b.toString('utf8', from);
  }
}
