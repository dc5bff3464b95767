// The real one-liner against the real reference platform on loopback:
//   curl -fsSL <platform>/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh -s -- --mode user …
// with a temporary HOME. There is no per-user systemd on this machine, so the one-liner
// forwards --no-service and the test starts the installed `agentd run` itself (the real
// service path is covered under a real systemd in test/service/). Then `agentd status`
// and `agentd uninstall` run from the installed copy.
//
// The artifact is built with the host's node (--node host: no 45 MB runtime download
// per test run); everything else is what a user gets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AGENTD_NODE, ROOT } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { runnerEnv } from '../helpers/env.js';

const INSTALL_SH = join(ROOT, 'scripts', 'install.sh');
const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;
const hasDash = spawnSync('dash', ['-c', 'true']).status === 0;
const hasCurl = spawnSync('curl', ['--version']).status === 0;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a shell pipeline; the token travels only in the environment (TOKEN), never in argv. */
function sh(shell: string, script: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(shell, ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

function cleanEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = runnerEnv(Object.keys(process.env).filter((k) => k.startsWith('XDG_')));
  // The host-node artifact runs the `node` on PATH: make that the Node under test
  // (CI's second pass sets AGENTD_TEST_NODE to Node 24, the runtime agentd ships).
  return { ...env, PATH: `${dirname(AGENTD_NODE)}:${env.PATH ?? ''}`, HOME: home, ...extra };
}

/** Runs the installed agentd without blocking the event loop (a daemon child must be reaped meanwhile). */
function agentd(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run & { status: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, status: code, stdout, stderr }));
  });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('install.sh is POSIX sh', () => {
  it.skipIf(!hasShellcheck)('passes shellcheck (as sh)', () => {
    const r = spawnSync('shellcheck', ['-s', 'sh', INSTALL_SH], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
  it.skipIf(!hasDash)('parses under dash and bash', () => {
    for (const shell of ['dash', 'bash']) expect(spawnSync(shell, ['-n', INSTALL_SH]).status).toBe(0);
  });

  // curl | sh runs what has arrived so far: a download cut at any line (or inside the
  // last one) must run nothing: no download, no file, no `agentd install` without the
  // person's arguments. A fake curl/wget on PATH records any call.
  it.skipIf(!hasDash)('a download cut short at any line, or inside the last one, runs nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-installsh-cut-'));
    try {
      const fakeBin = join(dir, 'bin');
      mkdirSync(fakeBin);
      const calls = join(dir, 'calls');
      for (const tool of ['curl', 'wget']) {
        writeFileSync(join(fakeBin, tool), `#!/bin/sh\necho ${tool} "$@" >> '${calls}'\nexit 1\n`, { mode: 0o755 });
      }
      const full = readFileSync(INSTALL_SH);
      const cuts = new Set<number>();
      for (let i = 0; i < full.length; i++) if (full[i] === 0x0a) cuts.add(i + 1);
      const lastLine = full.lastIndexOf(0x0a, full.length - 2) + 1;
      for (let i = lastLine; i < full.length - 1; i++) cuts.add(i);
      cuts.delete(full.length);
      const home = join(dir, 'home');
      mkdirSync(home);
      const env = { PATH: `${fakeBin}:/usr/bin:/bin`, HOME: home, AGENTD_INSTALL_TOKEN: 'mit_' + '0'.repeat(40), AGENTD_PLATFORM_URL: 'http://127.0.0.1:9', AGENTD_INSTALL_DIR: join(dir, 'lib'), AGENTD_BIN_DIR: join(dir, 'lbin') };
      const ran: string[] = [];
      for (const cut of [...cuts].sort((a, b) => a - b)) {
        for (const shell of ['dash', 'bash']) {
          const r = spawnSync(shell, ['-s', '--', '--mode', 'user', '--name', 'cut-test'], { input: full.subarray(0, cut), env, encoding: 'utf8' });
          if (existsSync(calls) || existsSync(join(dir, 'lib')) || existsSync(join(dir, 'lbin')) || /agentd-install:/.test(r.stderr)) {
            ran.push(`${shell}@${cut}`);
            rmSync(calls, { force: true });
            rmSync(join(dir, 'lib'), { recursive: true, force: true });
            rmSync(join(dir, 'lbin'), { recursive: true, force: true });
          }
        }
      }
      expect(ran, `cut at these byte offsets ran part of the script: ${ran.join(', ')}`).toEqual([]);
      // The whole script does run (the harness above would notice it): it reaches the download.
      const whole = spawnSync('dash', ['-s', '--', '--mode', 'user'], { input: full, env, encoding: 'utf8' });
      expect(whole.stderr).toMatch(/downloading from http:\/\/127\.0\.0\.1:9/);
      expect(readFileSync(calls, 'utf8')).toMatch(/^curl .*manifest\.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // ~580 shell runs: 8 s on a quiet machine, 32 s at load 14; the default 30 s is not a bound for it.
  }, 180_000);
});

describe.skipIf(!hasCurl)('the one-liner against the reference platform', () => {
  let platform: TestPlatform;
  let work: string;
  let artifacts: string;
  const procs: ChildProcess[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'agentd-installsh-'));
    artifacts = join(work, 'artifacts');
    const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-artifact.mjs'), '--no-build', '--node', 'host', '--out', artifacts], { encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build-artifact failed: ${b.stderr}`);
    platform = await startPlatform({ args: ['--artifacts', artifacts] });
  });
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await platform?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const oneLiner = (args: string) => `curl -fsSL "$URL/install.sh" | AGENTD_INSTALL_TOKEN="$TOKEN" sh -s -- ${args}`;

  it('installs, enrols, runs ready; status says ready; uninstall removes credential and deregisters', async () => {
    const home = join(work, 'home1');
    const { token } = await platform.admin.createInstallToken(platform.workspaceId);
    const env = cleanEnv(home, { URL: platform.url, TOKEN: token });
    const r = await sh('sh', oneLiner('--mode user --no-service --name e2e-oneliner'), env);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toMatch(/verified agentd-.*-linux-x64\.tar\.gz \(sha256 [0-9a-f]{64}\)/);
    expect(r.stdout).toMatch(/Enrolled this machine as "e2e-oneliner"/);
    expect(r.stdout + r.stderr).not.toContain(token);

    const bin = join(home, '.local', 'bin', 'agentd');
    expect(lstatSync(bin).isSymbolicLink()).toBe(true);
    expect(readlinkSync(bin)).toBe(join(home, '.local', 'lib', 'agentd', 'current', 'bin', 'agentd'));
    const cred = join(home, '.config', 'agentd', 'credentials.json');
    expect(lstatSync(cred).mode & 0o777).toBe(0o600);

    // Start the installed daemon the way the service would (no per-user systemd here).
    const runEnv = cleanEnv(home, { AGENTD_HEALTH_ADDR: '127.0.0.1:0', AGENTD_HEARTBEAT_INTERVAL: '1s' });
    const daemon = spawn(bin, ['run', '--mode', 'user'], { env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(daemon);
    let daemonOut = '';
    daemon.stdout!.on('data', (d: Buffer) => (daemonOut += d.toString()));
    daemon.stderr!.on('data', (d: Buffer) => (daemonOut += d.toString()));
    const exited = new Promise<number | null>((res) => daemon.on('exit', (code) => res(code)));

    const runtimeFile = join(home, '.local', 'state', 'agentd', 'daemon.json');
    const healthUrl = await waitFor('daemon.json', () => (existsSync(runtimeFile) ? (JSON.parse(readFileSync(runtimeFile, 'utf8')) as { health_url: string }).health_url : undefined));
    await waitFor('/readyz 200', async () => ((await fetch(`${healthUrl}/readyz`).catch(() => null))?.status === 200 ? true : undefined)).catch((e: Error) => {
      throw new Error(`${e.message}\n${daemonOut}`);
    });

    // agentd status from the installed copy: ready, exit 0, JSON for scripts.
    const st = await agentd(bin, ['status', '--json'], runEnv);
    expect(st.status, st.stderr).toBe(0);
    const doc = JSON.parse(st.stdout) as { ready: boolean; running: boolean; daemon: { state: string; device_name: string } };
    expect(doc).toMatchObject({ ready: true, running: true, daemon: { state: 'ready', device_name: 'e2e-oneliner' } });
    const human = await agentd(bin, ['status'], runEnv);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/^agentd ready as "e2e-oneliner"/);
    expect(human.stdout).toMatch(/heartbeat\s+last ok \d+s ago/);
    expect(human.stdout).not.toMatch(/\x1b\[/); // no colours when not a TTY

    const daemonsBefore = await platform.admin.listDaemons(platform.workspaceId);
    const daemonId = (JSON.parse(readFileSync(join(home, '.config', 'agentd', 'config.json'), 'utf8')) as { daemon_id: string }).daemon_id;
    expect(daemonsBefore.find((d) => d.daemon_id === daemonId)?.deregistered).toBeFalsy();

    // Uninstall: stops the daemon, deregisters, removes credential + config, keeps state.
    const un = await agentd(bin, ['uninstall', '--mode', 'user'], runEnv);
    expect(un.status, un.stderr + un.stdout).toBe(0);
    expect(await exited).toBe(0);
    expect(existsSync(cred)).toBe(false);
    expect(existsSync(join(home, '.config', 'agentd', 'config.json'))).toBe(false);
    expect(existsSync(join(home, '.config', 'systemd', 'user', 'agentd.service'))).toBe(false);
    expect(existsSync(join(home, '.local', 'state', 'agentd'))).toBe(true);
    expect(un.stdout).toContain(`removed  ${cred}`);
    const after = (await platform.admin.listDaemons(platform.workspaceId)).find((d) => d.daemon_id === daemonId);
    expect(after?.deregistered).toBe(true);
    expect(after?.online).toBe(false);

    // And status now says: not installed, with the install command (exit 3).
    const st2 = await agentd(bin, ['status'], runEnv);
    expect(st2.status).toBe(3);
    expect(st2.stderr).toMatch(/agentd is not installed on this machine/);
    expect(st2.stderr).toContain('/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh');
  });

  it.skipIf(!hasDash)('re-running upgrades in place (new current, previous kept) under dash and bash', async () => {
    const home = join(work, 'home2');
    const lib = join(home, '.local', 'lib', 'agentd');
    const env = cleanEnv(home, { URL: platform.url, AGENTD_SKIP_ENROL: '1' });
    const script = `curl -fsSL "$URL/install.sh" | sh -s -- --mode user`;
    const r1 = await sh('dash', script, env);
    expect(r1.code, r1.stderr).toBe(0);
    const first = readlinkSync(join(lib, 'current'));
    await new Promise((r) => setTimeout(r, 1100)); // directory names carry the second
    const r2 = await sh('bash', script, env);
    expect(r2.code, r2.stderr).toBe(0);
    const second = readlinkSync(join(lib, 'current'));
    expect(second).not.toBe(first);
    expect(readdirSync(lib).sort()).toEqual([first, second, 'current'].sort());
    const v = spawnSync(join(home, '.local', 'bin', 'agentd'), ['--version'], { encoding: 'utf8', env: cleanEnv(home) });
    expect(v.stdout).toMatch(/^agentd \d+\.\d+\.\d+/);
  });

  it('AGENTD_INSTALL_DIR=$HOME/.local: upgrades remove only builds install.sh put there, never other folders', async () => {
    const home = join(work, 'home-dotlocal');
    const local = join(home, '.local');
    const foreign = ['share/applications/x.desktop', 'lib/python3/site.py', 'state/app/db', 'bin/other-tool', '0.0.1/not-ours'];
    for (const f of foreign) {
      mkdirSync(dirname(join(local, f)), { recursive: true });
      writeFileSync(join(local, f), 'not agentd\n');
    }
    const env = cleanEnv(home, { URL: platform.url, AGENTD_SKIP_ENROL: '1', AGENTD_INSTALL_DIR: local, AGENTD_BIN_DIR: join(local, 'bin') });
    const script = `curl -fsSL "$URL/install.sh" | sh -s -- --mode user`;
    const builds: string[] = [];
    for (const shell of ['dash', 'bash', 'dash']) {
      const r = await sh(shell, script, env);
      expect(r.code, r.stderr).toBe(0);
      builds.push(readlinkSync(join(local, 'current')));
    }
    for (const f of foreign) expect(readFileSync(join(local, f), 'utf8'), f).toBe('not agentd\n');
    // The first build went (two upgrades ago); the previous one stays for a running daemon.
    expect(new Set(builds).size).toBe(3);
    expect(existsSync(join(local, builds[0]!))).toBe(false);
    expect(existsSync(join(local, builds[1]!, 'bin', 'agentd'))).toBe(true);
    expect(readdirSync(local).sort()).toEqual(['0.0.1', 'bin', builds[1]!, builds[2]!, 'current', 'lib', 'share', 'state'].sort());
    const v = spawnSync(join(local, 'bin', 'agentd'), ['--version'], { encoding: 'utf8', env: cleanEnv(home) });
    expect(v.stdout).toMatch(/^agentd \d+\.\d+\.\d+/);
  });

  it('a tampered download is refused with "checksum mismatch" and installs nothing', async () => {
    const bad = join(work, 'bad-artifacts');
    spawnSync('mkdir', ['-p', bad]);
    const manifest = readFileSync(join(artifacts, 'manifest.json'), 'utf8');
    const file = /"file":"([^"]+)"/.exec(manifest)![1];
    writeFileSync(join(bad, 'manifest.json'), manifest);
    copyFileSync(join(artifacts, file), join(bad, file));
    writeFileSync(join(bad, file), Buffer.concat([readFileSync(join(bad, file)), Buffer.from('tampered')]));
    const p2 = await startPlatform({ args: ['--artifacts', bad] });
    try {
      const home = join(work, 'home3');
      const r = await sh('sh', `curl -fsSL "$URL/install.sh" | AGENTD_INSTALL_TOKEN="$TOKEN" sh -s -- --mode user`, cleanEnv(home, { URL: p2.url, TOKEN: 'mit_' + '0'.repeat(40) }));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/checksum mismatch for agentd-.*\.tar\.gz/);
      expect(existsSync(join(home, '.local', 'lib', 'agentd', 'current'))).toBe(false);
      expect(existsSync(join(home, '.local', 'bin', 'agentd'))).toBe(false);
    } finally {
      await p2.stop();
    }
  });

  it('clear errors: no platform URL, unsupported mode, system install without root', async () => {
    const home = join(work, 'home4');
    const noToken = await sh('sh', `curl -fsSL "$URL/install.sh" | sh`, cleanEnv(home, { URL: platform.url }));
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/AGENTD_INSTALL_TOKEN is not set/);
    expect(noToken.stderr).not.toMatch(/downloading/); // said before any download
    const tok = { AGENTD_INSTALL_TOKEN: 'mit_' + '0'.repeat(40) };
    const noUrl = await sh('sh', `sh ${JSON.stringify(INSTALL_SH)}`, cleanEnv(home, tok));
    expect(noUrl.code).toBe(1);
    expect(noUrl.stderr).toMatch(/no platform URL/);
    const badMode = await sh('sh', `AGENTD_PLATFORM_URL="$URL" sh ${JSON.stringify(INSTALL_SH)} --mode weird`, cleanEnv(home, { URL: platform.url, ...tok }));
    expect(badMode.stderr).toMatch(/--mode must be system or user/);
    // A non-root system install: run as nobody when we are root (CI), else as ourselves.
    const asNobody = process.getuid?.() === 0 ? 'setpriv --reuid=65534 --regid=65534 --clear-groups ' : '';
    const sys = await sh('sh', `${asNobody}env HOME=/nonexistent AGENTD_PLATFORM_URL="$URL" sh ${JSON.stringify(INSTALL_SH)} --mode system`, cleanEnv(home, { URL: platform.url, ...tok }));
    expect(sys.code).toBe(1);
    expect(sys.stderr).toMatch(/no permission to write \/usr\/local\/lib\/agentd/);
    expect(sys.stderr).toMatch(/sudo/);
    expect(sys.stderr).toMatch(/--mode user/);
    expect(dirname(INSTALL_SH)).toBe(join(ROOT, 'scripts'));
  });
});
