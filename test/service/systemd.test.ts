// The rendered unit under a REAL systemd (252, PID 1 of private namespaces booted by
// test/service/systemd-harness.sh), with the real daemon and the real platform on the
// host's loopback (the harness shares the network namespace). Skips where the harness
// says this environment cannot host systemd (exit 77).
//
// The unit is the production rendering (system mode, ProtectSystem=strict, PrivateTmp,
// User=…) with two test choices: User=nobody (creating an `agentd` user would change the
// host's /etc/passwd) and directories under /run/agentd-test, bind-mounted from the
// test's temp dir (PrivateTmp=yes hides /tmp from the service). A drop-in shortens the
// timers (heartbeat 1 s, RestartSec 1 s, WatchdogSec 4 s) and picks a free health port.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENTD_CMD, AGENTD_JS } from '../helpers/bin.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { SystemdService } from '../../installer/systemd.js';
import { resolvePaths } from '../../store/paths.js';
import { stageAgentd } from './stage.js';
import { envWithoutSystemRoot } from '../helpers/env.js';

// A real systemd boots, installs and restarts here; on a loaded 2-core machine (load 14,
// five npm test runs beside other work) one test took longer than the default 30 s.
// The harness bounds each run itself (120 s); the test's own limit sits above it.
vi.setConfig({ testTimeout: 180_000 });

const HARNESS = join(dirname(fileURLToPath(import.meta.url)), 'systemd-harness.sh');
const probe = spawnSync(HARNESS, ['--probe'], { encoding: 'utf8' });
const canRun = probe.status === 0 && existsSync(AGENTD_JS);
if (!canRun) console.warn(`skipping systemd service tests: ${probe.status === 77 ? probe.stderr.trim() : !existsSync(AGENTD_JS) ? 'run npm run build first' : `harness probe failed: ${probe.stderr}`}`);

const NS_ROOT = '/run/agentd-test';

interface Fixture {
  platform: TestPlatform;
  dir: string;
  unitFile: string;
  dropin: string;
  daemonId: string;
  /** The staged agentd, as the namespaces see it (for `agentd status` inside a check). */
  agentd: string;
}

/** Enrols a daemon (real `agentd install --no-service`) into a fresh temp dir owned by nobody. */
async function setup(platform: TestPlatform, extraDropin = ''): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-svc-'));
  const host = resolvePaths({ mode: 'system', configDir: join(dir, 'config'), stateDir: join(dir, 'state'), env: {} });
  const tok = await platform.admin.createInstallToken(platform.workspaceId);
  const r = spawnSync(AGENTD_CMD[0], [...AGENTD_CMD.slice(1), 'install', '--no-service', '--json', '--platform', platform.url, '--mode', 'system', '--name', 'svc-test', '--config-dir', host.configDir, '--state-dir', host.stateDir], {
    encoding: 'utf8',
    env: { ...envWithoutSystemRoot(), AGENTD_INSTALL_TOKEN: tok.token },
  });
  if (r.status !== 0) throw new Error(`enrolment failed: ${r.stderr}`);
  const daemonId = (JSON.parse(r.stdout) as { daemon_id: string }).daemon_id;
  // What SystemdService.install() does for the `agentd` user, here for nobody.
  const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim();
  const nogroup = spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim();
  // (A test fixture in a fresh temp dir nothing else writes to: chown -R is safe here.)
  spawnSync('chown', ['-R', `${nobody}:${nogroup}`, dir]);
  chmodSync(dir, 0o700);

  const nsPaths = resolvePaths({ mode: 'system', configDir: `${NS_ROOT}/config`, stateDir: `${NS_ROOT}/state`, env: {} });
  const agentdCommand = stageAgentd(dir, NS_ROOT);
  const svc = new SystemdService({ mode: 'system', paths: nsPaths, serviceUser: 'nobody', agentdCommand, uid: 0, env: envWithoutSystemRoot() });
  const unitFile = join(dir, 'agentd.service');
  // The harness copies the unit; `nobody`'s group is nogroup on Debian.
  writeFileSync(unitFile, svc.render().replace(/^Group=nobody$/m, `Group=${spawnSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).stdout.trim()}`));
  mkdirSync(join(dir, 'dropin'));
  const dropin = join(dir, 'dropin', 'test.conf');
  writeFileSync(
    dropin,
    [
      '[Service]',
      'Environment=AGENTD_HEALTH_ADDR=127.0.0.1:0',
      'Environment=AGENTD_HEARTBEAT_INTERVAL=1s',
      'Environment=AGENTD_LOG_LEVEL=debug',
      'RestartSec=1s',
      'WatchdogSec=4s',
      'TimeoutAbortSec=2s',
      extraDropin,
      '',
    ].join('\n'),
  );
  return { platform, dir, unitFile, dropin, daemonId, agentd: agentdCommand.join(' ') };
}
/** Points an enrolled fixture at another platform URL (owner and mode of config.json kept). */
function repoint(f: Fixture, url: string): void {
  const file = join(f.dir, 'config', 'config.json');
  const c = JSON.parse(readFileSync(file, 'utf8')) as { platform_url: string };
  writeFileSync(file, JSON.stringify({ ...c, platform_url: url }, null, 2) + '\n');
}

/** A platform that accepts connections and never answers: every call hangs until its timeout. */
async function blackhole(): Promise<{ url: string; close: () => Promise<void> }> {
  const socks = new Set<Socket>();
  const server: Server = createNetServer((s) => {
    socks.add(s);
    s.on('error', () => undefined);
    s.on('close', () => socks.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        server.close(() => r());
      }),
  };
}


/** Shell helpers the check scripts share (they run inside the namespaces). */
const PRELUDE = `
set -u
p() { systemctl show -p "$1" --value agentd.service; }
health() { sed -n 's/.*"health_url": *"\\([^"]*\\)".*/\\1/p' ${NS_ROOT}/state/daemon.json 2>/dev/null; }
readyz() { u=$(health); [ -n "$u" ] && curl -s -o /dev/null -m 2 -w '%{http_code}' "$u/readyz" || echo none; }
wait_for() { # wait_for SECONDS CONDITION...
  t=$1; shift; i=0
  while [ $i -lt $((t * 10)) ]; do if eval "$*"; then return 0; fi; sleep 0.1; i=$((i + 1)); done
  return 1
}
out() { echo "$1=$2"; }
`;

/** Boots systemd, installs the unit + drop-in, runs `script`, returns KEY=VALUE lines it printed. */
function harness(f: Fixture, script: string, timeoutMs = 60_000): Promise<{ code: number | null; kv: Record<string, string>; output: string }> {
  const scriptFile = join(f.dir, `check-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(scriptFile, PRELUDE + script);
  const logs = join(f.dir, 'logs');
  return new Promise((resolve) => {
    const child = spawn(HARNESS, ['--name', 'agentd.service', '--dropin', f.dropin, '--bind', `${f.dir}:${NS_ROOT}`, '--keep-logs', logs, f.unitFile, '--', 'bash', scriptFile], { env: envWithoutSystemRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const kv: Record<string, string> = {};
      for (const line of output.split('\n')) {
        const m = /^([a-z_]+)=(.*)$/.exec(line);
        if (m) kv[m[1]] = m[2];
      }
      let journal = '';
      try {
        journal = spawnSync('tail', ['-n', '60', join(logs, 'journal.txt')], { encoding: 'utf8' }).stdout;
      } catch {
        // no logs kept
      }
      resolve({ code, kv, output: `${output}\n--- journal (last 60 lines)\n${journal}` });
    });
  });
}

describe.skipIf(!canRun)('agentd.service under a real systemd', () => {
  let platform: TestPlatform;
  const fixtures: Fixture[] = [];
  beforeAll(async () => {
    platform = await startPlatform();
  });
  afterAll(async () => {
    await platform?.stop();
    for (const f of fixtures) rmSync(f.dir, { recursive: true, force: true });
  });
  const fixture = async (extra = ''): Promise<Fixture> => {
    const f = await setup(platform, extra);
    fixtures.push(f);
    return f;
  };

  it('starts: READY=1 reaches systemd, /readyz answers 200, runs as the service user', async () => {
    const f = await fixture();
    const r = await harness(
      f,
      `
timeout 30 systemctl start agentd.service; out start_rc $?
out active "$(p ActiveState)"
out sub "$(p SubState)"
out status_text "$(p StatusText)"
out readyz "$(readyz)"
out user "$(ps -o user= -p "$(p MainPID)" | tr -d ' ')"
`,
    );
    expect(r.kv, r.output).toMatchObject({ start_rc: '0', active: 'active', sub: 'running', readyz: '200', user: 'nobody' });
    expect(r.kv.status_text, r.output).toMatch(/ready/);
    const daemons = await platform.admin.listDaemons(platform.workspaceId);
    expect(daemons.some((d) => JSON.stringify(d).includes(f.daemonId))).toBe(true);
  });

  it('kill -9 of the main pid: systemd restarts it and it becomes ready again', async () => {
    const f = await fixture();
    const r = await harness(
      f,
      `
timeout 30 systemctl start agentd.service || exit 1
pid1=$(p MainPID); kill -9 "$pid1"
wait_for 20 '[ "$(p NRestarts)" -ge 1 ] && [ "$(p ActiveState)" = active ] && [ "$(p MainPID)" != "$pid1" ]'; out restarted $?
wait_for 15 '[ "$(readyz)" = 200 ]'; out ready_again $?
out restarts "$(p NRestarts)"
`,
    );
    expect(r.kv, r.output).toMatchObject({ restarted: '0', ready_again: '0', restarts: '1' });
  });

  it('a configuration error (exit 78) is not restarted', async () => {
    const f = await fixture('Environment=AGENTD_HEARTBEAT_INTERVAL=not-a-duration');
    const r = await harness(
      f,
      `
timeout 30 systemctl start agentd.service; out start_rc $?
sleep 3   # RestartSec=1s: a restart would have happened by now
out active "$(p ActiveState)"
out status "$(p ExecMainStatus)"
out restarts "$(p NRestarts)"
out result "$(p Result)"
`,
    );
    expect(r.kv.start_rc, r.output).not.toBe('0');
    expect(r.kv, r.output).toMatchObject({ active: 'failed', status: '78', restarts: '0', result: 'exit-code' });
  });

  it('a health port another user holds first: the service stays up (no exit 78), names the holder, and binds it once free', async () => {
    const probe = createNetServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const f = await fixture(`Environment=AGENTD_HEALTH_ADDR=127.0.0.1:${port}`);
    const squat = `require('net').createServer().listen(${port}, '127.0.0.1')`;
    const r = await harness(
      f,
      `
setpriv --reuid=daemon --regid=daemon --clear-groups ${process.execPath} -e "${squat}" &
sq=$!
wait_for 10 'grep -q ":$(printf %04X ${port}) 00000000:0000 0A" /proc/net/tcp'; out squatting $?
timeout 30 systemctl start agentd.service; out start_rc $?
wait_for 20 'journalctl -u agentd.service --no-pager -o cat | grep -q health_port_in_use'; out logged $?
out holder "$(journalctl -u agentd.service --no-pager -o cat | grep -o 'held by uid [0-9]* ([a-z]*)' | head -n 1)"
out active "$(p ActiveState)"
kill $sq
wait_for 45 '[ "$(readyz)" = 200 ]'; out ready $?
out bound "$(health)"
out restarts "$(p NRestarts)"
`,
      90_000,
    );
    expect(r.kv, r.output).toMatchObject({ squatting: '0', start_rc: '0', logged: '0', holder: 'held by uid 1 (daemon)', active: 'active', ready: '0', bound: `http://127.0.0.1:${port}`, restarts: '0' });
  }, 120_000);

  it('systemctl stop drains and exits 0 within TimeoutStopSec', async () => {
    const f = await fixture();
    const r = await harness(
      f,
      `
timeout 30 systemctl start agentd.service || exit 1
wait_for 15 '[ "$(readyz)" = 200 ]' || exit 1
s=$(date +%s%N); timeout 90 systemctl stop agentd.service; out stop_rc $?; e=$(date +%s%N)
out stop_ms $(( (e - s) / 1000000 ))
out active "$(p ActiveState)"
out result "$(p Result)"
out status "$(p ExecMainStatus)"
out restarts "$(p NRestarts)"
`,
    );
    expect(r.kv, r.output).toMatchObject({ stop_rc: '0', active: 'inactive', result: 'success', status: '0', restarts: '0' });
    // TimeoutStopSec=75s: a stop that needed SIGKILL would say Result=timeout instead.
    expect(Number(r.kv.stop_ms)).toBeLessThan(75_000);
  });

  it('the watchdog kills a daemon whose loops are frozen (SIGSTOP), and systemd restarts it', async () => {
    const f = await fixture();
    const r = await harness(
      f,
      `
timeout 30 systemctl start agentd.service || exit 1
wait_for 15 '[ "$(readyz)" = 200 ]' || exit 1
sleep 6   # longer than WatchdogSec=4s: the pings keep a healthy daemon alive
out alive_after_pings "$(p NRestarts)"
pid1=$(p MainPID); kill -STOP "$pid1"
wait_for 30 '[ "$(p NRestarts)" -ge 1 ]'; out restarted $?
out watchdog_logged "$(journalctl -u agentd.service --no-pager -o cat | grep -c -i 'watchdog timeout')"
wait_for 20 '[ "$(readyz)" = 200 ]'; out ready_again $?
out new_pid_differs "$([ "$(p MainPID)" != "$pid1" ] && echo yes || echo no)"
# What the unit's comments promise: SIGABRT (SIGCONT wakes the stopped process so it dies
# of it), no core dump (LimitCORE=0), no SIGKILL needed.
out died_of_abort "$(journalctl -u agentd.service --no-pager -o cat | grep -c 'status=6/ABRT')"
out dumped_core "$(journalctl -u agentd.service --no-pager -o cat | grep -c -i 'dumped core')"
out sigkilled "$(journalctl -u agentd.service --no-pager -o cat | grep -c 'SIGKILL')"
out limit_core "$(p LimitCORE)"
`,
    );
    expect(r.kv, r.output).toMatchObject({ alive_after_pings: '0', restarted: '0', ready_again: '0', new_pid_differs: 'yes' });
    expect(Number(r.kv.watchdog_logged), r.output).toBeGreaterThanOrEqual(1);
    expect(r.kv, r.output).toMatchObject({ dumped_core: '0', sigkilled: '0', limit_core: '0' });
    expect(Number(r.kv.died_of_abort), r.output).toBeGreaterThanOrEqual(1);
  });

  it('logs: readable lines in systemctl status, journald priorities (journalctl -p warning), process title agentd', async () => {
    const f = await fixture();
    // Start against a dead platform URL (registration warnings), then the real one.
    const configFile = join(f.dir, 'config', 'config.json');
    const good = readFileSync(configFile, 'utf8');
    writeFileSync(join(f.dir, 'config', 'config.good'), good);
    writeFileSync(configFile, good.replace(/"platform_url": *"[^"]*"/, '"platform_url": "http://127.0.0.1:9"'));
    const r = await harness(
      f,
      `
# Without the platform READY=1 comes after the bound; --no-block: the check waits for the warnings itself.
systemctl start --no-block agentd.service
wait_for 20 'journalctl -u agentd.service -p warning -o cat --no-pager | grep -q "registration failed (attempt 2)"'; out warned $?
cp ${NS_ROOT}/config/config.good ${NS_ROOT}/config/config.json
timeout 30 systemctl restart agentd.service || exit 1
wait_for 15 '[ "$(readyz)" = 200 ]'; out ready $?
out comm "$(ps -o comm= -p "$(p MainPID)")"
out pgrep "$([ "$(pgrep -x agentd)" = "$(p MainPID)" ] && echo yes || echo no)"
echo '--- systemctl status'
SYSTEMD_COLORS=0 systemctl status agentd.service --no-pager -l -n 6 | sed 's/^/S| /'
echo '--- journalctl -p warning'
journalctl -u agentd.service -p warning --no-pager -o short-iso | sed 's/^/W| /'
echo '--- priorities'
journalctl -u agentd.service -o json --output-fields=PRIORITY,MESSAGE --no-pager | sed 's/^/J| /'
`,
    );
    if (process.env.AGENTD_TEST_VERBOSE) console.log(r.output);
    expect(r.kv, r.output).toMatchObject({ warned: '0', ready: '0', comm: 'agentd', pgrep: 'yes' });
    const lines = (tag: string): string[] => r.output.split('\n').filter((l) => l.startsWith(`${tag}| `)).map((l) => l.slice(3));
    const status = lines('S');
    const warnings = lines('W');
    const prio = lines('J').map((l) => {
      const e = JSON.parse(l) as { PRIORITY: string; MESSAGE: unknown };
      return `${e.PRIORITY} ${typeof e.MESSAGE === 'string' ? e.MESSAGE : Buffer.from(e.MESSAGE as number[]).toString()}`;
    });
    // systemctl status: the daemon's messages as a person reads them, not pino JSON.
    expect(status.join('\n'), r.output).toMatch(/agentd\[\d+\]: state registering → ready: .* event=state from=registering to=ready/);
    expect(status.join('\n')).not.toContain('{"level"');
    // journalctl -p warning: the registration warnings (priority 4), none of the info lines.
    expect(warnings.some((l) => /agentd\[\d+\]: registration failed \(attempt 1\): .* event=register_failed attempt=1/.test(l)), r.output).toBe(true);
    expect(warnings.some((l) => /→ ready/.test(l)), r.output).toBe(false);
    expect(prio.some((l) => /^4 registration failed \(attempt 1\)/.test(l)), r.output).toBe(true);
    expect(prio.some((l) => /^6 state registering → ready/.test(l)), r.output).toBe(true);
  }, 90_000);

  it('agentd doctor on a healthy machine: every check passes, exit 0', async () => {
    const f = await fixture();
    const agentd = stageAgentd(f.dir, NS_ROOT).map((a) => `'${a}'`).join(' ');
    // The fake claude/codex CLIs, so the runtimes check has agents to find.
    cpSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'bin'), join(f.dir, 'fixtures'), { recursive: true });
    const r = await harness(
      f,
      `
systemctl enable agentd.service >/dev/null 2>&1
timeout 30 systemctl start agentd.service || exit 1
wait_for 15 '[ "$(readyz)" = 200 ]' || exit 1
# The service user here is nobody, not agentd: say so, as root reads only files it or root owns.
export AGENTD_SERVICE_USER=nobody
PATH=${NS_ROOT}/fixtures:$PATH ${agentd} doctor --mode system --config-dir ${NS_ROOT}/config --state-dir ${NS_ROOT}/state | sed 's/^/D| /'
PATH=${NS_ROOT}/fixtures:$PATH ${agentd} doctor --mode system --config-dir ${NS_ROOT}/config --state-dir ${NS_ROOT}/state > /dev/null; out doctor_rc $?
`,
    );
    if (process.env.AGENTD_TEST_VERBOSE) console.log(r.output);
    const text = r.output.split('\n').filter((l) => l.startsWith('D| ')).map((l) => l.slice(3)).join('\n');
    expect(r.kv.doctor_rc, r.output).toBe('0');
    expect(text).toMatch(/All \d+ checks passed\./);
    expect(text).toMatch(/✓ service active\s+active \(running\), pid \d+/);
    expect(text).toMatch(/✓ service enabled/);
    expect(text).not.toContain('✗');
  }, 60_000);

  it('the platform down (connection refused): systemctl start returns within 30 s; STATUS= and agentd status say unreachable', async () => {
    const f = await fixture();
    repoint(f, 'http://127.0.0.1:9'); // discard port: nothing listens, connection refused
    const r = await harness(
      f,
      `
s=$(date +%s%N); timeout 30 systemctl start agentd.service; out start_rc $?; e=$(date +%s%N)
out start_ms $(( (e - s) / 1000000 ))
out active "$(p ActiveState)"
out status_text "$(p StatusText)"
out readyz_body "$(curl -s -m 2 "$(health)/readyz" | tr -d '\n ')"
out agentd_status "$(${f.agentd} status --mode system --config-dir ${NS_ROOT}/config --state-dir ${NS_ROOT}/state | grep '^ *platform ' | tr -s ' ')"
timeout 30 systemctl restart agentd.service; out restart_rc $?
`,
    );
    // timeout(1) exits 124 when systemctl start did not return in 30 s.
    expect(r.kv, r.output).toMatchObject({ start_rc: '0', active: 'active', restart_rc: '0' });
    console.log(`systemctl start with the platform down returned in ${r.kv.start_ms} ms`);
    expect(r.kv.status_text, r.output).toMatch(/^degraded, platform unreachable: cannot register with http:\/\/127\.0\.0\.1:9/);
    expect(r.kv.readyz_body, r.output).toMatch(/"state":"degraded".*"platform_reachable":false/);
    expect(r.kv.agentd_status, r.output).toMatch(/platform http:\/\/127\.0\.0\.1:9 unreachable/);
  });

  it('a platform that never answers: READY=1 still comes (the bound), and a hang before it is aborted by the start timeout', async () => {
    const hole = await blackhole();
    try {
      const f = await fixture('TimeoutStartSec=12s');
      repoint(f, hole.url);
      const r = await harness(
        f,
        `
s=$(date +%s%N); timeout 30 systemctl start agentd.service; out start_rc $?; e=$(date +%s%N)
out start_ms $(( (e - s) / 1000000 ))
out status_text "$(p StatusText)"
# Now a daemon that wedges before READY=1: stopped right after it was started.
systemctl stop agentd.service
systemctl start --no-block agentd.service
wait_for 10 '[ "$(p MainPID)" != 0 ]' || exit 1
pid1=$(p MainPID); kill -STOP "$pid1"
out state_while_hung "$(p ActiveState)"
wait_for 40 '[ "$(p NRestarts)" -ge 1 ]'; out restarted $?
out start_timeout_logged "$(journalctl -u agentd.service --no-pager -o cat | grep -c -i 'start operation timed out')"
out died_of_abort "$(journalctl -u agentd.service --no-pager -o cat | grep -c 'status=6/ABRT')"
`,
        90_000,
      );
      expect(r.kv, r.output).toMatchObject({ start_rc: '0', state_while_hung: 'activating', restarted: '0' });
      console.log(`systemctl start against a platform that never answers returned in ${r.kv.start_ms} ms`);
      expect(r.kv.status_text, r.output).toMatch(/^registering, platform not contacted yet: registering with http:\/\/127\.0\.0\.1:\d+/);
      expect(Number(r.kv.start_timeout_logged), r.output).toBeGreaterThanOrEqual(1);
      expect(Number(r.kv.died_of_abort), r.output).toBeGreaterThanOrEqual(1);
    } finally {
      await hole.close();
    }
  }, 120_000);
});

