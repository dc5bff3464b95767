// Distribution and web files served by the real platform: install.sh with its URL
// filled in, /download/ artifacts, the web page, and no way out of those directories.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

describe('platform files', () => {
  let p: TestPlatform;
  let dir: string;
  const artifact = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-platform-files-'));
    mkdirSync(join(dir, 'artifacts'));
    mkdirSync(join(dir, 'web'));
    mkdirSync(join(dir, 'artifacts', 'subdir'));
    writeFileSync(join(dir, 'artifacts', 'agentd-linux-x64.tar.xz'), artifact);
    writeFileSync(join(dir, 'artifacts', 'agentd-linux-x64.tar.xz.sha256'), 'abc  agentd-linux-x64.tar.xz\n');
    writeFileSync(join(dir, 'secret.txt'), 'outside');
    writeFileSync(join(dir, 'install.sh'), '#!/bin/sh\nURL="__AGENTD_PLATFORM_URL__"\necho "$URL" __AGENTD_PLATFORM_URL__/download/x\n');
    writeFileSync(join(dir, 'web', 'index.html'), '<!doctype html><title>agentd</title>');
    writeFileSync(join(dir, 'web', 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'web', 'style.css'), 'body{}');
    p = await startPlatform({
      args: ['--artifacts', join(dir, 'artifacts'), '--install-script', join(dir, 'install.sh'), '--web-dir', join(dir, 'web'), '--public-url', 'https://agents.example.test/'],
    });
  });
  afterAll(async () => {
    await p?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves install.sh with the public URL substituted', async () => {
    const res = await fetch(`${p.url}/install.sh`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/x-shellscript; charset=utf-8');
    const text = await res.text();
    expect(text).toBe('#!/bin/sh\nURL="https://agents.example.test"\necho "$URL" https://agents.example.test/download/x\n');
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
  });

  it('serves artifacts byte for byte with content-length and type', async () => {
    const res = await fetch(`${p.url}/download/agentd-linux-x64.tar.xz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-xz');
    expect(res.headers.get('content-length')).toBe(String(artifact.length));
    expect(Buffer.from(await res.arrayBuffer()).equals(artifact)).toBe(true);
    const sum = await fetch(`${p.url}/download/agentd-linux-x64.tar.xz.sha256`);
    expect(await sum.text()).toBe('abc  agentd-linux-x64.tar.xz\n');
    const head = await fetch(`${p.url}/download/agentd-linux-x64.tar.xz`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(artifact.length));
  });

  it('serves the web page with explicit content types', async () => {
    const index = await fetch(`${p.url}/`);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await index.text()).toContain('<title>agentd</title>');
    expect((await fetch(`${p.url}/app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await fetch(`${p.url}/style.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('answers 404 for missing files and anything that tries to leave the directory', async () => {
    const paths = [
      '/download/missing.tar.xz',
      '/download/subdir',
      '/download/',
      '/download/..%2fsecret.txt',
      '/download/%2e%2e/secret.txt',
      '/download/../secret.txt',
      '/download/.hidden',
      '/download/subdir%2f..%2f..%2fsecret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/nope.html',
      '/platform.db',
      '/admin-token',
    ];
    for (const path of paths) {
      // Raw request line: fetch would normalise the dot segments before sending.
      const res = await rawGet(p.port, path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(res.body).not.toContain('outside');
    }
  });

  it('refuses other methods on files', async () => {
    expect((await fetch(`${p.url}/install.sh`, { method: 'POST' })).status).toBe(405);
  });
});

describe('platform files: defaults', () => {
  it('without a web dir or install script, / and /install.sh are 404 JSON', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'agentd-platform-empty-'));
    const p = await startPlatform({ args: ['--web-dir', join(empty, 'web'), '--install-script', join(empty, 'install.sh'), '--artifacts', join(empty, 'a')] });
    try {
      for (const path of ['/', '/install.sh', '/download/x']) {
        const res = await fetch(p.url + path);
        expect(res.status).toBe(404);
        expect(await res.json()).toEqual({ error: 'not found' });
      }
      expect(await (await fetch(`${p.url}/healthz`)).json()).toEqual({ ok: true });
    } finally {
      await p.stop();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

async function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = '';
    s.on('data', (b) => (data += b.toString()));
    s.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1]), body: data.split('\r\n\r\n').slice(1).join('') }));
    s.on('error', reject);
  });
}
