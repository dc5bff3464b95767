// `agentd install` in-process (cli/main.ts) against a real loopback HTTP server that
// plays the platform's exchange endpoint with canned answers. Checks exit codes, the
// texts a person reads, that the token is never echoed, that bad input never reaches
// the platform (the token is not spent), and that failures leave files untouched.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import fs, { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { main } from '../../cli/main.js';
import { makeInstallCommand } from '../../cli/install.js';
import { parseCommandArgs } from '../../cli/command.js';
import { UserError } from '../../core/errors.js';
import { EXIT } from '../../core/exit-codes.js';
import { systemRootEnv } from '../helpers/env.js';

const MIT = 'mit_' + 'ab12'.repeat(10);
const MDT = 'mdt_' + 'cd34'.repeat(10);
const MDT_OLD = 'mdt_' + 'ef56'.repeat(10);
const WS = 'ws-0001';

type Answer = { status: number; body: string };
let answer: (body: { token?: string; daemon_id?: string }) => Answer;
let requests: { url: string; body: { token?: string; daemon_id?: string } }[];
let server: Server;
let url: string;
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      let body: { token?: string; daemon_id?: string } = {};
      try {
        body = JSON.parse(raw) as typeof body;
      } catch {
        // keep {}
      }
      requests.push({ url: req.url ?? '', body });
      const a = answer(body);
      res.statusCode = a.status;
      res.setHeader('content-type', 'application/json');
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  requests = [];
  answer = (b) => ({ status: 200, body: JSON.stringify({ token: MDT, workspace_id: WS, daemon_id: b.daemon_id, expires_at: '2126-01-01T00:00:00Z' }) });
  dir = mkdtempSync(join(tmpdir(), 'agentd-install-cli-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

async function install(args: string[], o: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<{ code: number; stdout: string; stderr: string; env: NodeJS.ProcessEnv }> {
  let stdout = '';
  let stderr = '';
  const sink = (f: (s: string) => void): Writable => new Writable({ write: (c: Buffer, _e, cb) => (f(c.toString()), cb()) });
  const env: NodeJS.ProcessEnv = { HOME: join(dir, 'home'), PATH: process.env.PATH, ...systemRootEnv(), ...o.env };
  const stdin = o.stdin === undefined ? new PassThrough() : Readable.from([o.stdin]);
  const code = await main(['install', ...args], {
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    stdin,
    env,
  });
  return { code, stdout, stderr, env };
}

const dirs = (): string[] => ['--config-dir', join(dir, 'etc'), '--state-dir', join(dir, 'state')];
const base = (): string[] => ['--platform', url, '--no-service', '--name', 'box-1', ...dirs()];
const credFile = (): string => join(dir, 'etc', 'credentials.json');

function expectNoToken(r: { stdout: string; stderr: string }): void {
  for (const t of [MIT, MDT, MDT_OLD]) {
    expect(r.stdout).not.toContain(t.slice(4));
    expect(r.stderr).not.toContain(t.slice(4));
  }
}

describe('token sources', () => {
  it.each([
    [['--token', MIT]],
    [[`--token=${MIT}`]],
  ])('a token on the command line is refused without echoing it: %j', async (tokenArgs) => {
    const r = await install([...base(), ...tokenArgs]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/every user of this machine can read it with `ps`/);
    expect(r.stderr).toContain('AGENTD_INSTALL_TOKEN=mit_… agentd install');
    expect(r.stderr).toContain('--token-file FILE');
    expect(r.stderr).toContain('--token -');
    expectNoToken(r);
    expect(requests).toHaveLength(0);
  });

  it('the refusal comes first, even with other flags missing', async () => {
    const r = await install(['--token', MIT]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/refusing an install token given on the command line/);
    expectNoToken(r);
  });

  it('no token at all → usage error listing the safe forms', async () => {
    const r = await install(base());
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/no install token given/);
    expect(r.stderr).toContain('--token-file FILE');
  });

  it.each([
    ['mit_' + 'Z'.repeat(40), /should be mit_ followed by 40 lowercase hex digits/],
    ['xyz_' + 'a'.repeat(40), /does not start with mit_/],
    [MDT, /daemon credential \(mdt_\)/],
  ])('a malformed token is refused locally, never sent, never echoed (%#)', async (token, re) => {
    const r = await install(base(), { env: { AGENTD_INSTALL_TOKEN: token } });
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(re);
    expect(r.stderr).not.toContain(token.slice(4));
    expect(requests).toHaveLength(0);
  });

  it('reads the token from stdin with --token -', async () => {
    const r = await install([...base(), '--token', '-'], { stdin: `${MIT}\n` });
    expect(r.code).toBe(EXIT.OK);
    expect(requests[0].body.token).toBe(MIT);
  });

  it('reads the token from --token-file', async () => {
    const f = join(dir, 'tok');
    fs.writeFileSync(f, `  ${MIT}\n`);
    const r = await install([...base(), '--token-file', f]);
    expect(r.code).toBe(EXIT.OK);
    expect(requests[0].body.token).toBe(MIT);
  });

  it('a missing --token-file names the file', async () => {
    const r = await install([...base(), '--token-file', join(dir, 'nope')]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toContain(`cannot read the token file ${join(dir, 'nope')}: no such file`);
  });

  it('from the environment, and removes it from the environment afterwards', async () => {
    const r = await install(base(), { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.OK);
    expect(r.env.AGENTD_INSTALL_TOKEN).toBeUndefined();
  });
});

describe('happy path', () => {
  it('exchanges, writes config + credentials (0600 in 0700), prints what it did', async () => {
    const r = await install(base(), { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.OK);
    expect(requests).toEqual([{ url: '/api/install-tokens/exchange', body: { token: MIT, daemon_id: expect.any(String) } }]);
    const daemonId = readFileSync(join(dir, 'state', 'daemon-id'), 'utf8').trim();
    expect(requests[0].body.daemon_id).toBe(daemonId);
    const creds = JSON.parse(readFileSync(credFile(), 'utf8')) as Record<string, string>;
    expect(creds).toMatchObject({ token: MDT, daemon_id: daemonId, workspace_id: WS });
    const config = JSON.parse(readFileSync(join(dir, 'etc', 'config.json'), 'utf8')) as Record<string, string>;
    expect(config).toEqual({ platform_url: url, workspace_id: WS, daemon_id: daemonId, device_name: 'box-1', mode: expect.stringMatching(/system|user/) });
    expect(statSync(credFile()).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'etc')).mode & 0o777).toBe(0o700);
    expect(r.stdout).toContain('Enrolled this machine as "box-1" in workspace ws-0001');
    expect(r.stdout).toContain(credFile());
    expect(r.stdout).toMatch(/Next: start the daemon with `agentd run --config-dir .* --state-dir .*`/);
    expectNoToken(r);
  });

  it('--json prints one JSON document without the token', async () => {
    const r = await install([...base(), '--json'], { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.OK);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({ enrolled: true, device_name: 'box-1', workspace_id: WS, credentials_file: credFile(), replaced_previous: false });
    expectNoToken(r);
  });

  // The service step is H5's (installer/service-step.ts); here a fake one checks the seam.
  async function runWith(service: Parameters<typeof makeInstallCommand>[0], args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const cmd = makeInstallCommand(service);
    let stdout = '';
    const io = {
      stdout: new Writable({ write: (c: Buffer, _e, cb) => ((stdout += c.toString()), cb()) }),
      stderr: new Writable({ write: (_c, _e, cb) => cb() }),
      stdin: new PassThrough(),
      env: { AGENTD_INSTALL_TOKEN: MIT } as NodeJS.ProcessEnv,
    };
    try {
      return { code: await cmd.run(parseCommandArgs(cmd, args), io), stdout, stderr: '' };
    } catch (err) {
      return { code: (err as UserError).exitCode, stdout, stderr: (err as Error).message };
    }
  }

  it('without --no-service and without a service step: refused before the token is spent', async () => {
    const r = await runWith(undefined, ['--platform', url, ...dirs()]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/cannot install the service/);
    expect(requests).toHaveLength(0);
  });

  it('the service preflight runs before the exchange; its install runs after the files are written', async () => {
    const seen: string[] = [];
    const refusing = await runWith(
      {
        preflight: async () => {
          throw new UserError('no service manager here', { exitCode: EXIT.CONFIG });
        },
        install: async () => ({ lines: [] }),
      },
      ['--platform', url, ...dirs()],
    );
    expect(refusing).toMatchObject({ code: EXIT.CONFIG, stderr: 'no service manager here' });
    expect(requests).toHaveLength(0);

    const ok = await runWith(
      {
        preflight: async ({ paths }) => void seen.push(`preflight ${existsSync(paths.credentialsFile)}`),
        install: async ({ paths, config }) => {
          seen.push(`install ${existsSync(paths.credentialsFile)} ${config.device_name}`);
          return { lines: ['  service      agentd.service, active'] };
        },
      },
      ['--platform', url, '--name', 'svc', ...dirs()],
    );
    expect(ok.code).toBe(EXIT.OK);
    expect(seen).toEqual(['preflight false', 'install true svc']);
    expect(ok.stdout).toContain('agentd.service, active');
    expect(ok.stdout).not.toContain('Next: start the daemon');
  });
});

describe('platform answers', () => {
  it.each([
    [401, 'invalid_install_token', EXIT.REVOKED, /does not know this install token, or it has expired[\s\S]*Mint a new install token in the platform UI/],
    [400, 'invalid_install_token', EXIT.REVOKED, /does not know this install token/],
    [401, 'install_token_already_used', EXIT.REVOKED, /already used[\s\S]*Mint a new install token/],
    [500, 'internal error', EXIT.UNAVAILABLE, /failed to answer the enrolment \(HTTP 500: internal error\)/],
    [503, 'maintenance', EXIT.UNAVAILABLE, /HTTP 503/],
  ])('%i %s → exit %i', async (status, error, code, re) => {
    answer = () => ({ status, body: JSON.stringify({ error }) });
    const r = await install(base(), { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(re);
    expect(requests).toHaveLength(1); // never retried
    expect(existsSync(credFile())).toBe(false);
    expectNoToken(r);
  });

  it('200 with a body that is not JSON → says the URL may be wrong', async () => {
    answer = () => ({ status: 200, body: '<html>hello</html>' });
    const r = await install(base(), { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.UNAVAILABLE);
    expect(r.stderr).toContain(`the platform at ${url} did not answer like an agentd platform`);
    expect(r.stderr).toMatch(/Check --platform/);
    expect(existsSync(credFile())).toBe(false);
  });

  it('unreachable → names the URL, after the retries', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const dead = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    await new Promise((r) => s.close(r));
    const r = await install(['--platform', dead, '--no-service', ...dirs()], { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.UNAVAILABLE);
    expect(r.stderr).toContain(`cannot reach the platform at ${dead}`);
    expect(r.stderr).toMatch(/connection refused.*after 4 attempts/);
    expect(r.stderr).toMatch(/HTTPS_PROXY/);
    expectNoToken(r);
  });

  it('--platform that is not a URL → usage error, nothing sent', async () => {
    const r = await install(['--platform', 'platform.example.com', '--no-service', ...dirs()], { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/--platform must be a URL/);
  });
});

describe('existing enrolment', () => {
  async function enrolOld(): Promise<Buffer> {
    answer = (b) => ({ status: 200, body: JSON.stringify({ token: MDT_OLD, workspace_id: WS, daemon_id: b.daemon_id, expires_at: '' }) });
    expect((await install(base(), { env: { AGENTD_INSTALL_TOKEN: MIT } })).code).toBe(EXIT.OK);
    answer = (b) => ({ status: 200, body: JSON.stringify({ token: MDT, workspace_id: WS, daemon_id: b.daemon_id, expires_at: '' }) });
    requests = [];
    return readFileSync(credFile());
  }

  it('the same platform again without --force upgrades in place: exit 0, no token spent, nothing changed', async () => {
    const before = await enrolOld();
    const r = await install(base(), { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.OK);
    expect(r.stderr).toContain('already enrolled as "box-1"');
    expect(r.stderr).toContain('upgrading in place; the install token was not used');
    expect(r.stdout).toContain('Upgraded in place');
    expect(requests).toHaveLength(0);
    expect(readFileSync(credFile())).toEqual(before);
  });

  it('another platform without --force is refused, saying what --force replaces; nothing sent, nothing changed', async () => {
    const before = await enrolOld();
    const other = base().map((a) => (a === url ? 'https://other-platform.example' : a));
    const r = await install(other, { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.FAILURE);
    expect(r.stderr).toContain('this machine is already enrolled as "box-1" (workspace ws-0001');
    expect(r.stderr).toContain(`--force: it exchanges the new token and replaces ${credFile()}`);
    expect(requests).toHaveLength(0);
    expect(readFileSync(credFile())).toEqual(before);
  });

  it('--force with a refused token leaves the old credential byte for byte', async () => {
    const before = await enrolOld();
    answer = () => ({ status: 401, body: JSON.stringify({ error: 'install_token_already_used' }) });
    const r = await install([...base(), '--force'], { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.REVOKED);
    expect(readFileSync(credFile())).toEqual(before);
  });

  it('--force replaces the enrolment and keeps the daemon id', async () => {
    await enrolOld();
    const idBefore = readFileSync(join(dir, 'state', 'daemon-id'), 'utf8');
    const r = await install([...base(), '--force', '--name', 'box-2'], { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.OK);
    expect(r.stdout).toContain('Re-enrolled this machine as "box-2"');
    expect(JSON.parse(readFileSync(credFile(), 'utf8')).token).toBe(MDT);
    expect(readFileSync(join(dir, 'state', 'daemon-id'), 'utf8')).toBe(idBefore);
    expect(requests[0].body.daemon_id).toBe(idBefore.trim());
  });

  it('disk full while saving after the exchange: old pair intact, says the token is used', async () => {
    const before = await enrolOld();
    const configBefore = readFileSync(join(dir, 'etc', 'config.json'));
    const realOpen = fs.open;
    vi.spyOn(fs, 'open').mockImplementation(((...args: unknown[]) => {
      if (String(args[0]).includes('credentials.json.staging-')) return (args[args.length - 1] as (e: Error) => void)(Object.assign(new Error('ENOSPC (injected)'), { code: 'ENOSPC' }));
      return (realOpen as (...a: unknown[]) => void)(...args);
    }) as typeof fs.open);
    const r = await install([...base(), '--force'], { env: { AGENTD_INSTALL_TOKEN: MIT } });
    vi.restoreAllMocks();
    expect(r.code).toBe(EXIT.CANTCREAT);
    expect(r.stderr).toContain(`cannot write ${credFile()}: no space left on the device`);
    expect(r.stderr).toMatch(/install token has been used/);
    expect(readFileSync(credFile())).toEqual(before);
    expect(readFileSync(join(dir, 'etc', 'config.json'))).toEqual(configBefore);
    expectNoToken(r);
  });
});

describe('unwritable places fail before the token is spent', () => {
  it('a config dir that cannot be created', async () => {
    const r = await install(['--platform', url, '--no-service', '--config-dir', '/proc/agentd-test', '--state-dir', join(dir, 'state')], { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.CANTCREAT);
    expect(r.stderr).toContain('/proc/agentd-test');
    expect(requests).toHaveLength(0);
  });

  it('a config "dir" that is a file', async () => {
    fs.writeFileSync(join(dir, 'etc'), '');
    const r = await install(base(), { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(r.code).toBe(EXIT.CANTCREAT);
    expect(r.stderr).toMatch(/not a directory/);
    expect(requests).toHaveLength(0);
  });

  // A directory another user owns: they could swap config.json (the daemon would send
  // its credential to the URL in it) or plant a link where root writes the credential.
  it.skipIf(process.getuid?.() !== 0)('a config or state dir owned by another user, or a link in its place, is refused; nothing sent, nothing changed', async () => {
    for (const which of ['etc', 'state']) {
      rmSync(join(dir, 'etc'), { recursive: true, force: true });
      rmSync(join(dir, 'state'), { recursive: true, force: true });
      fs.mkdirSync(join(dir, which), { mode: 0o755 });
      fs.chownSync(join(dir, which), 4242, 4242);
      const r = await install(base(), { env: { AGENTD_INSTALL_TOKEN: MIT } });
      expect(r.code, r.stderr).toBe(EXIT.CONFIG);
      expect(r.stderr).toContain(`${join(dir, which)} is a directory owned by uid 4242, not by root or the agentd service user`);
      expect(statSync(join(dir, which)).mode & 0o777).toBe(0o755); // not even chmod'ed
      expect(existsSync(credFile())).toBe(false);
    }
    rmSync(join(dir, 'state'), { recursive: true, force: true });
    fs.mkdirSync(join(dir, 'elsewhere'));
    fs.symlinkSync(join(dir, 'elsewhere'), join(dir, 'etc'));
    const link = await install(base(), { env: { AGENTD_INSTALL_TOKEN: MIT } });
    expect(link.code).toBe(EXIT.CONFIG);
    expect(link.stderr).toMatch(/is a symbolic link/);
    expect(fs.readdirSync(join(dir, 'elsewhere'))).toEqual([]);
    expect(requests).toHaveLength(0);
  });

  it('disk full in the config dir (probe write)', async () => {
    vi.spyOn(fs, 'write').mockImplementation(((...args: unknown[]) => (args[args.length - 1] as (e: Error) => void)(Object.assign(new Error('ENOSPC (injected)'), { code: 'ENOSPC' }))) as typeof fs.write);
    const r = await install(base(), { env: { AGENTD_INSTALL_TOKEN: MIT } });
    vi.restoreAllMocks();
    expect(r.code).toBe(EXIT.CANTCREAT);
    expect(r.stderr).toMatch(/no space left on the device/);
    expect(r.stderr).not.toMatch(/install token has been used/);
    expect(requests).toHaveLength(0);
  });
});

describe('stray arguments', () => {
  it('a positional token is refused without being echoed', async () => {
    const r = await install([...base(), MIT]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/unexpected argument/);
    expectNoToken(r);
    expect(requests).toHaveLength(0);
  });
});
