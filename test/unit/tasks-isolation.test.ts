// daemon/tasks/isolation.ts without systemd: when a cgroup per task is used (only a
// delegated one under a systemd service), what the launcher's argv looks like, and that
// a task user that cannot be used stops tasks instead of running them as the daemon.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskIsolation, delegatedCgroup } from '../../daemon/tasks/isolation.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentd-isolation-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A fake cgroup2 mount with the daemon's cgroup `rel` and its interface files. */
function fakeCgroup(rel: string, o: { subtree?: string; kill?: boolean } = {}): { proc: string; mount: string } {
  const mount = join(dir, 'cg');
  const cg = join(mount, rel);
  mkdirSync(cg, { recursive: true });
  writeFileSync(join(cg, 'cgroup.procs'), '');
  writeFileSync(join(cg, 'cgroup.subtree_control'), o.subtree ?? '');
  if (o.kill !== false) writeFileSync(join(cg, 'cgroup.kill'), '');
  const proc = join(dir, 'self-cgroup');
  writeFileSync(proc, `0::/${rel}\n`);
  return { proc, mount };
}

describe.skipIf(process.platform !== 'linux')('delegatedCgroup', () => {
  it('a systemd service in a writable cgroup with cgroup.kill and no controllers below: that cgroup', () => {
    const f = fakeCgroup('system.slice/agentd.service');
    expect(delegatedCgroup({ INVOCATION_ID: 'x' }, f.proc, f.mount)).toBe(join(f.mount, 'system.slice/agentd.service'));
  });
  it('not a systemd service, no cgroup.kill (old kernel), controllers enabled below, or the root cgroup: none', () => {
    const f = fakeCgroup('system.slice/agentd.service');
    expect(delegatedCgroup({}, f.proc, f.mount)).toBeNull();
    const old = fakeCgroup('a.service', { kill: false });
    expect(delegatedCgroup({ INVOCATION_ID: 'x' }, old.proc, old.mount)).toBeNull();
    const busy = fakeCgroup('b.service', { subtree: 'memory pids' });
    expect(delegatedCgroup({ INVOCATION_ID: 'x' }, busy.proc, busy.mount)).toBeNull();
    writeFileSync(join(dir, 'root'), '0::/\n');
    expect(delegatedCgroup({ INVOCATION_ID: 'x' }, join(dir, 'root'), f.mount)).toBeNull();
  });
});

describe('launch', () => {
  const spec = { file: '/bin/sh', args: ['-c', 'echo hi'], cwd: '/state/work/t1', env: { PATH: '/usr/bin', HOME: '/state' }, stdin: null };

  it('no task user, no cgroup: the task as it is', () => {
    const l = TaskIsolation.none().launch(spec, 't1');
    expect(l.spec).toEqual(spec);
    expect(l.cgroup).toBeNull();
  });

  it.skipIf(process.platform !== 'linux')('task user + cgroup: join the cgroup, switch user dropping every capability, make and enter the work dir, exec the task', () => {
    const root = join(dir, 'svc');
    mkdirSync(root);
    const iso = new TaskIsolation({ user: { name: 'agentd-task', uid: 995, gid: 994, home: '/state/task-home' }, cgroupRoot: root, setpriv: '/usr/bin/setpriv', stateDir: '/state' });
    const l = iso.launch(spec, 't1');
    // task-<hash of the state dir>-<task id>: daemons sharing a cgroup keep apart.
    expect(l.cgroup?.path).toMatch(new RegExp(`^${root}/task-[0-9a-f]{8}-t1$`));
    const cg = l.cgroup!.path;
    expect(l.spec.file).toBe('/bin/sh');
    const a = l.spec.args;
    expect(a.slice(0, 4)).toEqual(['-c', 'echo $$ > "$0" || exit 126; exec "$@"', join(cg, 'cgroup.procs'), '/usr/bin/setpriv']);
    expect(a.slice(4, 11)).toEqual(['--reuid=995', '--regid=994', '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--', '/bin/sh']);
    expect(a.slice(-4)).toEqual(['/state/work/t1', '/bin/sh', '-c', 'echo hi']);
    // The daemon's user cannot enter the task's 0700 work dir: the task user cds there.
    expect(l.spec.cwd).toBe('/');
    expect(l.spec.env).toMatchObject({ HOME: '/state/task-home', USER: 'agentd-task', LOGNAME: 'agentd-task', PATH: '/usr/bin' });
  });

  it('a task user that does not exist fails detection (tasks then fail; they never run as the daemon)', async () => {
    await expect(TaskIsolation.detect({ taskUser: 'no-such-user-agentd', env: {} })).rejects.toThrow(/no such user/);
  });
});
