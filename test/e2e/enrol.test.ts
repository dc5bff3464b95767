// Enrolment end to end: the real `agentd install --no-service` (built bundle, child
// process) against the real reference platform over loopback. The token must never show
// up in the installer's output nor in the platform's log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlatformClient } from '../../api/client.js';
import { InstallTokenAlreadyUsed } from '../../api/errors.js';
import { AGENTD_CMD } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { systemRootEnv } from '../helpers/env.js';

let platform: TestPlatform;
let dir: string;
const tokensSeen: string[] = [];

beforeAll(async () => {
  platform = await startPlatform();
  dir = mkdtempSync(join(tmpdir(), 'agentd-enrol-e2e-'));
});
afterAll(async () => {
  await platform?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function mint(p: TestPlatform = platform): Promise<string> {
  const t = (await p.admin.createInstallToken(p.workspaceId)).token;
  tokensSeen.push(t);
  return t;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI. The token travels by env or stdin, never argv. */
function agentd(args: string[], o: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: join(dir, 'home'), AGENTD_HEALTH_ADDR: '127.0.0.1:0', ...systemRootEnv(), ...o.env };
    const proc = spawn(AGENTD_CMD[0]!, [...AGENTD_CMD.slice(1), ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.once('error', reject);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    proc.stdin.end(o.stdin ?? '');
  });
}

function dirsFor(name: string): { configDir: string; stateDir: string; args: string[] } {
  const configDir = join(dir, name, 'etc');
  const stateDir = join(dir, name, 'state');
  return { configDir, stateDir, args: ['--config-dir', configDir, '--state-dir', stateDir] };
}

function expectNoSecrets(text: string): void {
  for (const t of tokensSeen) expect(text).not.toContain(t.slice(4));
  expect(text).not.toMatch(/m[id]t_[0-9a-f]{8}/);
}

describe('agentd install --no-service against the reference platform', () => {
  it('happy path: enrolled, files written 0600/0700, the credential works, no token in any output', async () => {
    const token = await mint();
    const d = dirsFor('happy');
    const r = await agentd(['install', '--platform', platform.url, '--no-service', '--name', 'e2e-box', ...d.args], { env: { AGENTD_INSTALL_TOKEN: token } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Enrolled this machine as "e2e-box" in workspace ${platform.workspaceId} (${platform.url})`);
    expect(r.stdout).toContain(join(d.configDir, 'credentials.json'));
    expect(r.stdout).toContain('Next: start the daemon with `agentd run');

    const creds = JSON.parse(readFileSync(join(d.configDir, 'credentials.json'), 'utf8')) as { token: string; daemon_id: string; workspace_id: string };
    tokensSeen.push(creds.token);
    const config = JSON.parse(readFileSync(join(d.configDir, 'config.json'), 'utf8')) as { daemon_id: string; workspace_id: string; platform_url: string };
    expect(creds.workspace_id).toBe(platform.workspaceId);
    expect(config).toMatchObject({ daemon_id: creds.daemon_id, workspace_id: platform.workspaceId, platform_url: platform.url });
    expect(readFileSync(join(d.stateDir, 'daemon-id'), 'utf8').trim()).toBe(creds.daemon_id);
    expect(statSync(join(d.configDir, 'credentials.json')).mode & 0o777).toBe(0o600);
    expect(statSync(d.configDir).mode & 0o777).toBe(0o700);

    // the credential is accepted by the platform
    const client = new PlatformClient({ baseUrl: platform.url, getToken: () => creds.token });
    try {
      const reg = await client.register({ workspace_id: creds.workspace_id, daemon_id: creds.daemon_id, device_name: 'e2e-box', cli_version: 'test', runtimes: [{ name: 'command', type: 'command', version: '1', status: 'online' }] });
      expect(reg.runtimes.length).toBe(1);
    } finally {
      await client.close();
    }
    expectNoSecrets(r.stdout + r.stderr);
  });

  it('token on stdin (--token -); a second exchange of the same token → already used, nothing written', async () => {
    const token = await mint();
    const first = await agentd(['install', '--platform', platform.url, '--no-service', '--token', '-', ...dirsFor('stdin').args], { stdin: `${token}\n` });
    expect(first.code).toBe(0);
    const other = dirsFor('second');
    const second = await agentd(['install', '--platform', platform.url, '--no-service', '--token', '-', ...other.args], { stdin: `${token}\n` });
    expect(second.code).toBe(77);
    expect(second.stderr).toContain('this install token was already used');
    expect(second.stderr).toContain('Mint a new install token in the platform UI');
    expect(() => statSync(join(other.configDir, 'credentials.json'))).toThrow();
    expectNoSecrets(first.stdout + first.stderr + second.stdout + second.stderr);
  });

  it('an expired token → says so and to mint a new one', async () => {
    const p = await startPlatform({ args: ['--install-token-ttl', '1s'] });
    try {
      const token = await mint(p);
      await new Promise((r) => setTimeout(r, 1_300));
      const r = await agentd(['install', '--platform', p.url, '--no-service', ...dirsFor('expired').args], { env: { AGENTD_INSTALL_TOKEN: token } });
      expect(r.code).toBe(77);
      expect(r.stderr).toMatch(/does not know this install token, or it has expired/);
      expect(r.stderr).toContain('Mint a new install token');
      expectNoSecrets(r.stdout + r.stderr + p.output());
    } finally {
      await p.stop();
    }
  });

  it('reinstall with --force and a new token keeps the daemon id and replaces the credential', async () => {
    const d = dirsFor('force');
    const a = await agentd(['install', '--platform', platform.url, '--no-service', ...d.args], { env: { AGENTD_INSTALL_TOKEN: await mint() } });
    expect(a.code).toBe(0);
    const before = JSON.parse(readFileSync(join(d.configDir, 'credentials.json'), 'utf8')) as { token: string; daemon_id: string };
    tokensSeen.push(before.token);
    // Without --force the same platform is an upgrade in place: exit 0, the token unspent.
    const unspent = await mint();
    const again = await agentd(['install', '--platform', platform.url, '--no-service', ...d.args], { env: { AGENTD_INSTALL_TOKEN: unspent } });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('upgrading in place');
    expect(JSON.parse(readFileSync(join(d.configDir, 'credentials.json'), 'utf8')).token).toBe(before.token);
    expect((await platform.admin.listInstallTokens(platform.workspaceId)).map((t) => t.uses_left)).toContain(1);
    void unspent;
    const b = await agentd(['install', '--platform', platform.url, '--no-service', '--force', ...d.args], { env: { AGENTD_INSTALL_TOKEN: await mint() } });
    expect(b.code).toBe(0);
    expect(b.stdout).toContain('Re-enrolled');
    const after = JSON.parse(readFileSync(join(d.configDir, 'credentials.json'), 'utf8')) as { token: string; daemon_id: string };
    tokensSeen.push(after.token);
    expect(after.daemon_id).toBe(before.daemon_id);
    expect(after.token).not.toBe(before.token);
    // It proved the credential it held (no refused take-over on the operator's list).
    const listed = (await platform.admin.listDaemons(platform.workspaceId)).find((x) => x.daemon_id === before.daemon_id)!;
    expect(listed.reenrolled_at).toEqual(expect.any(String));
    expect(listed.refused_enrolments).toBe(0);
  });

  it('an install on a machine whose daemon id is enrolled but whose credential is gone enrols a new daemon id', async () => {
    const d = dirsFor('gone');
    const a = await agentd(['install', '--platform', platform.url, '--no-service', ...d.args], { env: { AGENTD_INSTALL_TOKEN: await mint() } });
    expect(a.code).toBe(0);
    const before = JSON.parse(readFileSync(join(d.configDir, 'credentials.json'), 'utf8')) as { token: string; daemon_id: string };
    tokensSeen.push(before.token);
    // What `agentd uninstall` leaves: the state dir (daemon id) without config or credential.
    rmSync(join(d.configDir, 'credentials.json'));
    rmSync(join(d.configDir, 'config.json'));
    const b = await agentd(['install', '--platform', platform.url, '--no-service', ...d.args], { env: { AGENTD_INSTALL_TOKEN: await mint() } });
    expect(b.code).toBe(0);
    const after = JSON.parse(readFileSync(join(d.configDir, 'credentials.json'), 'utf8')) as { token: string; daemon_id: string };
    tokensSeen.push(after.token);
    expect(after.daemon_id).not.toBe(before.daemon_id);
    expect(readFileSync(join(d.stateDir, 'daemon-id'), 'utf8').trim()).toBe(after.daemon_id);
    expect(b.stdout).toContain(`daemon id    ${after.daemon_id} (new:`);
    // The old identity kept its credential: nobody took it over.
    const client = new PlatformClient({ baseUrl: platform.url, getToken: () => before.token });
    try {
      await expect(client.register({ workspace_id: platform.workspaceId, daemon_id: before.daemon_id, device_name: 'x', cli_version: '1', runtimes: [] })).resolves.toBeDefined();
    } finally {
      await client.close();
    }
    expectNoSecrets(b.stdout + b.stderr);
  });

  it('--token-file works and a plain --token value is refused without being echoed', async () => {
    const token = await mint();
    const refused = await agentd(['install', '--platform', platform.url, '--no-service', '--token', token, ...dirsFor('argv').args]);
    expect(refused.code).toBe(64);
    expectNoSecrets(refused.stdout + refused.stderr);
    const f = join(dir, 'token.txt');
    writeFileSync(f, token, { mode: 0o600 });
    const ok = await agentd(['install', '--platform', platform.url, '--no-service', '--token-file', f, ...dirsFor('file').args]);
    expect(ok.code).toBe(0); // the refused attempt did not spend the token
  });

  it('20 concurrent exchanges of one token: exactly one succeeds, the rest are install_token_already_used', async () => {
    const token = await mint();
    const client = new PlatformClient({ baseUrl: platform.url });
    try {
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => client.exchangeInstallToken({ token, daemon_id: `race-${i}` })));
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(InstallTokenAlreadyUsed);
      tokensSeen.push((ok[0] as PromiseFulfilledResult<{ token: string }>).value.token);
    } finally {
      await client.close();
    }
  });

  it('the platform log never contains a token', () => {
    expectNoSecrets(platform.output());
  });
});

// A non-loopback address of this machine, to reach the platform the way a remote one is reached.
const REMOTE_IP = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

describe.skipIf(!REMOTE_IP)('a plain http:// platform URL to another host', () => {
  let remote: TestPlatform;
  beforeAll(async () => {
    remote = await startPlatform({ args: ['--host', '0.0.0.0'] });
  });
  afterAll(async () => {
    await remote?.stop();
  });

  it('agentd install refuses it before the token is spent unless --insecure-http; loopback http needs no flag', async () => {
    const url = `http://${REMOTE_IP}:${remote.port}`;
    const d = dirsFor('insecure');
    const token = await mint(remote);
    const refused = await agentd(['install', '--platform', url, '--no-service', ...d.args], { env: { AGENTD_INSTALL_TOKEN: token } });
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain('plain http://');
    expect(refused.stderr).toContain('--insecure-http');
    expect(existsSync(join(d.configDir, 'config.json'))).toBe(false);
    // The same token still works: the refusal never reached the platform.
    const ok = await agentd(['install', '--platform', url, '--no-service', '--insecure-http', ...d.args], { env: { AGENTD_INSTALL_TOKEN: token } });
    expect(ok.code, ok.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(d.configDir, 'config.json'), 'utf8')) as { platform_url: string; insecure_http?: boolean };
    expect(config).toMatchObject({ platform_url: url, insecure_http: true });
    tokensSeen.push((JSON.parse(readFileSync(join(d.configDir, 'credentials.json'), 'utf8')) as { token: string }).token);
    expectNoSecrets(refused.stdout + refused.stderr + ok.stdout + ok.stderr);
  });

  it('agentd run refuses it (exit 78) unless config.json says insecure_http or AGENTD_INSECURE_HTTP=1', async () => {
    const url = `http://${REMOTE_IP}:${remote.port}`;
    const d = dirsFor('insecure-run');
    const ok = await agentd(['install', '--platform', url, '--no-service', '--insecure-http', ...d.args], { env: { AGENTD_INSTALL_TOKEN: await mint(remote) } });
    expect(ok.code, ok.stderr).toBe(0);
    const file = join(d.configDir, 'config.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    delete config.insecure_http;
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    const run = await agentd(['run', ...d.args]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain(`refusing the plain http:// platform URL ${url}`);
    expect(run.stderr).toContain('AGENTD_INSECURE_HTTP=1');
    // Asked for by name, it runs: registered with the remote platform.
    await startsAndStops(d, { AGENTD_INSECURE_HTTP: '1' });
    writeFileSync(file, JSON.stringify({ ...config, insecure_http: true }), { mode: 0o600 });
    await startsAndStops(d, {});
  });
});

/** `agentd run` until its health port says ready, then SIGTERM → exit 0. */
async function startsAndStops(d: { args: string[]; stateDir: string }, env: NodeJS.ProcessEnv): Promise<void> {
  const proc = spawn(AGENTD_CMD[0]!, [...AGENTD_CMD.slice(1), 'run', ...d.args], {
    env: { PATH: process.env.PATH, HOME: join(dir, 'home'), AGENTD_HEALTH_ADDR: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  try {
    for (;;) {
      if (code !== undefined) throw new Error(`agentd run exited ${code}:\n${out}`);
      const url = (() => {
        try {
          return (JSON.parse(readFileSync(join(d.stateDir, 'daemon.json'), 'utf8')) as { health_url: string | null }).health_url;
        } catch {
          return null;
        }
      })();
      if (url && (await fetch(`${url}/readyz`).catch(() => null))?.status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    proc.kill('SIGKILL');
  }
}
