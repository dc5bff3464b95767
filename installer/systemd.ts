// systemd: renders systemd/agentd.service for the system service (dedicated `agentd`
// user, /etc/systemd/system) or the per-user service (~/.config/systemd/user), and
// drives it with systemctl. Every command goes through installer/exec.ts.
import { homedir as osHomedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promises as fs } from 'node:fs';
import { claimServiceDirs, removeServiceDropins, removeServiceFile, writeServiceFile } from '../store/service-files.js';
import { systemPath } from '../store/paths.js';
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

export const SYSTEM_UNIT_DIR = '/etc/systemd/system';
const DEFAULT_CONFIG_DIR = '/etc/agentd';
const DEFAULT_STATE_DIR = '/var/lib/agentd';

/** Quotes one ExecStart= word: systemd splits on blanks, expands % specifiers and $VARS. */
export function quoteExecArg(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[\w@+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export interface SystemdRenderInput {
  mode: 'system' | 'user';
  execStart: string[];
  configDir: string;
  stateDir: string;
  user: string;
  group: string;
  /** AGENTD_TASK_USER of the system service (default agentd-task). */
  taskUser?: string;
}

/** The unit text for these settings (pure: unit tests and --dry-run use it). */
export function renderSystemdUnit(i: SystemdRenderInput, template = readTemplate('systemd/agentd.service')): string {
  const system = i.mode === 'system';
  // StateDirectory=/ConfigurationDirectory= only name paths under /var/lib and /etc, and
  // only for the system manager; anything else is created by `agentd install`.
  const managedState = system && i.stateDir === DEFAULT_STATE_DIR;
  const managedConfig = system && i.configDir === DEFAULT_CONFIG_DIR;
  return renderTemplate(
    template,
    {
      EXEC_START: i.execStart.map(quoteExecArg).join(' '),
      USER: i.user,
      GROUP: i.group,
      STATE_DIR: quoteExecArg(i.stateDir),
      TASK_USER: i.taskUser ?? 'agentd-task',
    },
    {
      system,
      user: !system,
      managed_state: managedState,
      custom_state: !managedState,
      managed_config: managedConfig,
      custom_config: !managedConfig,
    },
  );
}

export class SystemdService implements ServiceManager {
  readonly kind = 'systemd' as const;
  readonly unitPath: string;
  readonly unitName: string;
  private readonly o: ServiceOptions;
  private readonly user: string;
  private readonly taskUser: string;
  private readonly uid: number;

  constructor(o: ServiceOptions) {
    this.o = o;
    this.unitName = `${o.name ?? 'agentd'}.service`;
    this.uid = o.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0);
    this.user = o.serviceUser ?? 'agentd';
    const env = o.env ?? process.env;
    this.taskUser = checkUserName(o.taskUser ?? (env.AGENTD_TASK_USER || 'agentd-task'), 'the task user (AGENTD_TASK_USER)');
    checkUserName(this.user, 'the service user');
    const home = o.homedir ?? (env.HOME || osHomedir());
    const xdgConfig = env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
    this.unitPath = o.mode === 'system' ? join(systemPath(SYSTEM_UNIT_DIR, env), this.unitName) : join(xdgConfig, 'systemd', 'user', this.unitName);
  }

  render(): string {
    const agentd = this.o.agentdCommand ?? resolveAgentdCommand(this.o.env);
    return renderSystemdUnit({
      mode: this.o.mode,
      execStart: daemonArgv(agentd, this.o.mode, this.o.paths),
      configDir: this.o.paths.configDir,
      stateDir: this.o.paths.stateDir,
      user: this.user,
      group: this.user,
      taskUser: this.taskUser,
    });
  }

  plan(): string[] {
    const cmds: string[] = [];
    if (this.o.mode === 'system') {
      cmds.push(`getent passwd ${this.user} || ${formatCommand('useradd', this.useraddArgs())}`);
      cmds.push(`getent passwd ${this.taskUser} || ${formatCommand('useradd', this.taskUseraddArgs())}`);
      const p = this.o.paths;
      cmds.push(`chown ${this.user}: ${p.configDir} ${p.configFile} ${p.credentialsFile} ${p.stateDir}   # each path only, never a tree`);
      cmds.push(`chown ${this.taskUser}: ${p.workRoot} ${p.taskHome}`);
    }
    cmds.push(`write ${this.unitPath}`);
    cmds.push(formatCommand('systemctl', this.ctl('daemon-reload')));
    cmds.push(formatCommand('systemctl', this.ctl('enable', this.unitName)));
    if (this.o.mode === 'user') cmds.push(formatCommand('loginctl', ['enable-linger', this.loginName()]));
    cmds.push(formatCommand('systemctl', this.ctl('restart', '--no-block', this.unitName)));
    return cmds;
  }

  async install(): Promise<void> {
    if (this.o.mode === 'system') {
      if (this.uid !== 0) throw needsRoot(this.unitPath);
      const ids = await this.ensureUser(this.user, this.useraddArgs());
      const task = await this.ensureUser(this.taskUser, this.taskUseraddArgs());
      if (task.uid === ids.uid) throw new ServiceError(`the task user ${this.taskUser} is the service user; tasks need a user of their own`, '', { uid: this.uid });
      await claimServiceDirs(this.o.paths, ids, task, this.user);
    }
    await writeServiceFile(this.unitPath, this.render());
    await this.must('reload systemd', this.ctl('daemon-reload'));
    await this.must(`enable ${this.unitName}`, this.ctl('enable', this.unitName));
  }

  async uninstall(): Promise<void> {
    // Best effort: keep going, report the first real failure at the end.
    let first: Error | undefined;
    const note = (e: unknown): void => {
      if (!first && e instanceof Error) first = e;
    };
    // Nothing installed (e.g. enrolled with --no-service): nothing to tell systemd.
    if (!(await this.isInstalled())) return;
    await this.stop().catch(note);
    const d = await this.ctl$('disable', this.unitName);
    if (d.code !== 0 && !notLoaded(d)) note(new ServiceError(`could not disable ${this.unitName}`, toolOutput(d), { uid: this.uid }));
    await removeServiceFile(this.unitPath).catch(note);
    await removeServiceDropins(`${this.unitPath}.d`).catch(note);
    const r = await this.ctl$('daemon-reload');
    if (r.code !== 0) note(new ServiceError('could not reload systemd', toolOutput(r), { uid: this.uid }));
    await this.ctl$('reset-failed', this.unitName);
    if (first) throw first;
  }

  async start(): Promise<void> {
    // --no-block: the caller waits for /readyz itself, with its own timeout and a clear
    // message, instead of systemctl blocking until TimeoutStartSec.
    await this.must(`start ${this.unitName}`, this.ctl('start', '--no-block', this.unitName));
  }

  async stop(): Promise<void> {
    const r = await this.ctl$('stop', this.unitName);
    if (r.code !== 0 && !notLoaded(r)) throw new ServiceError(`could not stop ${this.unitName}`, toolOutput(r), { uid: this.uid, hint: this.logsHint() });
  }

  async restart(): Promise<void> {
    // A unit that hit its start limit refuses to start until reset.
    await this.ctl$('reset-failed', this.unitName);
    await this.must(`restart ${this.unitName}`, this.ctl('restart', '--no-block', this.unitName));
  }

  async isActive(): Promise<boolean> {
    return (await this.ctl$('is-active', '--quiet', this.unitName)).code === 0;
  }

  async isInstalled(): Promise<boolean> {
    return fs.stat(this.unitPath).then(
      () => true,
      () => false,
    );
  }

  async state(): Promise<ServiceState> {
    const props = ['LoadState', 'UnitFileState', 'ActiveState', 'SubState', 'MainPID', 'Result', 'ExecMainStatus', 'ExecMainCode', 'NRestarts', 'StateChangeTimestamp', 'ActiveEnterTimestamp'];
    const r = await this.ctl$('show', '--timestamp=unix', ...props.map((p) => `--property=${p}`), this.unitName);
    const installed = await this.isInstalled();
    if (r.code !== 0) return { installed, active: 'unknown', sub: toolOutput(r) };
    const kv = parseShow(r.stdout);
    const since = parseUnixTimestamp(kv.StateChangeTimestamp);
    const pid = Number(kv.MainPID);
    const code = Number(kv.ExecMainCode);
    return {
      installed: installed || kv.LoadState === 'loaded',
      ...(kv.UnitFileState ? { enabled: kv.UnitFileState === 'enabled' || kv.UnitFileState === 'enabled-runtime' } : {}),
      active: kv.ActiveState ?? 'unknown',
      sub: kv.SubState ?? '',
      ...(since ? { since } : {}),
      ...(pid > 0 ? { mainPid: pid } : {}),
      ...(kv.Result ? { result: kv.Result } : {}),
      // ExecMainCode 1 = CLD_EXITED: ExecMainStatus is an exit status (not a signal).
      ...(code === 1 && kv.ExecMainStatus !== undefined ? { exitStatus: Number(kv.ExecMainStatus) } : {}),
      ...(kv.NRestarts !== undefined ? { restarts: Number(kv.NRestarts) } : {}),
    };
  }

  async describe(): Promise<string> {
    const s = await this.state();
    if (!s.installed) return `${this.unitName} is not installed`;
    const parts = [`${this.unitName}: ${s.active} (${s.sub})`];
    if (s.since) parts.push(`since ${s.since}`);
    if (s.result && s.result !== 'success') parts.push(`last result: ${s.result}${s.exitStatus !== undefined ? ` (exit ${s.exitStatus})` : ''}`);
    return parts.join(', ');
  }

  logsHint(): string {
    return this.o.mode === 'user' ? `journalctl --user -u ${this.unitName} -n 50` : `journalctl -u ${this.unitName} -n 50`;
  }

  /** The login name that `loginctl enable-linger` needs (user mode). */
  loginName(): string {
    const env = this.o.env ?? process.env;
    return env.USER || env.LOGNAME || userInfo().username;
  }

  /** `loginctl enable-linger`: the user manager (and agentd) keep running after logout. */
  async enableLinger(): Promise<ExecResult> {
    return execCommand('loginctl', ['enable-linger', this.loginName()], { env: this.o.env });
  }

  /** A per-user unit only: a system service does not depend on a login. */
  get keepRunningAfterLogout(): (() => Promise<{ ok: boolean; command: string; detail: string }>) | undefined {
    if (this.o.mode !== 'user') return undefined;
    return async () => {
      const r = await this.enableLinger();
      return { ok: r.code === 0, command: `loginctl enable-linger ${this.loginName()}`, detail: toolOutput(r).split('\n')[0] ?? '' };
    };
  }

  private taskUseraddArgs(): string[] {
    return ['--system', '--user-group', '--home-dir', this.o.paths.taskHome, '--no-create-home', '--shell', '/usr/sbin/nologin', '--comment', 'agentd tasks', this.taskUser];
  }

  private useraddArgs(): string[] {
    return ['--system', '--user-group', '--home-dir', this.o.paths.stateDir, '--no-create-home', '--shell', '/usr/sbin/nologin', '--comment', 'agentd host daemon', this.user];
  }

  /** A dedicated system user (service or tasks): looked up, created when missing (useradd --system). */
  private async ensureUser(name: string, useradd: string[]): Promise<{ uid: number; gid: number }> {
    let r = await execCommand('getent', ['passwd', name]);
    if (r.code === 2) {
      const add = await execCommand('useradd', useradd);
      if (add.code !== 0 && add.code !== 9 /* already exists: a concurrent install */) {
        throw new ServiceError(`could not create the system user ${name}`, toolOutput(add), { uid: this.uid });
      }
      r = await execCommand('getent', ['passwd', name]);
    }
    const fields = r.stdout.trim().split(':');
    if (r.code !== 0 || fields.length < 4) throw new ServiceError(`could not look up the system user ${name}`, toolOutput(r), { uid: this.uid });
    return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }

  private ctl(...args: string[]): string[] {
    return this.o.mode === 'user' ? ['--user', ...args] : args;
  }

  private ctl$(...args: string[]): Promise<ExecResult> {
    return execCommand('systemctl', this.ctl(...args), { env: this.o.env });
  }

  private async must(what: string, args: string[]): Promise<void> {
    const r = await execCommand('systemctl', args, { env: this.o.env });
    if (r.code !== 0) {
      const out = toolOutput(r);
      const hint =
        this.o.mode === 'user' && /bus|XDG_RUNTIME_DIR|Failed to connect/i.test(out)
          ? 'The per-user systemd is not reachable from this shell (no login session?). Log in as this user directly (not via su), or install the system service with sudo.'
          : /start/.test(what)
            ? `See the logs: ${this.logsHint()}`
            : undefined;
      throw new ServiceError(`could not ${what}`, out, { uid: this.uid, ...(hint ? { hint } : {}) });
    }
  }
}

function notLoaded(r: ExecResult): boolean {
  return /not loaded|does not exist|not found|No such file/i.test(r.stderr);
}

/** `systemctl show` output: KEY=VALUE lines. */
export function parseShow(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** `--timestamp=unix` gives "@1700000000"; empty or "n/a" when never. */
function parseUnixTimestamp(v: string | undefined): string | undefined {
  const m = v ? /^@(\d+)$/.exec(v.trim()) : null;
  return m ? new Date(Number(m[1]) * 1000).toISOString() : undefined;
}
