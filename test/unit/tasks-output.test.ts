import { describe, expect, it, vi } from 'vitest';
import { PlatformUnavailable, NotFound } from '../../api/errors.js';
import type { TaskMessage } from '../../api/types.js';
import { LineSplitter } from '../../daemon/tasks/lines.js';
import { OutputStream } from '../../daemon/tasks/output.js';
import { decodeOutputBody, partBytes, type OutputHead } from '../../api/output-frames.js';

/** A poster that records every attempt and fails the first `failures` of them. */
function poster(failures = 0, delayMs = 0) {
  const attempts: number[][] = [];
  const delivered: TaskMessage[] = [];
  let fail = failures;
  let gate: Promise<void> | null = null;
  let open: () => void = () => {};
  return {
    attempts,
    delivered,
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release() {
      gate = null;
      open();
    },
    post: async (body: Buffer) => {
      const msgs = (JSON.parse(body.toString()) as { messages: TaskMessage[] }).messages;
      attempts.push(msgs.map((m) => m.seq));
      if (gate) await gate;
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if (fail > 0) {
        fail--;
        throw new PlatformUnavailable('platform down', { route: 'POST /api/daemon/tasks/x/messages', status: 503 });
      }
      delivered.push(...msgs);
    },
  };
}

describe('OutputStream', () => {
  it('numbers messages 1..n, batches them, and delivers each exactly once in order', async () => {
    const p = poster();
    const out = new OutputStream({ post: p.post, flushMs: 20 });
    for (let i = 0; i < 500; i++) out.push({ type: 'text', content: `line ${i}` });
    await out.close();
    expect(p.delivered.map((m) => m.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(p.delivered[499]).toEqual({ seq: 500, type: 'text', content: 'line 499' });
    expect(p.attempts.length).toBeLessThan(10); // batched, not one post per line
    expect(out.sentMessages).toBe(500);
  });

  it('keeps request bodies under the byte cap, counting JSON escaping and UTF-8', async () => {
    const bodies: number[] = [];
    const out = new OutputStream({
      post: async (body) => {
        bodies.push(body.length);
      },
      maxBatchBytes: 4096,
      flushMs: 5,
    });
    for (let i = 0; i < 50; i++) out.push({ type: 'text', content: 'y'.repeat(200) });
    for (let i = 0; i < 50; i++) out.push({ type: 'text', content: '\u0001'.repeat(200) }); // 6 bytes each as JSON
    for (let i = 0; i < 50; i++) out.push({ type: 'text', content: 'é"'.repeat(100) });
    await out.close();
    expect(bodies.length).toBeGreaterThan(10);
    for (const b of bodies) expect(b).toBeLessThanOrEqual(4096 + 64);
    expect(out.sentMessages).toBe(150);
  });

  it('sends raw byte chunks as the text they decode to, valid UTF-8 or not, under the byte cap', async () => {
    const bodies: Buffer[] = [];
    const out = new OutputStream({
      post: async (body) => {
        bodies.push(Buffer.from(body));
      },
      maxBatchBytes: 4096,
      flushMs: 5,
    });
    const chunks = [
      Buffer.from('plain line\n'.repeat(30)),
      Buffer.from('tab\there "quote" back\\slash \x1b[1mbold\x1b[0m é€😀\r\n'.repeat(8)),
      Buffer.from([0x61, 0xff, 0xfe, 0x62, 0x0a]), // not UTF-8: decoded with U+FFFD
      Buffer.from('\u0001'.repeat(300)), // 6 bytes each as JSON
    ];
    for (let i = 0; i < 20; i++) for (const c of chunks) out.push({ type: i % 2 ? 'error' : 'text', bytes: c });
    await out.close();
    const got = bodies.flatMap((b) => (JSON.parse(b.toString('utf8')) as { messages: TaskMessage[] }).messages);
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    got.forEach((m, i) => {
      const c = chunks[i % chunks.length] as Buffer;
      expect(m).toEqual({ seq: i + 1, type: Math.floor(i / chunks.length) % 2 ? 'error' : 'text', content: c.toString('utf8') });
    });
    expect(bodies.length).toBeGreaterThan(5);
    for (const b of bodies) expect(b.length).toBeLessThanOrEqual(4096 + 64);
  });

  it('retries a failed batch with the SAME seqs until it is accepted (nothing dropped)', async () => {
    const p = poster(3);
    const out = new OutputStream({ post: p.post, flushMs: 5, backoffBaseMs: 1, backoffCapMs: 5 });
    for (let i = 0; i < 10; i++) out.push({ type: 'text', content: String(i) });
    await out.close();
    expect(p.attempts.length).toBeGreaterThanOrEqual(4);
    // The first four attempts carried exactly the same seqs.
    expect(p.attempts[1]).toEqual(p.attempts[0]);
    expect(p.attempts[3]).toEqual(p.attempts[0]);
    expect(p.delivered.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('gives up only when the platform says the task is gone (final 4xx)', async () => {
    const out = new OutputStream({
      post: async () => {
        throw new NotFound('task not found', { route: 'POST /x', status: 404 });
      },
      isFinal: (e) => e instanceof NotFound,
      flushMs: 1,
    });
    out.push({ type: 'text', content: 'a' });
    await out.close();
    expect(out.dead).toBeInstanceOf(NotFound);
    expect(out.droppedMessages).toBe(1);
  });

  it('pauses the producer above the high-water mark and resumes once drained', async () => {
    const p = poster();
    p.hold();
    const events: string[] = [];
    const out = new OutputStream({
      post: p.post,
      flushMs: 1,
      highWaterBytes: 10_000,
      lowWaterBytes: 2_000,
      onPause: () => events.push('pause'),
      onResume: () => events.push('resume'),
    });
    for (let i = 0; i < 200; i++) out.push({ type: 'text', content: 'z'.repeat(100) });
    expect(events).toEqual(['pause']);
    expect(out.isPaused).toBe(true);
    p.release();
    await out.close();
    expect(events).toEqual(['pause', 'resume']);
    expect(p.delivered).toHaveLength(200);
  });

  it('splits a message larger than a batch into consecutive pieces', async () => {
    const p = poster();
    const out = new OutputStream({ post: p.post, maxBatchBytes: 8192, flushMs: 1 });
    const big = 'é'.repeat(20_000); // 40 000 bytes, multi-byte characters
    out.push({ type: 'text', content: big });
    await out.close();
    expect(p.delivered.length).toBeGreaterThan(4);
    expect(p.delivered.map((m) => m.content).join('')).toBe(big);
    for (const m of p.delivered) expect(Buffer.byteLength(m.content ?? '')).toBeLessThanOrEqual(8192);
  });

  it('close(signal) stops retrying when aborted', async () => {
    const p = poster(1_000_000);
    const out = new OutputStream({ post: p.post, flushMs: 1, backoffBaseMs: 1, backoffCapMs: 2 });
    out.push({ type: 'text', content: 'x' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await out.close(ac.signal);
    expect(p.delivered).toHaveLength(0);
    expect(out.droppedMessages).toBe(1);
  });
});

describe('LineSplitter', () => {
  it('joins lines across chunks, strips CR, splits over-long lines on UTF-8 boundaries', () => {
    const lines: string[] = [];
    const s = new LineSplitter(10, (l) => lines.push(l));
    s.push(Buffer.from('ab'));
    s.push(Buffer.from('c\r\nde'));
    s.push(Buffer.from('f\n'));
    s.push(Buffer.from('ééééééé\n')); // 14 bytes > 10
    s.push(Buffer.from('tail'));
    s.end();
    expect(lines).toEqual(['abc', 'def', 'ééééé', 'éé', 'tail']);
  });
});

describe('OutputStream, raw output (our platform)', () => {
  type Got = { seq: number; type: string; content?: string; tool?: string };
  /** postRaw decodes each framed body (a copy: the arena is reused once the post resolves); post takes JSON. */
  function platform(o: { refuseRaw?: number; maxBodyBytes?: number } = {}) {
    const got: Got[] = [];
    const rawBodies: number[] = [];
    let jsonPosts = 0;
    let refuse = o.refuseRaw ?? 0;
    return {
      got,
      rawBodies,
      get jsonPosts() {
        return jsonPosts;
      },
      postRaw: async (body: Buffer) => {
        const copy = Buffer.from(body);
        await new Promise((r) => setImmediate(r));
        if (refuse > 0) {
          refuse--;
          throw new NotFound('not found', { route: 'POST /api/daemon/tasks/x/output', status: 404 });
        }
        rawBodies.push(copy.length);
        for (const p of decodeOutputBody(copy, (v) => v as OutputHead)) got.push({ seq: p.seq, type: p.type, content: partBytes(p).toString('utf8') });
      },
      post: async (body: Buffer) => {
        jsonPosts++;
        if (o.maxBodyBytes !== undefined) expect(body.length).toBeLessThanOrEqual(o.maxBodyBytes);
        got.push(...(JSON.parse(body.toString()) as { messages: Got[] }).messages);
      },
    };
  }
  /** Raw chunks of every awkward kind, with a structured message now and then. */
  function feed(out: OutputStream, n: number): Got[] {
    const want: Got[] = [];
    for (let i = 0; i < n; i++) {
      if (i % 37 === 36) {
        out.push({ type: 'tool_use', tool: 'bash', content: `call ${i}` });
        want.push({ seq: want.length + 1, type: 'tool_use', tool: 'bash', content: `call ${i}` });
        continue;
      }
      const text = `${i} "q" \\ \t\x01 é€😀 `.repeat(1 + (i % 300)) + '\n';
      // A fresh buffer, overwritten right after the push: the stream must have copied it.
      const bytes = Buffer.from(text);
      out.push({ type: i % 5 === 0 ? 'error' : 'text', bytes });
      bytes.fill(0x21);
      want.push({ seq: want.length + 1, type: i % 5 === 0 ? 'error' : 'text', content: text });
    }
    return want;
  }
  const bySeq = (a: Got, b: Got) => a.seq - b.seq;

  it('sends raw chunks framed, structured ones as JSON: every message once, same seqs, bodies under the cap', async () => {
    const p = platform();
    const out = new OutputStream({ post: p.post, postRaw: p.postRaw, maxBatchBytes: 64 * 1024 + 16 * 1024, maxRawBatchBytes: 64 * 1024 + 16 * 1024, flushMs: 5 });
    const want = feed(out, 600);
    await out.close();
    expect(out.rawOutput).toBe(true);
    expect(p.got.sort(bySeq)).toEqual(want);
    expect(p.rawBodies.length).toBeGreaterThan(10);
    for (const n of p.rawBodies) expect(n).toBeLessThanOrEqual(64 * 1024 + 16 * 1024);
    expect(p.jsonPosts).toBeGreaterThan(0);
    expect(out.droppedMessages).toBe(0);
  });

  it('a platform without the raw route: the refused batch and everything after it go as JSON, same seqs, none lost', async () => {
    const p = platform({ refuseRaw: 1, maxBodyBytes: 64 * 1024 + 16 * 1024 + 64 });
    const out = new OutputStream({ post: p.post, postRaw: p.postRaw, isRawUnsupported: (e) => e instanceof NotFound, maxBatchBytes: 64 * 1024 + 16 * 1024, maxRawBatchBytes: 64 * 1024 + 16 * 1024, flushMs: 5 });
    const want = feed(out, 400);
    await out.close();
    expect(out.rawOutput).toBe(false);
    // The first raw post was refused; the one already in flight beside it may have been taken.
    expect(p.rawBodies.length).toBeLessThanOrEqual(1);
    expect(p.got.sort(bySeq)).toEqual(want);
    expect(out.droppedMessages).toBe(0);
  });

  it('two raw batches refused in turn: the JSON posts start in seq order', async () => {
    // A is refused at once and goes back as several JSON batches (escaping makes them
    // larger); B is refused only once A's first JSON batch is being posted, while the
    // rest of A still waits in the queue: B must not go before it.
    let jsonStarted!: () => void;
    const firstJson = new Promise<void>((r) => (jsonStarted = r));
    let bRefused!: () => void;
    const bDone = new Promise<void>((r) => (bRefused = r));
    let rawCalls = 0;
    const firstSeqs: number[] = [];
    const got: Got[] = [];
    const out = new OutputStream({
      post: async (body: Buffer) => {
        const msgs = (JSON.parse(body.toString()) as { messages: Got[] }).messages;
        firstSeqs.push(msgs[0]!.seq);
        got.push(...msgs);
        if (firstSeqs.length === 1) {
          jsonStarted();
          await bDone;
        }
      },
      postRaw: async () => {
        const n = ++rawCalls;
        if (n === 2) await firstJson;
        await new Promise((r) => setImmediate(r));
        if (n === 2) setImmediate(bRefused);
        throw new NotFound('not found', { route: 'POST /api/daemon/tasks/x/output', status: 404 });
      },
      isRawUnsupported: (e) => e instanceof NotFound,
      maxBatchBytes: 64 * 1024 + 16 * 1024,
      maxRawBatchBytes: 64 * 1024 + 16 * 1024,
      flushMs: 5,
    });
    // 6 KiB chunks stay raw (escaped 6 times larger they still fit a JSON batch); ten
    // fill an arena, so A, B and a third arena.
    const text = '\x01'.repeat(6 * 1024);
    for (let i = 0; i < 30; i++) out.push({ type: 'text', bytes: Buffer.from(text) });
    await out.close();
    expect(rawCalls).toBe(2);
    expect(firstSeqs.length).toBeGreaterThan(4);
    expect(firstSeqs).toEqual([...firstSeqs].sort((a, b) => a - b));
    expect(got.map((m) => m.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('refused while closing: the batch comes back as JSON before close resolves', async () => {
    const p = platform({ refuseRaw: 5 });
    const out = new OutputStream({ post: p.post, postRaw: p.postRaw, isRawUnsupported: (e) => e instanceof NotFound, flushMs: 1000 });
    out.push({ type: 'text', bytes: Buffer.from('last words\n') });
    await out.close();
    expect(p.got).toEqual([{ seq: 1, type: 'text', content: 'last words\n' }]);
  });

  it('a fast platform gets whole arenas, not the 1 MiB a JSON batch stops at', async () => {
    const sizes: number[] = [];
    const out = new OutputStream({
      post: async () => {},
      postRaw: async (body) => void sizes.push(body.length),
      highWaterBytes: 8 * 1024 * 1024,
      lowWaterBytes: 6 * 1024 * 1024,
    });
    const chunk = Buffer.alloc(64 * 1024 - 100, 0x61);
    for (let i = 0; i < 400; i++) {
      out.push({ type: 'text', bytes: chunk });
      if (i % 4 === 3) await new Promise((r) => setImmediate(r)); // the pipe's pace: the platform answers in between
    }
    await out.close();
    const whole = sizes.slice(0, -1); // the last body is what was left at the end
    expect(whole.length).toBeGreaterThan(5);
    for (const n of whole) expect(n).toBeGreaterThan(1.9 * 1024 * 1024);
  });

  it('pauses the producer while arenas wait for a slow platform, and resumes', async () => {
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    let pauses = 0;
    let resumes = 0;
    const out = new OutputStream({
      post: async () => {},
      postRaw: () => gate,
      highWaterBytes: 512 * 1024,
      lowWaterBytes: 384 * 1024,
      flushMs: 1,
      onPause: () => pauses++,
      onResume: () => resumes++,
    });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 40 && !out.isPaused; i++) out.push({ type: 'text', bytes: chunk });
    expect(out.isPaused).toBe(true);
    expect(out.pendingBytes).toBeLessThan(2 * 1024 * 1024);
    release();
    gate = Promise.resolve();
    await out.close();
    expect(pauses).toBe(1);
    expect(resumes).toBe(1);
    expect(out.isPaused).toBe(false);
  });
});

describe('OutputStream, flood detection (onBulk)', () => {
  const chunk = Buffer.alloc(64 * 1024 - 100, 0x61);
  function counting() {
    const c = { holds: 0, releases: 0 };
    const onBulk = () => {
      c.holds++;
      return () => void c.releases++;
    };
    return { c, onBulk };
  }

  it('4 MiB within a second is a flood: one hold, released once the stream has drained', async () => {
    const { c, onBulk } = counting();
    const out = new OutputStream({ post: async () => {}, postRaw: async () => {}, onBulk, highWaterBytes: 64 * 1024 * 1024, lowWaterBytes: 48 * 1024 * 1024 });
    for (let i = 0; i < 100; i++) out.push({ type: 'text', bytes: chunk }); // ~6.2 MiB at once
    expect(c).toEqual({ holds: 1, releases: 0 });
    await out.close();
    expect(c).toEqual({ holds: 1, releases: 1 });
  });

  it('the hold ends when the stream drains, without close', async () => {
    const { c, onBulk } = counting();
    const out = new OutputStream({ post: async () => {}, postRaw: async () => {}, onBulk, highWaterBytes: 64 * 1024 * 1024, lowWaterBytes: 48 * 1024 * 1024, flushMs: 5 });
    for (let i = 0; i < 100; i++) out.push({ type: 'text', bytes: chunk });
    expect(c).toEqual({ holds: 1, releases: 0 });
    const until = Date.now() + 5000;
    while (c.releases === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    expect(out.sentMessages).toBe(100);
    expect(c).toEqual({ holds: 1, releases: 1 });
    // A second flood is a new hold.
    for (let i = 0; i < 100; i++) out.push({ type: 'text', bytes: chunk });
    expect(c).toEqual({ holds: 2, releases: 1 });
    await out.close();
    expect(c).toEqual({ holds: 2, releases: 2 });
  });

  it('4 MiB spread over more than a second is not a flood; the window starts again after a pause', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const { c, onBulk } = counting();
      const out = new OutputStream({ post: async () => {}, postRaw: async () => {}, onBulk, highWaterBytes: 64 * 1024 * 1024, lowWaterBytes: 48 * 1024 * 1024 });
      for (let i = 0; i < 50; i++) out.push({ type: 'text', bytes: chunk }); // ~3.1 MiB
      vi.setSystemTime(Date.now() + 1500);
      for (let i = 0; i < 50; i++) out.push({ type: 'text', bytes: chunk }); // 6.2 MiB in all, 3.1 in this second
      expect(c.holds).toBe(0);
      for (let i = 0; i < 20; i++) out.push({ type: 'text', bytes: chunk }); // 4.4 MiB within this second
      expect(c.holds).toBe(1);
      await out.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a trickle is not a flood', async () => {
    const { c, onBulk } = counting();
    const out = new OutputStream({ post: async () => {}, postRaw: async () => {}, onBulk, flushMs: 5 });
    for (let i = 0; i < 20; i++) out.push({ type: 'text', bytes: chunk }); // 1.25 MiB
    await out.close();
    expect(c).toEqual({ holds: 0, releases: 0 });
  });
});
