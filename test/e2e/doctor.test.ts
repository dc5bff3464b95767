// `agentd doctor` against a real daemon and the real platform on loopback: each failure
// an operator meets is produced for real (platform down, credential revoked, a 0644
// credential file, a full state disk on a small tmpfs) and must be named by its check,
// with the command that fixes it, while the unrelated checks stay green.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { AGENTD_CMD, ROOT } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { daemonEnv, enrollDaemon, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';

interface Check {
  id: string;
  ok: boolean;
  detail: string;
  fix?: string;
}
interface Report {
  ok: boolean;
  checks: Check[];
}

const FIXTURE_BIN = join(ROOT, 'test', 'fixtures', 'bin');

function doctor(e: Enrolled, args: string[] = [], stateDir = e.stateDir): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = daemonEnv(e, { PATH: `${FIXTURE_BIN}${delimiter}${process.env.PATH ?? ''}` });
    const child = spawn(AGENTD_CMD[0], [...AGENTD_CMD.slice(1), 'doctor', '--mode', 'user', '--config-dir', e.configDir, '--state-dir', stateDir, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function report(e: Enrolled, stateDir?: string): Promise<{ code: number | null; r: Report; byId: Record<string, Check>; text: string }> {
  const j = await doctor(e, ['--json'], stateDir);
  const r = JSON.parse(j.stdout) as Report;
  const text = (await doctor(e, [], stateDir)).stdout;
  if (process.env.AGENTD_TEST_VERBOSE) console.log(text);
  return { code: j.code, r, byId: Object.fromEntries(r.checks.map((c) => [c.id, c])), text };
}

/** The checks a --no-service install cannot pass here (no systemd user manager on this machine). */
const SERVICE = new Set(['service.installed', 'service.enabled', 'service.active']);
const failing = (r: Report): string[] => r.checks.filter((c) => !c.ok && !SERVICE.has(c.id)).map((c) => c.id);

describe('agentd doctor (e2e)', () => {
  let platform: TestPlatform;
  let e: Enrolled;
  let d: TestDaemon | undefined;
  beforeAll(async () => {
    platform = await startPlatform();
    e = await enrollDaemon(platform, { name: 'doctor-e2e' });
    d = await startDaemon(e, { env: { PATH: `${FIXTURE_BIN}${delimiter}${process.env.PATH ?? ''}` } });
    await d.waitForState('ready');
  });
  afterAll(async () => {
    await d?.stop();
    await platform?.stop();
    await e?.remove();
  });

  it('healthy: every check but the (absent) service passes; the text has ✓ lines and no token', async () => {
    const { code, r, byId, text } = await report(e);
    expect(failing(r), text).toEqual([]);
    expect(code).toBe(1); // the service is not installed: exit 0 needs every check
    expect(byId['platform.credential'].detail).toMatch(/credential is valid/);
    expect(byId['platform.clock'].detail).toMatch(/in step|ahead|behind/);
    expect(byId['daemon.health'].detail).toMatch(/: ready/);
    expect(byId.runtimes.detail).toMatch(/claude/);
    expect(byId.host.detail).toMatch(/CPUs; .* memory available; /);
    expect(text).toMatch(/^agentd doctor: user install/);
    expect(text).toMatch(/✓ credential file/);
    expect(byId['service.installed'].fix).toMatch(/install\.sh/);
    expect(text).not.toMatch(/mdt_[0-9a-f]{40}/);
  });

  it('a 0644 credential file: the credential check fails with the chmod that fixes it', async () => {
    const file = join(e.configDir, 'credentials.json');
    chmodSync(file, 0o644);
    try {
      const { r, byId, text } = await report(e);
      expect(failing(r), text).toEqual(['credentials.file']);
      expect(byId['credentials.file'].detail).toMatch(/mode 0644: every user on this machine can read it/);
      expect(byId['credentials.file'].fix).toBe(`chmod 600 ${file}`);
    } finally {
      chmodSync(file, 0o600);
    }
  });

  it('platform down: TCP refused, credential "not known: a network fault", health degraded', async () => {
    await platform.halt();
    try {
      await d!.waitForState('degraded', 20_000);
      const { r, byId, text } = await report(e);
      expect(failing(r).sort(), text).toEqual(['daemon.health', 'platform.clock', 'platform.credential', 'platform.tcp'].sort());
      expect(byId['platform.tcp'].detail).toMatch(/connection refused/);
      expect(byId['platform.credential'].detail).toMatch(/a network fault, not the credential/);
      expect(byId['platform.tcp'].fix).toMatch(/^curl -v http:\/\/127\.0\.0\.1:\d+\//);
    } finally {
      await platform.restart();
    }
    await d!.waitForState('ready', 30_000);
  });

  it('full state disk (a 1 MiB tmpfs): disk space fails (inodes do not), naming the mount and the du command', async () => {
    const mnt = mkdtempSync(join(tmpdir(), 'agentd-fulldisk-'));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nr_inodes=20000', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) {
      rmSync(mnt, { recursive: true, force: true });
      console.warn(`skipping the full-disk case: cannot mount a tmpfs (${m.stderr.trim()})`);
      return;
    }
    try {
      const state = join(mnt, 'state');
      mkdirSync(state);
      spawnSync('sh', ['-c', `cat /dev/zero > ${join(state, 'fill')} 2>/dev/null; true`]);
      const { r, byId, text } = await report(e, state);
      // The daemon keeps its own state dir, so nothing answers for this one.
      expect(failing(r).sort(), text).toEqual(['daemon.health', 'disk.space']);
      expect(byId['disk.inodes'].ok).toBe(true);
      expect(byId['disk.space'].detail).toMatch(new RegExp(`^0 B free of 1\\.0 MiB on ${state}`));
      expect(byId['disk.space'].fix).toMatch(/du -xsh/);
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('revoked credential: the platform refuses it (401) and the network checks stay green', async () => {
    await platform.admin.revokeDaemon(platform.workspaceId, e.daemonId);
    await d!.waitForState('revoked', 20_000);
    const { r, byId, text } = await report(e);
    expect(failing(r).sort(), text).toEqual(['daemon.health', 'platform.credential'].sort());
    expect(byId['platform.credential'].detail).toMatch(/refused the credential \(401\): it was revoked or rotated; the network is fine/);
    expect(byId['platform.credential'].fix).toMatch(/agentd credentials set < FILE/);
    expect(byId['platform.tcp'].ok).toBe(true);
  });
});

describe('agentd doctor without an install', () => {
  it('names what is missing and exits 1', async () => {
    const root = mkdtempSync(join(tmpdir(), 'agentd-doctor-none-'));
    try {
      const e = { home: root, configDir: join(root, 'config'), stateDir: join(root, 'state'), daemonId: '', remove: async () => undefined };
      writeFileSync(join(root, 'marker'), '');
      const { code, byId } = await report(e);
      expect(code).toBe(1);
      expect(byId['config.file'].detail).toMatch(/is missing: this machine is not enrolled/);
      expect(byId['config.file'].fix).toMatch(/install\.sh \| AGENTD_INSTALL_TOKEN=mit_… sh/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('agentd doctor over TLS (a loopback HTTPS platform whose certificate comes from a CA made here)', () => {
  let dir: string;
  let server: import('node:https').Server;
  let e: Enrolled;
  beforeAll(async () => {
    const { createServer } = await import('node:https');
    dir = mkdtempSync(join(tmpdir(), 'agentd-doctor-tls-'));
    const openssl = (args: string[]): void => void spawnSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=agentd doctor test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
    openssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '1', '-extfile', 'ext.cnf']);
    // Answers the doctor's credential probe as the platform does for an unknown task.
    server = createServer({ key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.pem')) }, (_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"task not found"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
    const configDir = join(dir, 'config');
    mkdirSync(configDir, { mode: 0o700 });
    writeFileSync(join(configDir, 'config.json'), JSON.stringify({ platform_url: url, workspace_id: 'ws-tls', daemon_id: 'd-tls', device_name: 'tls-box', mode: 'user' }), { mode: 0o600 });
    writeFileSync(join(configDir, 'credentials.json'), JSON.stringify({ token: 'mdt_' + '7a'.repeat(20), daemon_id: 'd-tls', workspace_id: 'ws-tls', issued_at: '2026-12-01T00:00:00Z' }), { mode: 0o600 });
    e = { home: join(dir, 'home'), configDir, stateDir: join(dir, 'state'), daemonId: 'd-tls', remove: async () => undefined };
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('without the CA: TLS fails naming the verify error and the NODE_EXTRA_CA_CERTS fix; with it: TLS and the credential pass', async () => {
    const without = await report(e);
    expect(without.byId['platform.tls'].ok, without.text).toBe(false);
    expect(without.byId['platform.tls'].detail).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    // The runner may carry its own NODE_EXTRA_CA_CERTS (a system bundle): named either way.
    expect(without.byId['platform.tls'].detail).toMatch(/CA in use: system CA store( \+ NODE_EXTRA_CA_CERTS=\S+)?$/);
    expect(without.byId['platform.tls'].fix).toMatch(/Environment=NODE_EXTRA_CA_CERTS=/);
    const ca = join(dir, 'ca.pem');
    const j = await new Promise<string>((resolve) => {
      const child = spawn(AGENTD_CMD[0], [...AGENTD_CMD.slice(1), 'doctor', '--json', '--mode', 'user', '--config-dir', e.configDir, '--state-dir', e.stateDir], { env: daemonEnv(e, { NODE_EXTRA_CA_CERTS: ca }), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', () => resolve(out));
    });
    const byId = Object.fromEntries((JSON.parse(j) as Report).checks.map((c) => [c.id, c]));
    expect(byId['platform.tls'], j).toMatchObject({ ok: true });
    expect(byId['platform.tls'].detail).toMatch(new RegExp(`certificate 127\\.0\\.0\\.1 from agentd doctor test CA, valid until .*; trusted by the system CA store \\+ NODE_EXTRA_CA_CERTS=${ca}`));
    expect(byId['platform.credential']).toMatchObject({ ok: true });
  });
});
