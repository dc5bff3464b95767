// `agentd credentials set|show` in-process: the new credential comes from stdin (bare or
// the rotate JSON), is checked against config.json, written 0600; show never prints it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { chmodSync, chownSync, existsSync, symlinkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { main } from '../../cli/main.js';
import { EXIT } from '../../core/exit-codes.js';

const MDT = 'mdt_' + '0a'.repeat(20);
const MDT_OLD = 'mdt_' + '1b'.repeat(20);
let dir: string;
let etc: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentd-creds-cli-'));
  etc = join(dir, 'etc');
  mkdirSync(etc, { mode: 0o700 });
  writeFileSync(join(etc, 'config.json'), JSON.stringify({ platform_url: 'http://127.0.0.1:1', workspace_id: 'ws1', daemon_id: 'd1', device_name: 'box', mode: 'user' }));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function credentials(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (f: (s: string) => void): Writable => new Writable({ write: (c: Buffer, _e, cb) => (f(c.toString()), cb()) });
  const code = await main(['credentials', ...args, '--config-dir', etc], {
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    stdin: stdin === undefined ? new PassThrough() : Readable.from([stdin]),
    env: { HOME: join(dir, 'home') },
  });
  return { code, stdout, stderr };
}

const credFile = (): string => join(etc, 'credentials.json');

describe('agentd credentials set', () => {
  it('a bare token from stdin → credentials.json 0600 with the ids from config', async () => {
    const r = await credentials(['set'], `${MDT}\n`);
    expect(r.code).toBe(EXIT.OK);
    expect(JSON.parse(readFileSync(credFile(), 'utf8'))).toMatchObject({ token: MDT, daemon_id: 'd1', workspace_id: 'ws1' });
    expect(statSync(credFile()).mode & 0o777).toBe(0o600);
    expect(r.stdout + r.stderr).not.toContain(MDT.slice(4));
  });

  // The service user is `nobody` here (AGENTD_SERVICE_USER; the host has no `agentd`).
  it.skipIf(process.getuid?.() !== 0)('as root: a new credential belongs to the config dir\'s owner (the service user); a replaced one keeps its owner', async () => {
    vi.stubEnv('AGENTD_SERVICE_USER', 'nobody');
    chownSync(etc, 65534, 65534);
    expect((await credentials(['set'], `${MDT}\n`)).code).toBe(EXIT.OK);
    expect(statSync(credFile())).toMatchObject({ uid: 65534, gid: 65534 });
    expect((await credentials(['set'], `${MDT_OLD}\n`)).code).toBe(EXIT.OK);
    expect(statSync(credFile())).toMatchObject({ uid: 65534, gid: 65534 });
    vi.unstubAllEnvs();
  });

  // A user who owns the config dir plants credentials.json -> a file of root's; root's
  // `credentials set` must not write through it (nor chown it to that user).
  it.skipIf(process.getuid?.() !== 0)('as root: a symlink planted in a config dir another user owns is refused, its target untouched', async () => {
    const target = join(dir, 'root-owned-file');
    writeFileSync(target, 'root secret\n', { mode: 0o600 });
    chownSync(join(etc, 'config.json'), 0, 0);
    symlinkSync(target, credFile());
    const planted = await credentials(['set'], `${MDT}\n`);
    expect(planted.code).toBe(EXIT.CONFIG);
    expect(planted.stderr).toMatch(/symbolic link/);
    expect(readFileSync(target, 'utf8')).toBe('root secret\n');
    expect(statSync(target)).toMatchObject({ uid: 0, mode: expect.any(Number) });
    rmSync(credFile());
    chownSync(etc, 4242, 4242); // a user that is neither root nor the service user
    const foreign = await credentials(['set'], `${MDT}\n`);
    expect(foreign.code).toBe(EXIT.CONFIG);
    expect(foreign.stderr).toMatch(/owned by uid 4242, not by root or the agentd service user/);
    expect(existsSync(credFile())).toBe(false);
  });

  it('the rotate JSON is accepted when it names this daemon, refused when it names another', async () => {
    expect((await credentials(['set'], JSON.stringify({ token: MDT, daemon_id: 'd1', workspace_id: 'ws1', platform_url: 'x' }))).code).toBe(EXIT.OK);
    const other = await credentials(['set'], JSON.stringify({ token: MDT_OLD, daemon_id: 'd2' }));
    expect(other.code).toBe(EXIT.USAGE);
    expect(other.stderr).toContain('daemon_id d2, but this machine is daemon_id d1');
    expect(JSON.parse(readFileSync(credFile(), 'utf8')).token).toBe(MDT);
  });

  it.each([
    ['', /the input is empty/],
    ['mit_' + 'a'.repeat(40), /install token/],
    ['mdt_short', /expected mdt_ followed by 40 lowercase hex digits/],
  ])('refuses %j without echoing it and keeps the old file', async (input, re) => {
    writeFileSync(credFile(), JSON.stringify({ token: MDT_OLD, daemon_id: 'd1', workspace_id: 'ws1', issued_at: 'x' }), { mode: 0o600 });
    const before = readFileSync(credFile());
    const r = await credentials(['set'], input);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(re);
    if (input.length > 4) expect(r.stderr).not.toContain(input.slice(4));
    expect(readFileSync(credFile())).toEqual(before);
  });

  it('not enrolled → says to run agentd install', async () => {
    rmSync(join(etc, 'config.json'));
    const r = await credentials(['set'], MDT);
    expect(r.code).toBe(EXIT.CONFIG);
    expect(r.stderr).toMatch(/not enrolled[\s\S]*agentd install --platform URL/);
  });

  it('a token as an argument is refused', async () => {
    const r = await credentials(['set', MDT]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).not.toContain(MDT.slice(8));
  });
});

describe('agentd credentials show', () => {
  it('prints the non-secret fields, never the token', async () => {
    await credentials(['set'], MDT);
    const r = await credentials(['show', '--json']);
    expect(r.code).toBe(EXIT.OK);
    expect(JSON.parse(r.stdout)).toMatchObject({ path: credFile(), mode: '0600', daemon_id: 'd1', workspace_id: 'ws1', token: 'mdt_… (hidden)' });
    const text = await credentials(['show']);
    expect(text.stdout).toContain('daemon_id    d1');
    expect(r.stdout + text.stdout).not.toContain(MDT.slice(4));
  });

  it('an insecure file → exit 78 with the chmod to run', async () => {
    await credentials(['set'], MDT);
    chmodSync(credFile(), 0o644);
    const r = await credentials(['show']);
    expect(r.code).toBe(EXIT.CONFIG);
    expect(r.stderr).toContain(`chmod 600 ${credFile()}`);
  });

  it('no credential → exit 78 saying how to get one', async () => {
    const r = await credentials(['show']);
    expect(r.code).toBe(EXIT.CONFIG);
    expect(r.stderr).toMatch(/no credential at/);
  });
});
