// The credential boundary of a system install under a REAL systemd, through the real
// CLI: `agentd install` creates the service user (agentd) and the task user
// (agentd-task); then real tasks from the real platform try what an attacker's task
// would. A task cannot read the daemon's credential or its /proc (and says who it runs
// as); a process a task left behind with setsid does not outlive it while the service
// keeps running; `agentd install --force` (root) leaves alone what is inside work dirs.
//
// Isolation as in install.test.ts: a private copy of /etc inside the namespaces (the
// users and the unit land there), directories under /run/agentd-test bound to the
// test's temp dir. The check script and this test meet through files in that dir: the
// script writes daemon.pid once the service is ready and waits for go-on, which the
// test writes after its tasks have run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENTD_JS } from '../helpers/bin.js';
import { allMessages, startPlatform, type TestPlatform } from '../helpers/platform.js';
import { stageAgentd } from './stage.js';
import { envWithoutSystemRoot } from '../helpers/env.js';

const HARNESS = join(dirname(fileURLToPath(import.meta.url)), 'systemd-harness.sh');
const probe = spawnSync(HARNESS, ['--probe'], { encoding: 'utf8' });
const canRun = probe.status === 0 && existsSync(AGENTD_JS) && spawnSync('setpriv', ['--version']).status === 0;
const NS = '/run/agentd-test';

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number, output: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!canRun)('task isolation of a system install under a real systemd', () => {
  let platform: TestPlatform;
  let dir: string;
  beforeAll(async () => {
    platform = await startPlatform();
    dir = mkdtempSync(join(tmpdir(), 'agentd-svc-isolation-'));
    chmodSync(dir, 0o755);
  });
  afterAll(async () => {
    await platform?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a task runs as agentd-task: no credential, no daemon /proc; a setsid leftover dies with it; install --force walks no work dir', async () => {
    const tok1 = (await platform.admin.createInstallToken(platform.workspaceId)).token;
    const tok2 = (await platform.admin.createInstallToken(platform.workspaceId)).token;
    const agentd = stageAgentd(dir, NS).map((a) => `'${a}'`).join(' ');
    const dirs = `--mode system --config-dir ${NS}/config --state-dir ${NS}/state`;
    const script = `
set -u
out() { echo "$1=$2"; }
p() { systemctl show -p "$1" --value agentd.service; }
cp -a /etc /run/etc-copy && rm -rf /run/etc-copy/agentd && mount --bind /run/etc-copy /etc || exit 99
mkdir -p /etc/systemd/system/agentd.service.d
printf '[Service]\\nEnvironment=AGENTD_HEALTH_ADDR=127.0.0.1:0\\nEnvironment=AGENTD_HEARTBEAT_INTERVAL=1s\\n' > /etc/systemd/system/agentd.service.d/test.conf
AGENTD_INSTALL_TOKEN="$TOK1" ${agentd} install --platform "$URL" --name svc-isolation ${dirs} > ${NS}/install.txt 2>&1; out install_rc $?
cat ${NS}/install.txt
out active "$(p ActiveState)"
out daemon_user "$(ps -o user= -p "$(p MainPID)" | tr -d ' ')"
out daemon_uid "$(id -u agentd)"
out task_uid "$(id -u agentd-task)"
out work_owner "$(stat -c '%U %a' ${NS}/state/work)"
out state_mode "$(stat -c '%U %a' ${NS}/state)"
p MainPID > ${NS}/daemon.pid.tmp && mv ${NS}/daemon.pid.tmp ${NS}/daemon.pid
i=0; while [ ! -e ${NS}/go-on ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
out go_on "$([ -e ${NS}/go-on ] && echo yes || echo no)"
sleep 5
out survivors "$(ps -eo user=,args= | grep -c '[s]leep 4242')"
out slow_survivors "$(ps -eo user=,args= | grep -c '[s]leep 4343')"
out still_active "$(p ActiveState)"
out leftover_cgroups "$(find /sys/fs/cgroup/system.slice/agentd.service -mindepth 1 -maxdepth 1 -type d -name 'task-*' | wc -l)"

# A file of root's inside a work dir: install --force (root) must not hand it to anyone.
mkdir -p ${NS}/state/work/planted && touch ${NS}/state/work/planted/root-file
AGENTD_INSTALL_TOKEN="$TOK2" ${agentd} install --force --platform "$URL" --name svc-isolation ${dirs} > ${NS}/force.txt 2>&1; out force_rc $?
out planted_owner "$(stat -c '%U' ${NS}/state/work/planted/root-file)"
out force_active "$(p ActiveState)"
${agentd} uninstall ${dirs} > /dev/null 2>&1; out uninstall_rc $?
`;
    writeFileSync(join(dir, 'check.sh'), script);
    let output = '';
    const child = spawn(HARNESS, ['--no-unit', '--bind', `${dir}:${NS}`, '--keep-logs', join(dir, 'logs'), '--', 'bash', join(dir, 'check.sh')], {
      env: { ...envWithoutSystemRoot(), URL: platform.url, TOK1: tok1, TOK2: tok2 },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const kill = setTimeout(() => child.kill('SIGTERM'), 280_000);
    try {
      const pidFile = join(dir, 'daemon.pid');
      const daemonPid = await waitFor('the service to be ready', () => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : undefined), 120_000, () => output);
      const text = async (id: string): Promise<string> => {
        const t = await platform.admin.waitForTask(platform.workspaceId, id, (x) => ['completed', 'failed', 'cancelled'].includes(x.status), 60_000);
        return `${t.status} ${t.output ?? ''} ${t.error ?? ''} ${JSON.stringify(await allMessages(platform, id))}`;
      };

      // What a hostile task tries first: the daemon's credential and its environment.
      const attack = await platform.admin.enqueueTask(platform.workspaceId, {
        runtime: 'command',
        prompt: [
          'echo "whoami uid=$(id -u) user=$(id -un)"',
          `if cat ${NS}/config/credentials.json; then echo cred=READABLE; else echo cred=denied; fi`,
          `if cat /proc/${daemonPid}/environ; then echo environ=READABLE; else echo environ=denied; fi`,
          `if ls ${NS}/config; then echo confdir=READABLE; else echo confdir=denied; fi`,
          'echo "home=$HOME"; touch "$HOME/ok" && echo home=writable',
        ].join('; '),
      });
      const a = await text(attack.id);
      // A leftover that called setsid: out of the task's process group, not out of its
      // cgroup. The task ends only once the leftover has left the group (it writes its
      // pid after setsid), so the task's own group kill cannot catch it by luck.
      const leftover = await platform.admin.enqueueTask(platform.workspaceId, {
        runtime: 'command',
        prompt: "setsid sh -c 'echo $$ > leftover.pid; exec sleep 4242' </dev/null >/dev/null 2>&1 & while [ ! -s leftover.pid ]; do sleep 0.05; done; echo started leftover $(cat leftover.pid)",
      });
      const l = await text(leftover.id);
      // The wall-clock limit: the daemon (agentd) stops a process of agentd-task (CAP_KILL).
      const slow = await platform.admin.enqueueTask(platform.workspaceId, { runtime: 'command', prompt: 'echo slow; exec sleep 4343', timeout_s: 2 });
      const s = await platform.admin.waitForTask(platform.workspaceId, slow.id, (x) => ['completed', 'failed', 'cancelled'].includes(x.status), 60_000);
      writeFileSync(join(dir, 'go-on'), '');
      await closed;

      const kv: Record<string, string> = {};
      for (const line of output.split('\n')) {
        const m = /^([a-z_]+)=(.*)$/.exec(line);
        if (m) kv[m[1]] = m[2];
      }
      const journal = spawnSync('tail', ['-n', '60', join(dir, 'logs', 'journal.txt')], { encoding: 'utf8' }).stdout ?? '';
      const all = `${output}\n--- task 1: ${a}\n--- task 2: ${l}\n--- journal\n${journal}`;
      expect(kv, all).toMatchObject({ install_rc: '0', active: 'active', daemon_user: 'agentd', work_owner: 'agentd-task 700', state_mode: 'agentd 711', go_on: 'yes' });
      expect(kv.task_uid).not.toBe(kv.daemon_uid);
      // The task reports its own uid, and is denied both.
      expect(a, all).toMatch(/^completed /);
      expect(a, all).toContain(`whoami uid=${kv.task_uid} user=agentd-task`);
      expect(a, all).toContain('cred=denied');
      expect(a, all).toContain('environ=denied');
      expect(a, all).toContain('confdir=denied');
      expect(a, all).toContain('home=writable');
      expect(a, all).not.toMatch(/mdt_[0-9a-f]{40}/);
      expect(a, all).not.toContain('READABLE');
      // No survivor 5 s after the task ended, and the service kept running.
      expect(l, all).toMatch(/^completed /);
      expect(kv, all).toMatchObject({ survivors: '0', still_active: 'active', leftover_cgroups: '0' });
      expect([s.status, s.failure_reason], all).toEqual(['failed', 'timeout']);
      expect(kv.slow_survivors, all).toBe('0');
      // Root's re-install touched nothing inside a work dir.
      expect(kv, all).toMatchObject({ force_rc: '0', planted_owner: 'root', force_active: 'active', uninstall_rc: '0' });
    } finally {
      clearTimeout(kill);
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    // One install, three tasks, a deliberate 5 s wait and a re-install under a real
    // systemd: far more than the 30 s default on a loaded 2-core machine.
  }, 300_000);
});
