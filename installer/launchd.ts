// launchd: renders launchd/agentd.plist as a LaunchDaemon (system, /Library/LaunchDaemons,
// domain `system`) or a LaunchAgent (per user, ~/Library/LaunchAgents, domain
// `gui/<uid>`), and drives it with `launchctl bootstrap / bootout / kickstart` and an
// explicit domain, never the deprecated load/unload. Every launchctl call goes through
// installer/exec.ts, which finds `launchctl` on PATH (tests put a recording fake there).
import { homedir as osHomedir } from 'node:os';
import { join } from 'node:path';
import { promises as fs } from 'node:fs';
import { removeServiceFile, writeServiceFile, ensureServiceDir } from '../store/service-files.js';
import { execCommand, formatCommand, toolOutput, type ExecResult } from './exec.js';
import { readTemplate, renderTemplate } from './template.js';
import {
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
    },
    {},
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

  constructor(o: ServiceOptions) {
    this.o = o;
    this.uid = o.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0);
    this.label = `io.agentd.${o.name ?? 'agentd'}`;
    const home = o.homedir ?? ((o.env ?? process.env).HOME || osHomedir());
    const system = o.mode === 'system';
    this.domain = system ? 'system' : `gui/${this.uid}`;
    this.unitPath = system ? join('/Library/LaunchDaemons', `${this.label}.plist`) : join(home, 'Library', 'LaunchAgents', `${this.label}.plist`);
    this.logDir = o.paths.logDir ?? (system ? '/Library/Logs/agentd' : join(home, 'Library', 'Logs', 'agentd'));
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
    });
  }

  plan(): string[] {
    return [
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
    await ensureServiceDir(this.o.paths.stateDir, 0o700);
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
