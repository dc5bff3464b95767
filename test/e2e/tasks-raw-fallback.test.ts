// A platform replica without the raw output route (an older version behind the same
// balancer): the claim still says `raw_output`, the daemon's first raw bodies meet that
// replica's own 404 for an unknown route, and the task's output goes on as JSON
// messages with the same seqs. Every byte arrives once, in order, and the raw route is
// not tried again for that task.
//
// The replica is the real platform behind an HTTP proxy that sends each
// `POST …/tasks/{id}/output` to a path the platform does not have, so the 404 is the
// one the platform itself writes for a route it lacks. It answers those 300 ms late, so
// a second raw body is in flight when the first refusal arrives (both go back to the
// queue as JSON).
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { enrol, startHarness, type Harness } from './tasks-harness.js';

interface OldReplica {
  url: string;
  /** Raw output bodies refused (404), per task id. */
  refused: Map<string, number>;
  /** The seqs of the JSON message batches passed on, in the order they came, per task id. */
  jsonSeqs: Map<string, number[]>;
  close(): Promise<void>;
}

async function startOldReplica(p: TestPlatform): Promise<OldReplica> {
  const target = new URL(p.url);
  const refused = new Map<string, number>();
  const jsonSeqs = new Map<string, number[]>();
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    let path = req.url ?? '/';
    let body: Buffer | null = null;
    const m = /^\/api\/daemon\/tasks\/([^/]+)\/(output|messages)$/.exec(path);
    if (m && req.method === 'POST') {
      const id = decodeURIComponent(m[1]!);
      // Read whole before it goes on, as a server does (one that answered mid-upload
      // and stopped reading would hold the daemon's request open, which the platform's
      // own server never does: it reads and discards what a route did not).
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      body = Buffer.concat(chunks);
      if (m[2] === 'output') {
        refused.set(id, (refused.get(id) ?? 0) + 1);
        path = `${path}-not-in-this-version`;
      } else {
        const seqs = (JSON.parse(body.toString('utf8')) as { messages: { seq: number }[] }).messages.map((x) => x.seq);
        jsonSeqs.set(id, [...(jsonSeqs.get(id) ?? []), ...seqs]);
      }
    }
    const up = request({ host: target.hostname, port: target.port, method: req.method, path, headers: req.headers }, (ur) => {
      // A refusal comes back late, so that the next raw body is on its way meanwhile.
      setTimeout(() => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      }, path === req.url ? 0 : 300);
    });
    up.on('error', () => res.destroy());
    if (body) up.end(body);
    else req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    refused,
    jsonSeqs,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let p: TestPlatform;
let old: OldReplica;
let h: Harness | null = null;

beforeAll(async () => {
  p = await startPlatform();
  old = await startOldReplica(p);
});
afterAll(async () => {
  await h?.close();
  await old?.close();
  await p?.stop();
});

describe('raw output against a replica without the route', () => {
  it('the first raw bodies get 404, the rest of the task goes as JSON messages: every byte once, in order', async () => {
    h = await startHarness({ platform: p, enrolled: await enrol(p, undefined, { via: old.url }) });
    // ~6 MB: several raw bodies' worth, of multi-byte UTF-8, tabs and ESC (which JSON
    // escapes 6 times larger), printed as fast as the shell can.
    const line = 'h\u00e9llo \u001b[1m\u2713\u001b[0m\ttab\n';
    const lines = 200_000;
    const id = await h.enqueue(`yes "$(printf 'h\\303\\251llo \\033[1m\\342\\234\\223\\033[0m\\ttab')" | head -n ${lines}`);
    const t = await h.waitDone(id, 60_000);
    expect(t.status).toBe('completed');
    const msgs = await h.messages(id);
    expect(msgs.map((m) => m.seq)).toEqual(msgs.map((_, i) => i + 1));
    const text = msgs.map((m) => m.content).join('');
    expect(text.length).toBe(line.length * lines);
    expect(text === line.repeat(lines)).toBe(true);
    // The raw route was tried, refused, and not tried again: at most the bodies already
    // on their way when the first 404 came back (two in flight).
    const refused = old.refused.get(id) ?? 0;
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(refused).toBeLessThanOrEqual(2);
    // Every seq went as JSON exactly once (two requests in flight together may arrive in
    // either order; the platform keeps messages by seq).
    expect([...(old.jsonSeqs.get(id) ?? [])].sort((a, b) => a - b)).toEqual(msgs.map((m) => m.seq));
  }, 90_000);
});
