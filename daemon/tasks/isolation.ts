// How far a task is kept from the daemon (Linux).
//
// Task user (AGENTD_TASK_USER, set by a system install): every task process runs as that
// unprivileged user, not as the daemon's. The daemon holds CAP_SETUID/CAP_SETGID/CAP_KILL
// (the unit's AmbientCapabilities=) only to start tasks as it and signal them; the
// launcher is util-linux `setpriv`, which switches uid/gid, drops supplementary groups
// and clears the inheritable and ambient capability sets before it execs the task, so
// the task holds no capability (NoNewPrivileges: none comes back through a file). The
// task user cannot read the config dir (the credential) or the state dir (0711: it may
// only pass through to its work root), and the daemon's /proc entries are another
// user's (ProtectProc=invisible hides them).
//
// Own cgroup: under systemd with Delegate=yes the service's cgroup belongs to the daemon's
// user. Each task gets a child cgroup `task-<tag>-<id>` (tag: a hash of the state dir, so
// daemons that happen to share a cgroup never touch each other's; one daemon per state
// dir is the lock's job); the launcher moves itself there before
// exec, so every process the task ever starts (setsid and double forks included) is in
// it, and the task's end writes cgroup.kill: nothing of a task outlives it.
//
// Work directories of a task user belong to that user: they are created, stamped and
// removed by small commands run as the task user, never by the daemon walking a tree
// the task can write.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Logger } from 'pino';
import { localUser } from '../../store/ownership.js';
import { createWorkDir, markWorkDirFinished, removeStaleWorkDirs, workDirFor, workFileContent, writeWorkFiles, type WorkFile } from '../../store/workdirs.js';
import type { RunSpec } from './runner.js';
import { findOnPath } from './runtimes.js';

export interface TaskUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** One task's cgroup: kill() empties it (cgroup.kill) and removes it. */
export interface TaskCgroup {
  readonly path: string;
  /** SIGKILL to every process in it, wait until it is empty, rmdir. True when something was still running. */
  kill(): Promise<boolean>;
}

const SH = '/bin/sh';
/** Stage 1 (daemon user): join the task's cgroup, then exec the rest. */
const JOIN_CGROUP = 'echo $$ > "$0" || exit 126; exec "$@"';
/** Stage 2 (task user): make and enter the work dir, then exec the task. */
const ENTER_WORKDIR = 'mkdir -p -m 0700 -- "$0" && cd -- "$0" || exit 126; exec "$@"';
/** As the task user: make the work dir and one file in it ($1, relative), its content on stdin. */
const WRITE_WORK_FILE = 'umask 077; mkdir -p -m 0700 -- "$0" && cd -- "$0" && mkdir -p -- "$(dirname -- "$1")" && cat > "$1"';

export class TaskIsolation {
  readonly user: TaskUser | null;
  /** The daemon's own (delegated) cgroup directory, or null when tasks get none. */
  readonly cgroupRoot: string | null;
  private readonly setpriv: string | null;
  private readonly prefix: string;

  constructor(o: { user: TaskUser | null; cgroupRoot: string | null; setpriv: string | null; stateDir?: string }) {
    this.user = o.user;
    this.cgroupRoot = o.cgroupRoot;
    this.setpriv = o.setpriv;
    this.prefix = `task-${createHash('sha256').update(o.stateDir ?? '').digest('hex').slice(0, 8)}-`;
  }

  /**
   * What this machine gives: the task user when `taskUser` names one (it must exist and
   * the daemon must be able to switch to it, or this throws: tasks never silently run as
   * the daemon's user instead), a cgroup per task when the daemon runs in a delegated one.
   */
  static async detect(o: { taskUser: string | null; stateDir?: string; env?: NodeJS.ProcessEnv; log?: Logger }): Promise<TaskIsolation> {
    const env = o.env ?? process.env;
    let user: TaskUser | null = null;
    let setpriv: string | null = null;
    if (o.taskUser && process.platform === 'darwin') {
      // macOS has no setpriv: the install's sudoers rule lets the daemon's user run
      // commands as the task user and nothing else (-n: never ask for a password).
      const ids = await run('/usr/bin/id', [o.taskUser]);
      const uid = /uid=(\d+)/.exec(ids.stdout)?.[1];
      const gid = /gid=(\d+)/.exec(ids.stdout)?.[1];
      if (!uid || !gid) throw new Error(`AGENTD_TASK_USER=${o.taskUser}: no such user on this machine (agentd install creates it)`);
      const home = /NFSHomeDirectory:\s*(\S+)/.exec((await run('/usr/bin/dscl', ['.', '-read', `/Users/${o.taskUser}`, 'NFSHomeDirectory'])).stdout)?.[1] ?? '/var/empty';
      user = { name: o.taskUser, uid: Number(uid), gid: Number(gid), home };
      setpriv = '/usr/bin/sudo';
      const probe = await run(setpriv, [...switchArgs(user), 'true']);
      if (probe.code !== 0) throw new Error(`cannot start processes as ${o.taskUser} (${probe.stderr.trim() || `exit ${probe.code}`}); the sudoers rule /etc/sudoers.d/agentd is missing (re-run agentd install)`);
    } else if (o.taskUser) {
      const u = localUser(o.taskUser);
      if (!u) throw new Error(`AGENTD_TASK_USER=${o.taskUser}: no such user on this machine (agentd install creates it)`);
      if (typeof process.geteuid === 'function' && u.uid === process.geteuid()) throw new Error(`AGENTD_TASK_USER=${o.taskUser} is the daemon's own user; tasks need a user of their own`);
      setpriv = findOnPath('setpriv', { PATH: `${env.PATH ?? ''}:/usr/bin:/bin:/usr/sbin:/sbin` });
      if (!setpriv) throw new Error('AGENTD_TASK_USER is set but setpriv (util-linux) is not installed');
      user = { name: o.taskUser, uid: u.uid, gid: u.gid, home: u.home };
      const probe = await run(setpriv, [...switchArgs(user), 'true']);
      if (probe.code !== 0) {
        throw new Error(`cannot start processes as ${o.taskUser} (${probe.stderr.trim() || `exit ${probe.code}`}); the service needs AmbientCapabilities=CAP_SETUID CAP_SETGID CAP_KILL (re-run agentd install)`);
      }
    }
    const cgroupRoot = delegatedCgroup(env);
    o.log?.info({ task_user: user?.name ?? null, task_cgroups: cgroupRoot !== null }, 'task isolation');
    return new TaskIsolation({ user, cgroupRoot, setpriv, ...(o.stateDir ? { stateDir: o.stateDir } : {}) });
  }

  /** No task user, no cgroups: tasks run as the daemon's user in their process group only. */
  static none(): TaskIsolation {
    return new TaskIsolation({ user: null, cgroupRoot: null, setpriv: null });
  }

  /** The work dir's path; created here unless the task user creates it itself at launch. */
  async prepareWorkDir(workRoot: string, taskId: string): Promise<string> {
    if (this.user) return workDirFor(workRoot, taskId);
    return createWorkDir(workRoot, taskId);
  }

  /**
   * Brief files into the work dir. With a task user they are written by that user (the
   * daemon may not enter its 0700 work dir, and must not write into a tree the task
   * owns): one small command per file, the content on stdin (never in argv). That work
   * dir is new for every task, so a marked block is the whole file there.
   */
  async writeWorkFiles(workDir: string, files: readonly WorkFile[]): Promise<void> {
    if (!this.user || !this.setpriv) return writeWorkFiles(workDir, files);
    for (const f of files) {
      if (isAbsolute(f.path) || f.path.split('/').includes('..')) throw new Error(`${f.path} is outside the work directory`);
      const r = await run(this.setpriv, [...switchArgs(this.user), SH, '-c', WRITE_WORK_FILE, workDir, f.path], workFileContent(f, null));
      if (r.code !== 0) throw new Error(`could not write ${f.path} as ${this.user.name}: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
  }

  /** What the runner spawns for `spec`, and the task's cgroup (null without one). */
  launch(spec: RunSpec, taskId: string): { spec: RunSpec; cgroup: TaskCgroup | null } {
    let file = spec.file;
    let args = spec.args;
    let cwd = spec.cwd;
    let env = spec.env;
    if (this.user && this.setpriv) {
      // The daemon's user may not enter the task's 0700 work dir: the task user does.
      args = [...switchArgs(this.user), SH, '-c', ENTER_WORKDIR, spec.cwd, file, ...args];
      file = this.setpriv;
      cwd = '/';
      env = { ...spec.env, HOME: this.user.home, USER: this.user.name, LOGNAME: this.user.name };
    }
    let cgroup: TaskCgroup | null = null;
    if (this.cgroupRoot) {
      const path = join(this.cgroupRoot, `${this.prefix}${taskId}`);
      try {
        mkdirSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      cgroup = cgroupAt(path);
      args = ['-c', JOIN_CGROUP, join(path, 'cgroup.procs'), file, ...args];
      file = SH;
    }
    return { spec: { ...spec, file, args, cwd, env }, cgroup };
  }

  /** Stamp the finish time retention counts from. */
  async finishWorkDir(dir: string): Promise<void> {
    if (!this.user) return markWorkDirFinished(dir);
    await this.asTaskUser(['touch', '-c', '--', dir]);
  }

  /** Remove finished work dirs older than `olderThanMs`, except `keep`. Returns the count. */
  async sweepWorkDirs(workRoot: string, olderThanMs: number, keep: ReadonlySet<string>): Promise<number> {
    if (!this.user) return removeStaleWorkDirs(workRoot, olderThanMs, keep);
    const minutes = Math.max(1, Math.ceil(olderThanMs / 60_000));
    const not = [...keep].flatMap((k) => ['!', '-name', k]);
    const r = await this.asTaskUser(['find', workRoot, '-mindepth', '1', '-maxdepth', '1', '-type', 'd', '-mmin', `+${minutes}`, ...not, '-print', '-exec', 'rm', '-rf', '--', '{}', '+']);
    return r.stdout.split('\n').filter(Boolean).length;
  }

  /** Kill and remove task cgroups a previous daemon process left (a crash). Returns how many held processes. */
  async killLeftovers(): Promise<number> {
    if (!this.cgroupRoot) return 0;
    let n = 0;
    for (const name of safeReaddir(this.cgroupRoot)) {
      if (!name.startsWith(this.prefix)) continue;
      if (await cgroupAt(join(this.cgroupRoot, name)).kill()) n++;
    }
    return n;
  }

  private async asTaskUser(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    if (!this.user || !this.setpriv) throw new Error('no task user');
    return run(this.setpriv, [...switchArgs(this.user), ...argv]);
  }
}

/** The launcher's arguments up to the command: setpriv (Linux) or sudo (macOS). */
function switchArgs(u: TaskUser): string[] {
  if (process.platform === 'darwin') return ['-n', '-E', '-H', '-u', u.name, '--'];
  return [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--'];
}

function run(file: string, args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd: '/', timeout: 60_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

/**
 * The daemon's cgroup (v2) when it may make child cgroups there: a systemd service
 * (INVOCATION_ID) whose cgroup is delegated to it (Delegate=yes: writable, with
 * cgroup.kill, Linux 5.14+) and distributes no controllers (processes may then sit in
 * it and in its children). Anything else: null, tasks get process groups only.
 */
export function delegatedCgroup(env: NodeJS.ProcessEnv = process.env, proc = '/proc/self/cgroup', mount = '/sys/fs/cgroup'): string | null {
  if (process.platform !== 'linux' || !env.INVOCATION_ID) return null;
  let rel: string | undefined;
  try {
    rel = readFileSync(proc, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'))
      ?.slice(3);
  } catch {
    return null;
  }
  if (!rel || rel === '/') return null;
  const dir = join(mount, rel);
  try {
    if (!existsSync(join(dir, 'cgroup.kill'))) return null;
    accessSync(dir, constants.W_OK);
    accessSync(join(dir, 'cgroup.procs'), constants.W_OK);
    if (readFileSync(join(dir, 'cgroup.subtree_control'), 'utf8').trim() !== '') return null;
  } catch {
    return null;
  }
  return dir;
}

function cgroupAt(path: string): TaskCgroup {
  let done: Promise<boolean> | null = null;
  return {
    path,
    kill: () => (done ??= killCgroup(path)),
  };
}

async function killCgroup(path: string): Promise<boolean> {
  const populated = (): boolean | null => {
    try {
      return /^populated 1$/m.test(readFileSync(join(path, 'cgroup.events'), 'utf8'));
    } catch {
      return null; // gone
    }
  };
  const was = populated();
  if (was === null) return false;
  if (was) {
    try {
      writeFileSync(join(path, 'cgroup.kill'), '1');
    } catch {
      // removed meanwhile
    }
    // SIGKILL cannot be caught: the cgroup empties as soon as the kernel has reaped them.
    for (let i = 0; i < 250 && populated(); i++) await new Promise((r) => setTimeout(r, 20));
  }
  try {
    rmdirSync(path);
  } catch {
    // still busy or already gone: the next start removes it
  }
  return was;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
