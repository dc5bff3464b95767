// `agentd status` for a person: what it prints for ready / revoked / not running, and
// the colour switch; plus the service step's preflight for a non-root system install.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { formatAge, formatStatus } from '../../cli/status.js';
import type { StatusReport } from '../../installer/status.js';
import { makeServiceStep, describeServicePlan } from '../../installer/service-step.js';
import { resolvePaths } from '../../store/paths.js';

const now = new Date('2026-01-01T12:00:00Z');
const base: StatusReport = {
  mode: 'system',
  config_dir: '/etc/agentd',
  state_dir: '/var/lib/agentd',
  service: { installed: true, active: 'active', sub: 'running', mainPid: 42, restarts: 0, result: 'success', kind: 'systemd', unit: '/etc/systemd/system/agentd.service', logs: 'journalctl -u agentd.service -n 50' },
  running: true,
  ready: true,
  reason: 'registered',
  health_url: 'http://127.0.0.1:19514',
  daemon: {
    version: '0.1.0',
    state: 'ready',
    state_since: '2026-01-01T11:55:00Z',
    device_name: 'build-01',
    platform_url: 'https://p.example',
    workspace_id: 'ws1',
    heartbeat: { last_success_at: '2026-01-01T11:59:57Z', latency_ms: 12, consecutive_failures: 0 },
    runtimes: [{ name: 'command' }, { name: 'claude' }],
    tasks: {
      max: 4,
      running: [{ id: 't-1', runtime: 'claude', started_at: '2026-01-01T11:58:00Z', seconds_since_output: 95, watchdog_deadline: '2026-01-01T12:28:25Z', tool_in_flight: false }],
    },
  },
};

describe('agentd status output', () => {
  it('ready: state, since, heartbeat age, runtimes, tasks with idle time against the watchdog', () => {
    const text = formatStatus(base, { color: false, now });
    expect(text).toMatch(/^agentd ready as "build-01" \(v0\.1\.0\)/);
    expect(text).toMatch(/since\s+5m00s ago/);
    expect(text).toMatch(/service\s+systemd active \(running\), pid 42/);
    expect(text).toMatch(/heartbeat\s+last ok 3s ago \(12 ms\)/);
    expect(text).toMatch(/runtimes\s+command, claude/);
    expect(text).toMatch(/tasks\s+1 running of 4/);
    expect(text).toMatch(/t-1\s+claude\s+started 2m00s ago, idle 1m35s, watchdog in 28m25s/);
    expect(text).not.toMatch(/logs/); // only shown when something is wrong
    expect(text).not.toMatch(/\x1b\[/);
  });

  it('platform-supplied text (reasons, runtime names, task ids, device name) reaches the terminal without control characters', () => {
    const evil = '\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil\r\n';
    const r: StatusReport = {
      ...base,
      ready: false,
      reason: `cannot register: the platform answered 500: ${evil}`,
      daemon: { ...base.daemon!, state: 'degraded', device_name: `box${evil}`, platform_url: `https://p.example/${evil}`, runtimes: [{ name: `rt${evil}` }], tasks: { max: 4, running: [{ id: `t${evil}`, runtime: `r${evil}`, started_at: '2026-01-01T11:58:00Z' }] } },
    };
    for (const color of [false, true]) {
      const text = formatStatus(r, { color, now });
      expect(text).toContain('pwned');
      // Only the SGR colour codes this command writes itself, and only with colour on.
      const stripped = text.replace(/\x1b\[[0-9;]*m/g, '');
      expect(stripped).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
      if (!color) expect(text).toBe(stripped);
    }
  });

  it('colours only when asked (TTY)', () => {
    expect(formatStatus(base, { color: true, now })).toMatch(/\x1b\[32m/);
  });

  it('revoked: says why and the exact command that re-enrols', () => {
    const r: StatusReport = { ...base, ready: false, reason: 'credential refused twice', daemon: { ...base.daemon!, state: 'revoked', tasks: { max: 4, running: [] } } };
    const text = formatStatus(r, { color: false, now });
    expect(text).toMatch(/^agentd revoked/);
    expect(text).toMatch(/why\s+credential refused twice/);
    expect(text).toContain('curl -fsSL https://p.example/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh -s -- --force');
    expect(text).toContain('agentd credentials set < FILE');
    expect(text).toMatch(/logs\s+journalctl -u agentd.service -n 50/);
  });

  it('not running after a configuration error: the exit status is named', () => {
    const r: StatusReport = { ...base, running: false, ready: false, reason: 'not running', daemon: null, health_url: null, service: { ...base.service!, active: 'failed', sub: 'failed', mainPid: undefined, result: 'exit-code', exitStatus: 78, since: '2026-01-01T11:50:00Z' } };
    const text = formatStatus(r, { color: false, now });
    expect(text).toMatch(/^agentd not running/);
    expect(text).toMatch(/since\s+10m00s ago/);
    expect(text).toMatch(/last result exit-code, exit 78 \(configuration error\)/);
    expect(text).toMatch(/logs\s+journalctl/);
  });

  it('formats ages', () => {
    expect([formatAge(0), formatAge(59), formatAge(61), formatAge(3600 * 2 + 600), formatAge(86400 * 3 + 3600)]).toEqual(['0s', '59s', '1m01s', '2h10m', '3d1h']);
  });
});

describe('service step', () => {
  it('a non-root system install fails in preflight (before the token is spent) with sudo / --mode user', async () => {
    const paths = resolvePaths({ mode: 'system', platform: 'linux', env: {}, uid: 1000 });
    const step = makeServiceStep({ uid: 1000, platform: 'linux' });
    await expect(step.preflight({ mode: 'system', paths })).rejects.toMatchObject({ hint: expect.stringMatching(/sudo.*--mode user/s) });
  });

  it.skipIf(existsSync('/run/systemd/system'))('without systemd as init, preflight says so and points at --no-service', async () => {
    const paths = resolvePaths({ mode: 'user', platform: 'linux', env: {}, homedir: '/nonexistent', uid: 1000 });
    const step = makeServiceStep({ uid: 1000, platform: 'linux' });
    await expect(step.preflight({ mode: 'user', paths })).rejects.toMatchObject({ exitCode: 78, hint: expect.stringMatching(/--no-service/) });
  });

  it('a system install refuses, before the token is spent, what PrivateTmp=yes would hide from the service', async () => {
    const paths = resolvePaths({ mode: 'system', platform: 'linux', env: {}, uid: 0 });
    const fromTmp = makeServiceStep({ uid: 0, platform: 'linux', service: { agentdCommand: ['/usr/bin/node', '/tmp/checkout/dist/agentd.mjs'] } });
    await expect(fromTmp.preflight({ mode: 'system', paths })).rejects.toMatchObject({
      exitCode: 78,
      message: expect.stringMatching(/would run \/tmp\/checkout\/dist\/agentd\.mjs, which it cannot see: it runs with PrivateTmp=yes/),
      hint: expect.stringMatching(/install\.sh.*outside \/tmp and \/var\/tmp/s),
    });
    const ok = makeServiceStep({ uid: 0, platform: 'linux', service: { agentdCommand: ['/usr/local/bin/agentd'] } });
    const stateInTmp = resolvePaths({ mode: 'system', platform: 'linux', env: {}, uid: 0, stateDir: '/var/tmp/agentd-state' });
    await expect(ok.preflight({ mode: 'system', paths: stateInTmp })).rejects.toMatchObject({ exitCode: 78, message: expect.stringMatching(/^--state-dir \/var\/tmp\/agentd-state is under/) });
    // A per-user service has no PrivateTmp: nothing to refuse there.
    const userPaths = resolvePaths({ mode: 'user', platform: 'linux', env: {}, homedir: '/nonexistent', uid: 1000, stateDir: '/tmp/s' });
    await expect(makeServiceStep({ uid: 1000, platform: 'linux', service: { agentdCommand: ['/tmp/x/agentd'] } }).preflight({ mode: 'user', paths: userPaths }).then(String, (e: Error) => e.message)).resolves.not.toMatch(/PrivateTmp/);
  });

  it('dry-run plan: the unit and the commands, in order', () => {
    const paths = resolvePaths({ mode: 'system', platform: 'linux', env: {}, uid: 0 });
    const text = describeServicePlan('system', paths, { uid: 0, platform: 'linux', service: { agentdCommand: ['/usr/local/bin/agentd'], env: {} } });
    expect(text).toContain('# /etc/systemd/system/agentd.service');
    expect(text).toContain('ExecStart=/usr/local/bin/agentd run --mode system --config-dir /etc/agentd --state-dir /var/lib/agentd');
    const cmds = text.slice(text.indexOf('# commands')).split('\n').slice(1).filter(Boolean);
    expect(cmds.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual([
      'getent passwd agentd',
      'getent passwd agentd-task',
      'chown agentd: /etc/agentd',
      'chown agentd-task: /var/lib/agentd/work',
      'write /etc/systemd/system/agentd.service',
      'systemctl daemon-reload',
      'systemctl enable agentd.service',
      'systemctl restart --no-block',
    ]);
    // Each path is named; root never walks a tree (chown -R) over work dirs tasks write in.
    expect(text).not.toMatch(/chown -R/);
  });
});
