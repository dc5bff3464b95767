// store/: paths, modes whatever the umask, refusal of insecure / invalid / non-regular
// files, failures that leave the previous file intact, the lock and the daemon id.
// Real files in temp dirs; faults injected on the fs module write-file-atomic calls.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fs, { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePaths, type AgentdPaths } from '../../store/paths.js';
import { ensureDir, writeFileAtomic } from '../../store/atomic.js';
import { readConfig, writeConfig, type AgentConfig } from '../../store/config.js';
import { readCredentials, writeCredentials, type Credentials } from '../../store/credentials.js';
import { probeWritable, writeEnrolment } from '../../store/enrolment.js';
import { claimDir, claimFile } from '../../store/ownership.js';
import { acquireStateLock } from '../../store/lock.js';
import { loadOrCreateDaemonId } from '../../store/daemon-id.js';
import { ConfigFileInvalid, CredentialFileInvalid, DiskFull, InsecureCredentialFile, LockHeld, NotRegularFile, NotWritable, UntrustedOwner } from '../../store/errors.js';

const TOKEN = 'mdt_' + 'c'.repeat(40);
const TOKEN2 = 'mdt_' + 'd'.repeat(40);
const creds = (token = TOKEN): Credentials => ({ token, daemon_id: 'd1', workspace_id: 'w1', issued_at: '2026-01-01T00:00:00Z' });
const config = (name = 'box'): AgentConfig => ({ platform_url: 'http://127.0.0.1:1', workspace_id: 'w1', daemon_id: 'd1', device_name: name, mode: 'user' });
const mode = (p: string): number => statSync(p).mode & 0o7777;

let dir: string;
let paths: AgentdPaths;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentd-store-'));
  paths = resolvePaths({ configDir: join(dir, 'etc'), stateDir: join(dir, 'state'), env: {} });
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

describe('resolvePaths', () => {
  it('system mode on Linux: /etc/agentd and /var/lib/agentd', () => {
    const p = resolvePaths({ env: {}, platform: 'linux', uid: 0 });
    expect(p).toMatchObject({ mode: 'system', configDir: '/etc/agentd', stateDir: '/var/lib/agentd', credentialsFile: '/etc/agentd/credentials.json', logDir: null });
    expect(p.journalDir).toBe('/var/lib/agentd/journal');
    expect(p.workRoot).toBe('/var/lib/agentd/work');
    expect(p.runtimeFile).toBe('/var/lib/agentd/daemon.json');
  });
  it('AGENTD_TEST_SYSTEM_ROOT moves only the system defaults (tests keep off the real /etc and /var)', () => {
    const env = { AGENTD_TEST_SYSTEM_ROOT: '/priv' };
    expect(resolvePaths({ env, platform: 'linux', uid: 0 })).toMatchObject({ configDir: '/priv/etc/agentd', stateDir: '/priv/var/lib/agentd' });
    expect(resolvePaths({ env, platform: 'linux', uid: 1000, homedir: '/home/u' }).configDir).toBe('/home/u/.config/agentd');
    expect(resolvePaths({ env, platform: 'linux', mode: 'system', configDir: '/c' }).configDir).toBe('/c');
    // Every test file has it set, to a private directory of its own (test/setup/system-root.ts).
    expect(process.env.AGENTD_TEST_SYSTEM_ROOT).toMatch(/agentd-sysroot-/);
    expect(resolvePaths({ mode: 'system', platform: 'linux' }).configDir.startsWith(process.env.AGENTD_TEST_SYSTEM_ROOT!)).toBe(true);
  });
  it('user mode on Linux follows XDG, with the ~/.config and ~/.local/state fallbacks', () => {
    expect(resolvePaths({ env: {}, platform: 'linux', uid: 1000, homedir: '/home/u' })).toMatchObject({ mode: 'user', configDir: '/home/u/.config/agentd', stateDir: '/home/u/.local/state/agentd' });
    expect(resolvePaths({ env: { XDG_CONFIG_HOME: '/x/c', XDG_STATE_HOME: '/x/s' }, platform: 'linux', uid: 1000, homedir: '/home/u' })).toMatchObject({ configDir: '/x/c/agentd', stateDir: '/x/s/agentd' });
    // relative XDG values are invalid per the spec
    expect(resolvePaths({ env: { XDG_CONFIG_HOME: 'rel' }, platform: 'linux', uid: 1000, homedir: '/home/u' }).configDir).toBe('/home/u/.config/agentd');
  });
  it('macOS: Application Support, logs in ~/Library/Logs', () => {
    expect(resolvePaths({ env: {}, platform: 'darwin', uid: 501, homedir: '/Users/u' })).toMatchObject({
      mode: 'user',
      configDir: '/Users/u/Library/Application Support/agentd',
      stateDir: '/Users/u/Library/Application Support/agentd/state',
      logDir: '/Users/u/Library/Logs/agentd',
    });
  });
  it('precedence: option > AGENTD_*_DIR > mode default; AGENTD_MODE picks the mode', () => {
    const env = { AGENTD_CONFIG_DIR: '/env/c', AGENTD_STATE_DIR: '/env/s', AGENTD_MODE: 'user' };
    expect(resolvePaths({ env, platform: 'linux', uid: 0 })).toMatchObject({ mode: 'user', configDir: '/env/c', stateDir: '/env/s' });
    expect(resolvePaths({ env, platform: 'linux', uid: 0, configDir: '/opt/c', mode: 'system' })).toMatchObject({ mode: 'system', configDir: '/opt/c', stateDir: '/env/s' });
  });
});

describe('modes whatever the umask', () => {
  it.each([0o022, 0o077, 0o000, 0o277])('umask %o: dir 0700, credential 0600', async (umask) => {
    const old = process.umask(umask);
    try {
      await writeCredentials(paths.credentialsFile, creds());
      await writeConfig(paths, config());
      await loadOrCreateDaemonId(paths);
    } finally {
      process.umask(old);
    }
    expect(mode(paths.configDir)).toBe(0o700);
    expect(mode(paths.credentialsFile)).toBe(0o600);
    expect(mode(paths.configFile)).toBe(0o600);
    expect(mode(paths.stateDir)).toBe(0o700);
    expect(await readCredentials(paths.credentialsFile)).toEqual(creds());
  });

  it('tightens an existing 0755 directory and a 0644 credential on write', async () => {
    mkdirSync(paths.configDir, { mode: 0o755 });
    chmodSync(paths.configDir, 0o755);
    writeFileSync(paths.credentialsFile, JSON.stringify(creds()), { mode: 0o644 });
    chmodSync(paths.credentialsFile, 0o644);
    await writeCredentials(paths.credentialsFile, creds());
    expect(mode(paths.configDir)).toBe(0o700);
    expect(mode(paths.credentialsFile)).toBe(0o600);
  });

  it('skips a write of unchanged content (same inode), rewrites a changed one', async () => {
    await writeCredentials(paths.credentialsFile, creds());
    const ino = statSync(paths.credentialsFile).ino;
    await writeCredentials(paths.credentialsFile, creds());
    expect(statSync(paths.credentialsFile).ino).toBe(ino);
    await writeCredentials(paths.credentialsFile, creds(TOKEN2));
    expect(statSync(paths.credentialsFile).ino).not.toBe(ino);
    expect((await readCredentials(paths.credentialsFile))?.token).toBe(TOKEN2);
  });
});

describe('reading credentials', () => {
  it('missing or empty → null', async () => {
    expect(await readCredentials(paths.credentialsFile)).toBeNull();
    mkdirSync(paths.configDir);
    writeFileSync(paths.credentialsFile, '  \n', { mode: 0o600 });
    expect(await readCredentials(paths.credentialsFile)).toBeNull();
  });

  it.each([0o640, 0o604, 0o660, 0o644, 0o620])('mode %o is refused with the chmod to run', async (m) => {
    await writeCredentials(paths.credentialsFile, creds());
    chmodSync(paths.credentialsFile, m);
    const err = await readCredentials(paths.credentialsFile).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsecureCredentialFile);
    expect((err as InsecureCredentialFile).hint).toBe(`Run: chmod 600 ${paths.credentialsFile}`);
    expect((err as Error).message).not.toContain(TOKEN);
  });

  it('quotes a path with spaces in the chmod hint', async () => {
    const file = join(dir, 'my conf', 'credentials.json');
    await writeCredentials(file, creds());
    chmodSync(file, 0o644);
    const err = (await readCredentials(file).catch((e: unknown) => e)) as InsecureCredentialFile;
    expect(err.hint).toBe(`Run: chmod 600 '${file}'`);
  });

  it.each([
    ['broken JSON that contains the token', `{"token": "${TOKEN}", `],
    ['a malformed token', JSON.stringify({ ...creds(), token: 'mdt_short' })],
    ['an install token', JSON.stringify({ ...creds(), token: 'mit_' + 'c'.repeat(40) })],
    ['a missing daemon_id', JSON.stringify({ ...creds(), daemon_id: undefined })],
    ['an array', '[]'],
  ])('%s → CredentialFileInvalid that never quotes the token', async (_what, text) => {
    mkdirSync(paths.configDir, { mode: 0o700 });
    writeFileSync(paths.credentialsFile, text, { mode: 0o600 });
    const err = await readCredentials(paths.credentialsFile).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialFileInvalid);
    expect(`${(err as Error).message} ${(err as CredentialFileInvalid).hint}`).not.toContain('c'.repeat(40));
    expect((err as CredentialFileInvalid).hint).toMatch(/agentd credentials set|agentd install --force/);
  });

  it('config: invalid JSON or fields → ConfigFileInvalid naming the file', async () => {
    mkdirSync(paths.configDir, { mode: 0o700 });
    writeFileSync(paths.configFile, '{nope');
    await expect(readConfig(paths)).rejects.toBeInstanceOf(ConfigFileInvalid);
    writeFileSync(paths.configFile, JSON.stringify({ ...config(), mode: 'both' }));
    await expect(readConfig(paths)).rejects.toThrow(/"mode"/);
    writeFileSync(paths.configFile, JSON.stringify({ ...config(), platform_url: 'ftp://x' }));
    await expect(readConfig(paths)).rejects.toThrow(paths.configFile);
    expect(await readConfig(resolvePaths({ configDir: join(dir, 'none'), stateDir: dir, env: {} }))).toBeNull();
  });
});

describe('non-regular targets are refused', () => {
  it('a directory', async () => {
    mkdirSync(join(dir, 'target'));
    await expect(writeFileAtomic(join(dir, 'target'), 'x', { mode: 0o600 })).rejects.toBeInstanceOf(NotRegularFile);
    await expect(readCredentials(join(dir, 'target'))).rejects.toBeInstanceOf(NotRegularFile);
  });

  it('a unix socket', async () => {
    const sock = join(dir, 'sock');
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      await expect(writeFileAtomic(sock, 'x', { mode: 0o600 })).rejects.toBeInstanceOf(NotRegularFile);
      expect(statSync(sock).isSocket()).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a FIFO (write refused; read does not block)', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(writeFileAtomic(fifo, 'x', { mode: 0o600 })).rejects.toBeInstanceOf(NotRegularFile);
    // a plain open() of a FIFO would wait for a writer forever
    await expect(readCredentials(fifo)).rejects.toBeInstanceOf(NotRegularFile);
  });

  // A link planted where agentd writes (root into a dir another user could write) would
  // turn the write into one on any file it names: refused, the target untouched.
  it('a symlink is never written through, nor read through', async () => {
    const real = join(dir, 'real.json');
    writeFileSync(real, 'old');
    fs.symlinkSync(real, join(dir, 'link.json'));
    await expect(writeFileAtomic(join(dir, 'link.json'), 'new', { mode: 0o600 })).rejects.toBeInstanceOf(UntrustedOwner);
    expect(readFileSync(real, 'utf8')).toBe('old');
    await writeCredentials(paths.credentialsFile, creds());
    fs.renameSync(paths.credentialsFile, join(dir, 'elsewhere.json'));
    fs.symlinkSync(join(dir, 'elsewhere.json'), paths.credentialsFile);
    await expect(readCredentials(paths.credentialsFile)).rejects.toBeInstanceOf(UntrustedOwner);
    await expect(writeCredentials(paths.credentialsFile, creds(TOKEN2))).rejects.toBeInstanceOf(UntrustedOwner);
  });
});

describe('failures leave the previous file intact', () => {
  it('a rename that fails (crash between temp write and rename) keeps the old credential, no temp left', async () => {
    await writeCredentials(paths.credentialsFile, creds());
    const before = readFileSync(paths.credentialsFile);
    vi.spyOn(fs, 'rename').mockImplementation(((_a: unknown, _b: unknown, cb: (e: Error) => void) => cb(Object.assign(new Error('EIO (injected)'), { code: 'EIO' }))) as typeof fs.rename);
    await expect(writeCredentials(paths.credentialsFile, creds(TOKEN2))).rejects.toThrow(/EIO/);
    vi.restoreAllMocks();
    expect(readFileSync(paths.credentialsFile)).toEqual(before);
    expect(readdirSync(paths.configDir)).toEqual(['credentials.json']);
  });

  it('ENOSPC while writing → DiskFull naming the path; the old file is intact', async () => {
    await writeCredentials(paths.credentialsFile, creds());
    const before = readFileSync(paths.credentialsFile);
    vi.spyOn(fs, 'write').mockImplementation(((...args: unknown[]) => (args[args.length - 1] as (e: Error) => void)(Object.assign(new Error('ENOSPC (injected)'), { code: 'ENOSPC' }))) as typeof fs.write);
    const err = await writeCredentials(paths.credentialsFile, creds(TOKEN2)).catch((e: unknown) => e);
    vi.restoreAllMocks();
    expect(err).toBeInstanceOf(DiskFull);
    expect((err as DiskFull).path).toBe(paths.credentialsFile);
    expect(readFileSync(paths.credentialsFile)).toEqual(before);
    expect(readdirSync(paths.configDir)).toEqual(['credentials.json']);
  });

  it('writeEnrolment: a failure while staging leaves the old config and credential, and no staging files', async () => {
    await writeEnrolment(paths, config('old'), creds());
    const oldCreds = readFileSync(paths.credentialsFile);
    const oldConfig = readFileSync(paths.configFile);
    // fail the second staged write (the config), after the credential was staged
    let opens = 0;
    const realOpen = fs.open;
    vi.spyOn(fs, 'open').mockImplementation(((...args: unknown[]) => {
      if (String(args[0]).includes('.staging-') && String(args[0]).includes('config.json') && ++opens >= 1) {
        return (args[args.length - 1] as (e: Error) => void)(Object.assign(new Error('ENOSPC (injected)'), { code: 'ENOSPC' }));
      }
      return (realOpen as (...a: unknown[]) => void)(...args);
    }) as typeof fs.open);
    await expect(writeEnrolment(paths, config('new'), creds(TOKEN2))).rejects.toBeInstanceOf(DiskFull);
    vi.restoreAllMocks();
    expect(readFileSync(paths.credentialsFile)).toEqual(oldCreds);
    expect(readFileSync(paths.configFile)).toEqual(oldConfig);
    expect(readdirSync(paths.configDir).sort()).toEqual(['config.json', 'credentials.json']);
  });

  it('writeEnrolment writes both files with their modes', async () => {
    await writeEnrolment(paths, config(), creds());
    expect(await readConfig(paths)).toEqual(config());
    expect(await readCredentials(paths.credentialsFile)).toEqual(creds());
    expect(mode(paths.credentialsFile)).toBe(0o600);
  });

  it('a directory that cannot be created → NotWritable, without hanging (Node mkdir -p bug under /proc)', async () => {
    await expect(ensureDir('/proc/agentd-test/x', 0o700)).rejects.toBeInstanceOf(NotWritable);
  });

  it('a regular file where a directory should be → NotRegularFile', async () => {
    writeFileSync(join(dir, 'file'), '');
    await expect(ensureDir(join(dir, 'file', 'sub'), 0o700)).rejects.toBeInstanceOf(NotRegularFile);
  });

  it('concurrent writers in one process leave one complete document', async () => {
    const file = join(dir, 'c.json');
    const docs = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i, pad: 'y'.repeat(10_000 + i) }));
    await Promise.all(docs.map((d) => writeFileAtomic(file, d, { mode: 0o600 })));
    expect(docs).toContain(readFileSync(file, 'utf8'));
    expect(readdirSync(dir)).toEqual(['c.json']);
  });
});

describe('state lock', () => {
  it('one holder; a second acquire gets LockHeld with the pid; release frees it', async () => {
    const lock = await acquireStateLock(paths.stateDir);
    expect(readFileSync(paths.lockFile, 'utf8').trim()).toBe(String(process.pid));
    const err = await acquireStateLock(paths.stateDir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeld);
    expect((err as LockHeld).pid).toBe(process.pid);
    await lock.release();
    expect(existsSync(paths.lockFile)).toBe(false);
    const again = await acquireStateLock(paths.stateDir);
    await again.release();
  });

  it('concurrent acquires in one process: exactly one wins', async () => {
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => acquireStateLock(paths.stateDir)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'fulfilled') await r.value.release();
  });

  it('a live pid in the lock file → LockHeld; once it is dead the lock is taken over', async () => {
    const child = spawn('sleep', ['30']);
    try {
      mkdirSync(paths.stateDir, { recursive: true });
      writeFileSync(paths.lockFile, `${child.pid}\n`);
      const err = await acquireStateLock(paths.stateDir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LockHeld);
      expect((err as LockHeld).pid).toBe(child.pid);
      expect((err as LockHeld).hint).toContain(`kill ${child.pid}`);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const lock = await acquireStateLock(paths.stateDir);
    expect(readFileSync(paths.lockFile, 'utf8').trim()).toBe(String(process.pid));
    await lock.release();
  });

  it('garbage in the lock file is stale', async () => {
    mkdirSync(paths.stateDir, { recursive: true });
    writeFileSync(paths.lockFile, 'not a pid');
    const lock = await acquireStateLock(paths.stateDir);
    await lock.release();
    expect(readdirSync(paths.stateDir)).toEqual([]);
  });

  it('release does not remove a lock that another process took over', async () => {
    const lock = await acquireStateLock(paths.stateDir);
    rmSync(paths.lockFile);
    writeFileSync(paths.lockFile, '1\n');
    await lock.release();
    expect(readFileSync(paths.lockFile, 'utf8')).toBe('1\n');
  });
});

describe('daemon id', () => {
  it('is persisted and stable; reinstalling (same state dir) keeps it', async () => {
    const id = await loadOrCreateDaemonId(paths);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await loadOrCreateDaemonId(paths)).toBe(id);
    expect(readFileSync(paths.daemonIdFile, 'utf8').trim()).toBe(id);
  });

  it('derived from the machine id and the state dir: same machine + dir → same id even if the file is lost', async () => {
    const mid = join(dir, 'machine-id');
    writeFileSync(mid, '0123456789abcdef0123456789abcdef\n');
    const a = await loadOrCreateDaemonId(paths, { machineIdFiles: [mid] });
    rmSync(paths.daemonIdFile);
    expect(await loadOrCreateDaemonId(paths, { machineIdFiles: [mid] })).toBe(a);
    const other = resolvePaths({ configDir: paths.configDir, stateDir: join(dir, 'state2'), env: {} });
    expect(await loadOrCreateDaemonId(other, { machineIdFiles: [mid] })).not.toBe(a);
  });

  it('without a machine id: random, then persisted', async () => {
    const a = await loadOrCreateDaemonId(paths, { machineIdFiles: [join(dir, 'missing')] });
    rmSync(paths.daemonIdFile);
    const b = await loadOrCreateDaemonId(paths, { machineIdFiles: [join(dir, 'missing')] });
    expect(a).not.toBe(b);
    expect(await loadOrCreateDaemonId(paths, { machineIdFiles: [join(dir, 'missing')] })).toBe(b);
  });
});

describe('ownership on replace', () => {
  // The service user here is `nobody` (AGENTD_SERVICE_USER): the host has no `agentd`.
  const SVC = 65534;
  it.skipIf(process.getuid?.() !== 0)('writeEnrolment keeps the owner of replaced files (the service user owns them)', async () => {
    vi.stubEnv('AGENTD_SERVICE_USER', 'nobody');
    await writeEnrolment(paths, config('old'), creds());
    fs.chownSync(paths.credentialsFile, SVC, SVC);
    fs.chownSync(paths.configFile, SVC, SVC);
    await writeEnrolment(paths, config('new'), creds(TOKEN2));
    for (const f of [paths.credentialsFile, paths.configFile]) expect([statSync(f).uid, statSync(f).gid]).toEqual([SVC, SVC]);
    expect((await readCredentials(paths.credentialsFile))?.token).toBe(TOKEN2);
    vi.unstubAllEnvs();
  });

  it.skipIf(process.getuid?.() !== 0)('writeCredentials keeps the owner too', async () => {
    vi.stubEnv('AGENTD_SERVICE_USER', 'nobody');
    await writeCredentials(paths.credentialsFile, creds());
    fs.chownSync(paths.credentialsFile, SVC, SVC);
    await writeCredentials(paths.credentialsFile, creds(TOKEN2));
    expect(statSync(paths.credentialsFile).uid).toBe(SVC);
    vi.unstubAllEnvs();
  });

  // Root hands a path to a user on the inode it opened without following links: a link
  // swapped in for a directory or file is refused, and what it names keeps its owner.
  it.skipIf(process.getuid?.() !== 0)('claimDir / claimFile change the one path they are given, never through a link, never below it', async () => {
    const target = join(dir, 'root-owned');
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), 'x');
    fs.symlinkSync(target, join(dir, 'work'));
    await expect(claimDir(join(dir, 'work'), { uid: SVC, gid: SVC }, 0o700)).rejects.toBeInstanceOf(UntrustedOwner);
    fs.symlinkSync(join(target, 'inside'), join(dir, 'cred.json'));
    await expect(claimFile(join(dir, 'cred.json'), { uid: SVC, gid: SVC })).rejects.toBeInstanceOf(UntrustedOwner);
    expect(statSync(target).uid).toBe(0);
    expect(statSync(join(target, 'inside')).uid).toBe(0);
    // A real directory: it and only it changes owner and mode; its contents do not.
    await claimDir(target, { uid: SVC, gid: SVC }, 0o711);
    expect(statSync(target)).toMatchObject({ uid: SVC, gid: SVC });
    expect(statSync(target).mode & 0o7777).toBe(0o711);
    expect(statSync(join(target, 'inside')).uid).toBe(0);
  });

  // Another user's directory or file: they could swap what root writes through, or what
  // the daemon trusts (a config.json naming another platform URL gets the credential).
  it.skipIf(process.getuid?.() !== 0)('a config dir, config.json or credential owned by another user is refused, for reading and writing', async () => {
    await writeEnrolment(paths, config('old'), creds());
    fs.chownSync(paths.configFile, 4242, 4242);
    await expect(readConfig(paths)).rejects.toBeInstanceOf(UntrustedOwner);
    await expect(writeEnrolment(paths, config('new'), creds(TOKEN2))).rejects.toBeInstanceOf(UntrustedOwner);
    fs.chownSync(paths.configFile, 0, 0);
    fs.chownSync(paths.credentialsFile, 4242, 4242);
    await expect(readCredentials(paths.credentialsFile)).rejects.toBeInstanceOf(UntrustedOwner);
    fs.chownSync(paths.credentialsFile, 0, 0);
    fs.chownSync(paths.configDir, 4242, 4242);
    await expect(writeCredentials(paths.credentialsFile, creds(TOKEN2))).rejects.toBeInstanceOf(UntrustedOwner);
    await expect(probeWritable(paths.configDir)).rejects.toBeInstanceOf(UntrustedOwner);
    expect((await readCredentials(paths.credentialsFile))?.token).not.toBe(TOKEN2);
  });
});
