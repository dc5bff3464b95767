// `agentd install` over HTTPS against a loopback server whose certificate comes from a
// CA generated here (openssl): with NODE_EXTRA_CA_CERTS pointing at that CA the
// enrolment succeeds; without it the installer says the certificate was not accepted,
// how to fix it, and never retries or claims the token may be spent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENTD_CMD } from '../helpers/bin.js';
import { systemRootEnv } from '../helpers/env.js';

const MIT = 'mit_' + '5e'.repeat(20);
const MDT = 'mdt_' + '6f'.repeat(20);
let dir: string;
let server: Server;
let url: string;
let exchanges = 0;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentd-tls-'));
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=agentd test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  openssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '1', '-extfile', 'ext.cnf']);
  server = createServer({ key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.pem')) }, (req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      exchanges++;
      const body = JSON.parse(raw) as { daemon_id: string };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ token: MDT, workspace_id: 'ws-tls', daemon_id: body.daemon_id, expires_at: '' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function install(name: string, extraEnv: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: join(dir, 'home'), AGENTD_INSTALL_TOKEN: MIT, ...systemRootEnv(), ...extraEnv };
    const args = ['install', '--platform', url, '--no-service', '--config-dir', join(dir, name, 'etc'), '--state-dir', join(dir, name, 'state')];
    const proc = spawn(AGENTD_CMD[0]!, [...AGENTD_CMD.slice(1), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.once('error', reject);
    proc.once('exit', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
  });
}

describe('HTTPS with a private CA', () => {
  it('NODE_EXTRA_CA_CERTS makes the private CA trusted (the system store still applies)', async () => {
    exchanges = 0;
    const r = await install('trusted', { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(exchanges).toBe(1);
    expect(JSON.parse(readFileSync(join(dir, 'trusted', 'etc', 'credentials.json'), 'utf8')).workspace_id).toBe('ws-tls');
  });

  it('without it: certificate refused, one attempt, a hint naming NODE_EXTRA_CA_CERTS', async () => {
    exchanges = 0;
    const r = await install('untrusted', {});
    expect(r.code).toBe(69);
    expect(r.stderr).toContain(`cannot reach the platform at ${url}`);
    expect(r.stderr).toMatch(/TLS certificate not accepted/);
    expect(r.stderr).toContain('NODE_EXTRA_CA_CERTS');
    expect(r.stderr).not.toMatch(/after \d+ attempts/);
    expect(r.stderr).not.toMatch(/may now be used/);
    expect(exchanges).toBe(0);
    expect(r.stderr + r.stdout).not.toContain(MIT.slice(4));
  });
});
