// launchd: renders launchd/agentd.plist as a LaunchDaemon (system, /Library/LaunchDaemons,
// domain `system`) or a LaunchAgent (per user, ~/Library/LaunchAgents, domain
// `gui/<uid>`), and drives it with `launchctl bootstrap / bootout / kickstart` and an
// explicit domain, never the deprecated load/unload. Every launchctl call goes through
// installer/exec.ts, which finds `launchctl` on PATH (tests put a recording fake there).
import { homedir as osHomedir } from 'node:os';
import { join } from 'node:path';
import { promises as fs } from 'node:fs';
import { claimServiceDirs, removeServiceFile, writeServiceFile, ensureServiceDir } from '../store/service-files.js';
import { systemPath } from '../store/paths.js';

/** The sudoers drop-in of a system install (macOS): daemon user → task user only. */
export const SUDOERS_FILE = '/etc/sudoers.d/agentd';
import { execCommand, formatCommand, toolOutput, type ExecResult } from './exec.js';
import { readTemplate, renderTemplate } from './template.js';
import {
  checkUserName,
  daemonArgv,
  needsRoot,
  resolveAgentdCommand,
  ServiceError,
  type ServiceManager,
  type ServiceOptions,
  type ServiceState,
} from './service.js';

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface LaunchdRenderInput {
  label: string;
  programArguments: string[];
  stateDir: string;
  logDir: string;
  /** LaunchDaemon only: the daemon's user and its tasks' user (never root). */
  system?: { user: string; group: string; taskUser: string };
}

/** The plist text (pure: unit tests and --dry-run use it). */
export function renderLaunchdPlist(i: LaunchdRenderInput, template = readTemplate('launchd/agentd.plist')): string {
  return renderTemplate(
    template,
    {
      LABEL: xmlEscape(i.label),
      PROGRAM_ARGUMENTS: i.programArguments.map((a) => `    <string>${xmlEscape(a)}</string>`).join('\n'),
      STATE_DIR: xmlEscape(i.stateDir),
      LOG_DIR: xmlEscape(i.logDir),
      USER: xmlEscape(i.system?.user ?? ''),
      GROUP: xmlEscape(i.system?.group ?? ''),
      TASK_USER: xmlEscape(i.system?.taskUser ?? ''),
    },
    { system: i.system !== undefined },
  );
}

export class LaunchdService implements ServiceManager {
  readonly kind = 'launchd' as const;
  readonly unitPath: string;
  readonly label: string;
  /** `system` or `gui/<uid>`. */
  readonly domain: string;
  private readonly o: ServiceOptions;
  private readonly uid: number;
  private readonly logDir: string;
  private readonly user: string;
  private readonly taskUser: string;

  constructor(o: ServiceOptions) {
    this.o = o;
    // Leading underscore: the macOS convention for service accounts (hidden from the login window).
    this.user = o.serviceUser ?? '_agentd';
    this.taskUser = checkUserName(o.taskUser ?? ((o.env ?? process.env).AGENTD_TASK_USER || '_agentdtask'), 'the task user (AGENTD_TASK_USER)');
    checkUserName(this.user, 'the service user');
    this.uid = o.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0);
    this.label = `io.agentd.${o.name ?? 'agentd'}`;
    const env = o.env ?? process.env;
    const home = o.homedir ?? (env.HOME || osHomedir());
    const system = o.mode === 'system';
    this.domain = system ? 'system' : `gui/${this.uid}`;
    this.unitPath = system ? join(systemPath('/Library/LaunchDaemons', env), `${this.label}.plist`) : join(home, 'Library', 'LaunchAgents', `${this.label}.plist`);
    this.logDir = o.paths.logDir ?? (system ? systemPath('/Library/Logs/agentd', env) : join(home, 'Library', 'Logs', 'agentd'));
  }

  /** `<domain>/<label>`: what kickstart, bootout and print name. */
  get target(): string {
    return `${this.domain}/${this.label}`;
  }

  render(): string {
    const agentd = this.o.agentdCommand ?? resolveAgentdCommand(this.o.env);
    return renderLaunchdPlist({
      label: this.label,
      programArguments: daemonArgv(agentd, this.o.mode, this.o.paths),
      stateDir: this.o.paths.stateDir,
      logDir: this.logDir,
      ...(this.o.mode === 'system' ? { system: { user: this.user, group: this.user, taskUser: this.taskUser } } : {}),
    });
  }

  /** The sudoers rule that lets the daemon's user start tasks as the task user, and nothing else. */
  sudoersRule(): string {
    return `# Written by agentd install: the agentd daemon (${this.user}) may start its tasks as ${this.taskUser}, nothing else.\n${this.user} ALL=(${this.taskUser}) NOPASSWD:SETENV: ALL\n`;
  }

  plan(): string[] {
    const system = this.o.mode === 'system'
      ? [`dscl . -read /Users/${this.user} || dscl . -create /Users/${this.user} …   # hidden service user`, `dscl . -read /Users/${this.taskUser} || dscl . -create /Users/${this.taskUser} …   # task user`, `write ${SUDOERS_FILE}`, `chown ${this.user} ${this.o.paths.configDir} ${this.o.paths.stateDir}; chown ${this.taskUser} ${this.o.paths.workRoot} ${this.o.paths.taskHome}`]
      : [];
    return [
      ...system,
      `mkdir -p ${this.logDir} ${this.o.paths.stateDir}`,
      `write ${this.unitPath}`,
      formatCommand('launchctl', ['bootout', this.target]) + '   # if already loaded',
      formatCommand('launchctl', ['bootstrap', this.domain, this.unitPath]),
      formatCommand('launchctl', ['enable', this.target]),
      formatCommand('launchctl', ['kickstart', '-k', this.target]),
    ];
  }

  async install(): Promise<void> {
    if (this.o.mode === 'system' && this.uid !== 0) throw needsRoot(this.unitPath);
    await ensureServiceDir(this.logDir, 0o755);
    if (this.o.mode === 'system') {
      const svc = await this.ensureMacUser(this.user, 'agentd host daemon', this.o.paths.stateDir);
      const task = await this.ensureMacUser(this.taskUser, 'agentd tasks', this.o.paths.taskHome);
      if (task.uid === svc.uid) throw new ServiceError(`the task user ${this.taskUser} is the service user; tasks need a user of their own`, '', { uid: this.uid });
      await claimServiceDirs(this.o.paths, svc, task, this.user);
      await writeServiceFile(this.o.sudoersFile ?? SUDOERS_FILE, this.sudoersRule(), 0o755, 0o440);
    } else {
      await ensureServiceDir(this.o.paths.stateDir, 0o700);
    }
    const changed = await writeServiceFile(this.unitPath, this.render());
    const loaded = await this.isLoaded();
    if (changed && loaded) await this.launchctl('bootout', this.target); // reload the new plist
    if (changed || !loaded) await this.bootstrap();
    await this.must('enable the service', ['enable', this.target]);
  }

  async uninstall(): Promise<void> {
    let first: Error | undefined;
    if (await this.isLoaded()) {
      const r = await this.launchctl('bootout', this.target);
      if (r.code !== 0 && !notLoaded(r)) first = new ServiceError(`could not stop ${this.label}`, toolOutput(r), { uid: this.uid });
    }
    await removeServiceFile(this.unitPath).catch((e: unknown) => {
      if (!first && e instanceof Error) first = e;
    });
    // The daemon's right to start processes as the task user goes with the service.
    if (this.o.mode === 'system') {
      await removeServiceFile(this.o.sudoersFile ?? SUDOERS_FILE).catch((e: unknown) => {
        if (!first && e instanceof Error) first = e;
      });
    }
    if (first) throw first;
  }

  async start(): Promise<void> {
    if (!(await this.isLoaded())) await this.bootstrap();
    await this.must('start the service', ['kickstart', this.target]);
  }

  /** bootout: SIGTERM, ExitTimeOut, SIGKILL; it stays unloaded until start(). */
  async stop(): Promise<void> {
    if (!(await this.isLoaded())) return;
    const r = await this.launchctl('bootout', this.target);
    if (r.code !== 0 && !notLoaded(r)) throw new ServiceError(`could not stop ${this.label}`, toolOutput(r), { uid: this.uid });
  }

  async restart(): Promise<void> {
    if (!(await this.isLoaded())) return this.start();
    await this.must('restart the service', ['kickstart', '-k', this.target]);
  }

  async isActive(): Promise<boolean> {
    return (await this.state()).active === 'running';
  }

  async isInstalled(): Promise<boolean> {
    return fs.stat(this.unitPath).then(
      () => true,
      () => false,
    );
  }

  async state(): Promise<ServiceState> {
    const installed = await this.isInstalled();
    const r = await this.launchctl('print', this.target);
    if (r.code !== 0) return { installed, active: 'not loaded', sub: '' };
    const p = parseLaunchctlPrint(r.stdout);
    return {
      installed,
      active: p.state ?? 'unknown',
      sub: p.state === 'running' ? 'running' : 'waiting',
      ...(p.pid ? { mainPid: p.pid } : {}),
      ...(p.lastExit !== undefined ? { exitStatus: p.lastExit } : {}),
      ...(p.runs !== undefined ? { restarts: Math.max(0, p.runs - 1) } : {}),
    };
  }

  async describe(): Promise<string> {
    const s = await this.state();
    if (!s.installed) return `${this.label} is not installed`;
    return `${this.label} (${this.domain}): ${s.active}${s.mainPid ? `, pid ${s.mainPid}` : ''}${s.exitStatus !== undefined ? `, last exit ${s.exitStatus}` : ''}`;
  }

  logsHint(): string {
    return `tail -n 50 ${join(this.logDir, 'agentd.log')}`;
  }

  /** A hidden service account (dscl): looked up, created with a free id below 500 when missing. */
  private async ensureMacUser(name: string, comment: string, home: string): Promise<{ uid: number; gid: number }> {
    const read = async (): Promise<{ uid: number; gid: number } | null> => {
      const r = await this.dscl('-read', `/Users/${name}`, 'UniqueID', 'PrimaryGroupID');
      const uid = /UniqueID:\s*(\d+)/.exec(r.stdout)?.[1];
      const gid = /PrimaryGroupID:\s*(\d+)/.exec(r.stdout)?.[1];
      return r.code === 0 && uid && gid ? { uid: Number(uid), gid: Number(gid) } : null;
    };
    const found = await read();
    if (found) return found;
    const taken = new Set<number>();
    for (const kind of ['/Users UniqueID', '/Groups PrimaryGroupID']) {
      const r = await this.dscl('-list', ...kind.split(' '));
      for (const m of r.stdout.matchAll(/\s(\d+)\s*$/gm)) taken.add(Number(m[1]));
    }
    let id = 499;
    while (id > 200 && taken.has(id)) id--;
    if (taken.has(id)) throw new ServiceError(`could not find a free id for the user ${name}`, '', { uid: this.uid });
    const steps: string[][] = [
      ['-create', `/Groups/${name}`, 'PrimaryGroupID', String(id)],
      ['-create', `/Users/${name}`, 'UniqueID', String(id)],
      ['-create', `/Users/${name}`, 'PrimaryGroupID', String(id)],
      ['-create', `/Users/${name}`, 'UserShell', '/usr/bin/false'],
      ['-create', `/Users/${name}`, 'NFSHomeDirectory', home],
      ['-create', `/Users/${name}`, 'RealName', comment],
      ['-create', `/Users/${name}`, 'IsHidden', '1'],
    ];
    for (const s of steps) {
      const r = await this.dscl(...s);
      if (r.code !== 0) throw new ServiceError(`could not create the user ${name}`, toolOutput(r), { uid: this.uid });
    }
    const made = await read();
    if (!made) throw new ServiceError(`could not look up the user ${name} after creating it`, '', { uid: this.uid });
    return made;
  }

  private dscl(...args: string[]): Promise<ExecResult> {
    return execCommand('dscl', ['.', ...args], { env: this.o.env });
  }

  private async isLoaded(): Promise<boolean> {
    return (await this.launchctl('print', this.target)).code === 0;
  }

  private async bootstrap(): Promise<void> {
    await this.must('load the service', ['bootstrap', this.domain, this.unitPath]);
  }

  private launchctl(...args: string[]): Promise<ExecResult> {
    return execCommand('launchctl', args, { env: this.o.env });
  }

  private async must(what: string, args: string[]): Promise<void> {
    const r = await this.launchctl(...args);
    if (r.code !== 0) throw new ServiceError(`could not ${what} (launchctl ${args.join(' ')})`, toolOutput(r), { uid: this.uid, hint: `See the logs: ${this.logsHint()}` });
  }
}

function notLoaded(r: ExecResult): boolean {
  // bootout of something not loaded: 3 "No such process", 113 "Could not find service".
  return r.code === 3 || r.code === 113 || /No such process|Could not find/i.test(r.stderr);
}

/** The few fields `launchctl print <domain>/<label>` shows that status needs. */
export function parseLaunchctlPrint(text: string): { state?: string; pid?: number; lastExit?: number; runs?: number } {
  const get = (key: string): string | undefined => new RegExp(`^\\s*${key} = (.*)$`, 'm').exec(text)?.[1]?.trim();
  const num = (v: string | undefined): number | undefined => (v !== undefined && /^-?\d+/.test(v) ? parseInt(v, 10) : undefined);
  const state = get('state');
  return {
    ...(state ? { state } : {}),
    ...(num(get('pid')) ? { pid: num(get('pid')) } : {}),
    ...(num(get('last exit code')) !== undefined ? { lastExit: num(get('last exit code')) } : {}),
    ...(num(get('runs')) !== undefined ? { runs: num(get('runs')) } : {}),
  };
}
