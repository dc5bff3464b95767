// The rendered systemd unit: the right directives per mode, quoting, and
// `systemd-analyze verify` clean (its stderr, not only its exit status).
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { quoteExecArg, renderSystemdUnit, parseShow, SystemdService } from '../../installer/systemd.js';
import { renderTemplate } from '../../installer/template.js';
import { resolvePaths } from '../../store/paths.js';

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

function directives(unit: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const r = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (r) m.set(r[1], [...(m.get(r[1]) ?? []), r[2]]);
  }
  return m;
}

const systemUnit = renderSystemdUnit({
  mode: 'system',
  execStart: ['/usr/local/bin/agentd', 'run', '--mode', 'system', '--config-dir', '/etc/agentd', '--state-dir', '/var/lib/agentd'],
  configDir: '/etc/agentd',
  stateDir: '/var/lib/agentd',
  user: 'agentd',
  group: 'agentd',
});

describe('systemd unit rendering', () => {
  it('system mode: notify, watchdog, restart policy, dedicated user, managed dirs, hardening', () => {
    const d = directives(systemUnit);
    expect(d.get('Type')).toEqual(['notify']);
    expect(d.get('NotifyAccess')).toEqual(['all']);
    expect(d.get('ExecStart')?.[0]).toBe('/usr/local/bin/agentd run --mode system --config-dir /etc/agentd --state-dir /var/lib/agentd');
    expect(d.get('Restart')).toEqual(['always']);
    expect(d.get('RestartPreventExitStatus')).toEqual(['78 77']);
    expect(d.get('KillMode')).toEqual(['mixed']);
    expect(d.get('User')).toEqual(['agentd']);
    expect(d.get('StateDirectory')).toEqual(['agentd']);
    expect(d.get('ConfigurationDirectory')).toEqual(['agentd']);
    // 0711: the task user passes through to work/ and task-home/ and lists nothing.
    expect(d.get('StateDirectoryMode')).toEqual(['0711']);
    // Tasks run as their own user; the daemon keeps only what starting them needs, and
    // owns its cgroup so that each task gets one (ProtectControlGroups would make it read-only).
    expect(d.get('Environment')).toContain('AGENTD_TASK_USER=agentd-task');
    expect(d.get('AmbientCapabilities')).toEqual(['CAP_SETUID CAP_SETGID CAP_KILL']);
    expect(d.get('CapabilityBoundingSet')).toEqual(['CAP_SETUID CAP_SETGID CAP_KILL']);
    expect(d.get('Delegate')).toEqual(['yes']);
    expect(d.has('ProtectControlGroups')).toBe(false);
    expect(d.get('ProtectProc')).toEqual(['invisible']);
    expect(d.get('ProtectSystem')).toEqual(['strict']);
    expect(d.get('NoNewPrivileges')).toEqual(['yes']);
    expect(d.get('PrivateTmp')).toEqual(['yes']);
    expect(d.get('WantedBy')).toEqual(['multi-user.target']);
    expect(d.has('ReadWritePaths')).toBe(false);
    expect(d.has('MemoryDenyWriteExecute')).toBe(false); // would break Node's JIT
    // Stop timeout must exceed drain (30 s) + kill grace (10 s).
    expect(parseInt(d.get('TimeoutStopSec')![0], 10)).toBeGreaterThan(40);
    expect(parseInt(d.get('WatchdogSec')![0], 10)).toBeGreaterThanOrEqual(30);
    expect(systemUnit).not.toMatch(/\{\{/);
  });

  it('system mode with custom dirs: no StateDirectory=, the state dir is made writable', () => {
    const u = renderSystemdUnit({ mode: 'system', execStart: ['/x/agentd', 'run'], configDir: '/srv/agentd conf', stateDir: '/srv/agentd/state', user: 'agentd', group: 'agentd' });
    const d = directives(u);
    expect(d.has('StateDirectory')).toBe(false);
    expect(d.has('ConfigurationDirectory')).toBe(false);
    expect(d.get('ReadWritePaths')).toEqual(['/srv/agentd/state']);
    expect(d.get('Environment')).toEqual(['HOME=/srv/agentd/state', 'AGENTD_TASK_USER=agentd-task']);
  });

  it('user mode: no User=, no system-only sandboxing, default.target', () => {
    const u = renderSystemdUnit({ mode: 'user', execStart: ['/home/me/.local/bin/agentd', 'run'], configDir: '/home/me/.config/agentd', stateDir: '/home/me/.local/state/agentd', user: 'x', group: 'x' });
    const d = directives(u);
    expect(d.has('User')).toBe(false);
    expect(d.has('ProtectSystem')).toBe(false);
    expect(d.has('StateDirectory')).toBe(false);
    expect(d.get('WantedBy')).toEqual(['default.target']);
    expect(d.get('Type')).toEqual(['notify']);
    expect(d.get('RestartPreventExitStatus')).toEqual(['78 77']);
  });

  it('quotes ExecStart words: blanks, quotes, % specifiers and $ variables', () => {
    expect(quoteExecArg('/opt/agentd/bin/agentd')).toBe('/opt/agentd/bin/agentd');
    expect(quoteExecArg('/Application Support/x')).toBe('"/Application Support/x"');
    expect(quoteExecArg('50%')).toBe('"50%%"');
    expect(quoteExecArg('$HOME')).toBe('"$$HOME"');
    expect(quoteExecArg('a"b')).toBe('"a\\"b"');
  });

  it('user-mode unit path follows XDG_CONFIG_HOME', () => {
    const paths = resolvePaths({ mode: 'user', homedir: '/home/me', env: {}, platform: 'linux', uid: 1000 });
    const s = new SystemdService({ mode: 'user', paths, env: { XDG_CONFIG_HOME: '/home/me/.cfg' }, homedir: '/home/me', uid: 1000, agentdCommand: ['/a'] });
    expect(s.unitPath).toBe('/home/me/.cfg/systemd/user/agentd.service');
    expect(s.plan()).toContain('systemctl --user daemon-reload');
    expect(s.render()).toContain('ExecStart=/a run --mode user --config-dir /home/me/.config/agentd --state-dir /home/me/.local/state/agentd');
  });

  it('parses systemctl show', () => {
    expect(parseShow('ActiveState=active\nMainPID=42\nStatusText=a=b\n')).toEqual({ ActiveState: 'active', MainPID: '42', StatusText: 'a=b' });
  });
});

describe('template', () => {
  it('keeps or drops nested blocks and refuses unknown values or unbalanced blocks', () => {
    const t = 'a\n#{{#x}}\nb {{V}}\n#{{#y}}\nc\n#{{/y}}\n#{{/x}}\nd';
    expect(renderTemplate(t, { V: '1' }, { x: true, y: false })).toBe('a\nb 1\nd');
    expect(renderTemplate(t, { V: '1' }, { x: false, y: true })).toBe('a\nd');
    expect(() => renderTemplate(t, {}, { x: true, y: true })).toThrow(/V/);
    expect(() => renderTemplate('#{{#x}}\n', {}, { x: true })).toThrow(/not closed/);
    expect(() => renderTemplate('#{{/x}}\n', {}, { x: true })).toThrow(/not open/);
  });
});

describe.skipIf(!hasAnalyze)('systemd-analyze', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-unit-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const mode of ['system', 'user'] as const) {
    it(`verify is clean for the ${mode} unit`, () => {
      // ExecStart must name an existing executable for verify to pass.
      const unit = renderSystemdUnit({
        mode,
        execStart: [process.execPath, '/opt/agentd/dist/agentd.mjs', 'run'],
        configDir: mode === 'system' ? '/etc/agentd' : '/home/me/.config/agentd',
        stateDir: mode === 'system' ? '/var/lib/agentd' : '/home/me/.local/state/agentd',
        user: 'root', // verify resolves nothing, but keep it an existing user
        group: 'root',
      });
      const path = join(dir, 'agentd.service');
      writeFileSync(path, unit);
      // --user needs a runtime dir even to verify.
      const env = { ...process.env, SYSTEMD_LOG_LEVEL: 'notice', XDG_RUNTIME_DIR: dir };
      const r = spawnSync('systemd-analyze', ['verify', ...(mode === 'user' ? ['--user'] : []), path], { encoding: 'utf8', env });
      // Only lines about our unit count (a host's own units may have warnings of their own).
      const ours = r.stderr.split('\n').filter((l) => l.includes('agentd.service'));
      expect(ours).toEqual([]);
      expect(r.status).toBe(0);
    });
  }

  it('security --offline=yes rates the system unit (exposure figure)', () => {
    const path = join(dir, 'agentd.service');
    writeFileSync(path, systemUnit.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} run`));
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', path], { encoding: 'utf8' });
    const m = /Overall exposure level for agentd\.service: ([\d.]+)/.exec(r.stdout + r.stderr);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    writeFileSync(join(dir, 'exposure.txt'), m![1]);
    // "OK" or better (< 5.0) on systemd's 0-10 scale.
    expect(Number(m![1])).toBeLessThan(5);
    expect(readFileSync(join(dir, 'exposure.txt'), 'utf8')).toBe(m![1]);
  });
});
