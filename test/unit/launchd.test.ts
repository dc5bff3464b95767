// launchd on Linux: the rendered plist parses (python3's plistlib: plutil is macOS
// only) and holds the right keys; the launchctl calls go to a fake, recording
// `launchctl` put first on PATH.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { LaunchdService, parseLaunchctlPrint } from '../../installer/launchd.js';
import { serviceManagerFor } from '../../installer/service-for.js';
import { resolvePaths } from '../../store/paths.js';
import { envWithoutSystemRoot } from '../helpers/env.js';

const hasPython = spawnSync('python3', ['-c', 'import plistlib']).status === 0;

/** The plist as JSON, via plistlib (a real parser: a malformed plist throws). */
function parsePlist(text: string): Record<string, unknown> {
  const r = spawnSync('python3', ['-c', 'import plistlib,sys,json; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`plist does not parse: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

let dir: string;
let log: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentd-launchd-'));
  log = join(dir, 'calls.log');
  // The fake records each call as one line of NUL-free, tab-separated args. `print`
  // answers like launchctl when FAKE_LOADED exists, else fails like an unknown service.
  writeFileSync(
    join(dir, 'launchctl'),
    `#!/bin/sh
(IFS='	'; printf '%s\\n' "$*") >> "${log}"
case "$1" in
  print) if [ -e "${dir}/loaded" ]; then printf '%s\\n' "io.agentd.agentd = {" "	state = running" "	pid = 4242" "	runs = 3" "	last exit code = 78: EX_CONFIG" "}"; exit 0; fi
         echo "Could not find service" >&2; exit 113;;
  bootstrap) touch "${dir}/loaded";;
  bootout) rm -f "${dir}/loaded";;
esac
exit 0
`,
  );
  chmodSync(join(dir, 'launchctl'), 0o755);
  env = { ...process.env, PATH: `${dir}:${process.env.PATH}`, HOME: join(dir, 'home') };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function calls(): string[][] {
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split('\t')) : [];
}

function agent(mode: 'user' | 'system' = 'user', uid = 501): LaunchdService {
  const home = join(dir, 'home');
  const paths = resolvePaths({ mode, platform: 'darwin', homedir: home, env: {}, uid });
  return serviceManagerFor({ mode, paths, platform: 'darwin', env, uid, homedir: home, agentdCommand: ['/usr/local/bin/agentd'] }) as LaunchdService;
}

describe.skipIf(!hasPython)('launchd plist', () => {
  it('LaunchAgent: label, argv, KeepAlive without successful exits, throttle, logs, exit timeout', () => {
    const s = agent('user');
    const p = parsePlist(s.render());
    const home = join(dir, 'home');
    expect(p.Label).toBe('io.agentd.agentd');
    expect(p.ProgramArguments).toEqual([
      '/usr/local/bin/agentd', 'run', '--mode', 'user',
      '--config-dir', join(home, 'Library/Application Support/agentd'),
      '--state-dir', join(home, 'Library/Application Support/agentd/state'),
    ]);
    expect(p.KeepAlive).toEqual({ SuccessfulExit: false });
    expect(p.RunAtLoad).toBe(true);
    expect(p.ThrottleInterval).toBe(10);
    expect(p.ExitTimeOut).toBeGreaterThan(40);
    expect(p.StandardOutPath).toBe(join(home, 'Library/Logs/agentd/agentd.log'));
    expect(p.StandardErrorPath).toBe(join(home, 'Library/Logs/agentd/agentd.err.log'));
    expect(p.Umask).toBe(0o077);
    expect(s.unitPath).toBe(join(home, 'Library/LaunchAgents/io.agentd.agentd.plist'));
    expect(s.domain).toBe('gui/501');
  });

  it('LaunchDaemon: system domain, /Library paths; XML special characters are escaped', () => {
    const paths = resolvePaths({ mode: 'system', platform: 'darwin', env: {}, uid: 0 });
    const s = new LaunchdService({ mode: 'system', paths, platform: 'darwin', env: envWithoutSystemRoot(env), uid: 0, agentdCommand: ['/opt/a&b <x>/agentd'] });
    const p = parsePlist(s.render());
    expect(s.domain).toBe('system');
    expect(s.unitPath).toBe('/Library/LaunchDaemons/io.agentd.agentd.plist');
    expect((p.ProgramArguments as string[])[0]).toBe('/opt/a&b <x>/agentd');
    expect(p.StandardOutPath).toBe('/Library/Logs/agentd/agentd.log');
  });

  // Without UserName a LaunchDaemon, and every task it starts, runs as root.
  it('LaunchDaemon: runs as its own user, names the separate task user; a LaunchAgent has neither', () => {
    const paths = resolvePaths({ mode: 'system', platform: 'darwin', env: {}, uid: 0 });
    const p = parsePlist(new LaunchdService({ mode: 'system', paths, platform: 'darwin', env, uid: 0, agentdCommand: ['/a'] }).render());
    expect(p.UserName).toBe('_agentd');
    expect(p.GroupName).toBe('_agentd');
    expect(p.EnvironmentVariables).toMatchObject({ AGENTD_TASK_USER: '_agentdtask', HOME: paths.stateDir });
    const u = parsePlist(agent('user').render());
    expect(u.UserName).toBeUndefined();
    expect((u.EnvironmentVariables as Record<string, string>).AGENTD_TASK_USER).toBeUndefined();
  });

  // The names go into the plist and a sudoers rule: only plain account names.
  it('a task user that is not a plain account name is refused before anything is written', () => {
    const paths = resolvePaths({ mode: 'system', platform: 'darwin', env: {}, uid: 0 });
    expect(() => new LaunchdService({ mode: 'system', paths, platform: 'darwin', env: { ...env, AGENTD_TASK_USER: 'x) ALL\nevil ALL=(ALL' }, uid: 0, agentdCommand: ['/a'] })).toThrow(/is not a valid user name/);
  });

  // dscl is faked like launchctl: a recording script that keeps the users it created.
  it.skipIf(process.getuid?.() !== 0)('system install creates both hidden users, gives each its directories, writes a sudoers rule for exactly that switch', async () => {
    writeFileSync(
      join(dir, 'dscl'),
      `#!/bin/sh
(IFS='	'; printf 'dscl\t%s\n' "$*") >> "${log}"
db="${dir}/dscl.db"; touch "$db"
shift
case "$1" in
  -read) grep -q "^$2 " "$db" || exit 56; id=$(grep "^$2 " "$db" | head -1 | cut -d' ' -f2); echo "UniqueID: $id"; echo "PrimaryGroupID: $id";;
  -list) if [ "$2" = /Users ]; then printf 'root 0\n_www 70\n_taken 499\n'; sed 's|^/Users/||' "$db"; else printf 'wheel 0\n'; fi;;
  -create) case "$3" in UniqueID) echo "$2 $4" >> "$db";; esac;;
esac
exit 0
`,
    );
    chmodSync(join(dir, 'dscl'), 0o755);
    const paths = resolvePaths({ mode: 'system', platform: 'darwin', configDir: join(dir, 'conf'), stateDir: join(dir, 'state'), env: {}, uid: 0 });
    const s = new LaunchdService({ mode: 'system', paths, platform: 'darwin', env, uid: 0, agentdCommand: ['/a'], sudoersFile: join(dir, 'sudoers.d', 'agentd') });
    (s as unknown as { logDir: string }).logDir = join(dir, 'logs');
    (s as unknown as { unitPath: string }).unitPath = join(dir, 'io.agentd.agentd.plist');
    await s.install();
    const created = calls().filter((c) => c[0] === 'dscl' && c[2] === '-create' && c[4] === 'UniqueID');
    expect(created.map((c) => [c[3], c[5]])).toEqual([['/Users/_agentd', '498'], ['/Users/_agentdtask', '497']]);
    expect(statSync(paths.configDir)).toMatchObject({ uid: 498 });
    expect(statSync(paths.stateDir).uid).toBe(498);
    expect(statSync(paths.stateDir).mode & 0o777).toBe(0o711);
    expect(statSync(paths.workRoot).uid).toBe(497);
    expect(statSync(paths.taskHome).uid).toBe(497);
    const rule = readFileSync(join(dir, 'sudoers.d', 'agentd'), 'utf8');
    expect(rule).toMatch(/^_agentd ALL=\(_agentdtask\) NOPASSWD:SETENV: ALL$/m);
    expect(statSync(join(dir, 'sudoers.d', 'agentd')).mode & 0o777).toBe(0o440);
    // Uninstall takes the rule away with the service.
    await s.uninstall();
    expect(existsSync(join(dir, 'sudoers.d', 'agentd'))).toBe(false);
  });
});

describe('launchctl calls', () => {
  it('install bootstraps into gui/<uid> and enables; restart is kickstart -k; never load/unload', async () => {
    const s = agent('user');
    await s.install();
    expect(existsSync(s.unitPath)).toBe(true);
    await s.restart();
    const c = calls().filter((a) => a[0] !== 'print');
    expect(c).toEqual([
      ['bootstrap', 'gui/501', s.unitPath],
      ['enable', 'gui/501/io.agentd.agentd'],
      ['kickstart', '-k', 'gui/501/io.agentd.agentd'],
    ]);
    expect(calls().flat()).not.toContain('load');
    expect(calls().flat()).not.toContain('unload');
  });

  it('re-install with an unchanged plist does not reload; a changed one is booted out and bootstrapped again', async () => {
    const s = agent('user');
    await s.install();
    writeFileSync(log, '');
    await s.install();
    expect(calls().filter((a) => a[0] !== 'print')).toEqual([['enable', 'gui/501/io.agentd.agentd']]);
    writeFileSync(s.unitPath, 'old');
    writeFileSync(log, '');
    await s.install();
    expect(calls().filter((a) => a[0] !== 'print').map((a) => a[0])).toEqual(['bootout', 'bootstrap', 'enable']);
  });

  it('state parses launchctl print; uninstall boots out and removes the plist', async () => {
    const s = agent('user');
    await s.install();
    const st = await s.state();
    expect(st).toMatchObject({ installed: true, active: 'running', mainPid: 4242, exitStatus: 78, restarts: 2 });
    expect(await s.isActive()).toBe(true);
    await s.uninstall();
    expect(existsSync(s.unitPath)).toBe(false);
    expect(calls().filter((a) => a[0] === 'bootout')).toEqual([['bootout', 'gui/501/io.agentd.agentd']]);
    expect(await s.isActive()).toBe(false);
  });

  it('a failing launchctl puts its output in the error', async () => {
    writeFileSync(join(dir, 'launchctl'), '#!/bin/sh\n[ "$1" = print ] && exit 113\necho "Bootstrap failed: 5: Input/output error" >&2; exit 5\n');
    await expect(agent('user').install()).rejects.toThrow(/Bootstrap failed: 5: Input\/output error/);
  });

  it('system mode without root says sudo or --mode user', async () => {
    const paths = resolvePaths({ mode: 'system', platform: 'darwin', env: {}, uid: 501 });
    const s = new LaunchdService({ mode: 'system', paths, platform: 'darwin', env, uid: 501, agentdCommand: ['/a'] });
    await expect(s.install()).rejects.toMatchObject({ hint: expect.stringMatching(/sudo.*--mode user/) });
  });

  it('parseLaunchctlPrint tolerates missing fields', () => {
    expect(parseLaunchctlPrint('x = {\n\tstate = waiting\n\tlast exit code = (never exited)\n}')).toEqual({ state: 'waiting' });
  });
});
