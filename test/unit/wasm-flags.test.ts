// When V8's wasm flag is set (api/wasm-flags.ts): once, just before the first HTTP
// request, not when a module is imported. Setting a flag makes V8 refuse Node's code
// cache for every `node:` module loaded afterwards, so setting it at import time (as the
// CLI and the daemon once did at start) made their whole module graph compile from source.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const events: string[] = [];
vi.mock('node:v8', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:v8')>();
  const setFlagsFromString = (flags: string) => {
    events.push(`flag ${flags}`);
  };
  return { ...real, default: { ...real, setFlagsFromString }, setFlagsFromString };
});

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    events.push(`request ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ status: 'ok' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe('the liftoff-only wasm flag', () => {
  it('is not set by importing the CLI, the daemon or the client, nor by building a client', async () => {
    await import('../../cli/main.js');
    await import('../../daemon/main.js');
    const { PlatformClient } = await import('../../api/client.js');
    const c = new PlatformClient({ baseUrl: base, getToken: () => 'mdt_' + '1'.repeat(40) });
    expect(events).toEqual([]);
    await c.close();
  });

  it('is set once, before the first request leaves the client', async () => {
    const { PlatformClient } = await import('../../api/client.js');
    const c = new PlatformClient({ baseUrl: base, getToken: () => 'mdt_' + '1'.repeat(40) });
    await c.heartbeat({ runtime_id: 'r1' }).catch(() => {});
    await c.heartbeat({ runtime_id: 'r1' }).catch(() => {});
    await c.close();
    expect(events).toEqual(['flag --liftoff-only', 'request /api/daemon/heartbeat', 'request /api/daemon/heartbeat']);
  });
});
