// The service half of `agentd install` (cli/install.ts hands it to makeInstallCommand):
// preflight before the one-time token is spent (root? a running service manager?), then
// after the credential is written: install the unit, (re)start it, wait for /readyz,
// printing one progress line per step. Also the --dry-run plan.
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Writable } from 'node:stream';
import type { ServiceStep } from './enroll.js';
import type { AgentdPaths, InstallMode } from '../store/paths.js';
import { UserError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { execCommand, toolOutput } from './exec.js';
import { needsRoot, resolveAgentdCommand, type ServiceManager, type ServiceOptions } from './service.js';
import { serviceManagerFor } from './service-for.js';
import { waitForReady } from './ready.js';

export interface ServiceStepOptions {
  /** Progress lines go here (default stderr, so --json stdout stays clean). */
  progress?: Writable;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  uid?: number;
  readyTimeoutMs?: number;
  /** Extra ServiceManager options (tests: serviceUser, agentdCommand). */
  service?: Partial<ServiceOptions>;
  /** Whether to run `loginctl enable-linger` for a per-user systemd service (default yes). */
  linger?: boolean;
}

export function makeServiceStep(o: ServiceStepOptions = {}): ServiceStep<{ lines: string[] }> {
  const progress = (line: string): void => void (o.progress ?? process.stderr).write(`agentd: ${line}\n`);
  const uid = o.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0);
  const platform = o.platform ?? process.platform;
  const manager = (mode: InstallMode, paths: AgentdPaths): ServiceManager => serviceManagerFor({ mode, paths, platform, uid, ...(o.env ? { env: o.env } : {}), ...o.service });

  return {
    async preflight({ mode, paths }) {
      const svc = manager(mode, paths);
      if (mode === 'system' && uid !== 0) throw needsRoot(svc.unitPath);
      if (svc.kind === 'systemd' && mode === 'system') refusePrivateTmpPaths(o.service?.agentdCommand ?? resolveAgentdCommand(o.env ?? process.env), paths);
      if (svc.kind === 'systemd') await systemdPreflight(mode, o.env);
    },

    async install({ mode, paths, config, upgrade }) {
      const svc = manager(mode, paths);
      if (!upgrade) progress(`credentials written (${paths.credentialsFile}, 0600)`);
      progress(`${upgrade ? 'updating' : 'installing'} the service (${svc.unitPath})`);
      await svc.install();
      const lines = [`  service      ${svc.unitPath}`];
      if (svc.keepRunningAfterLogout && o.linger !== false) {
        const r = await svc.keepRunningAfterLogout();
        if (r.ok) progress(`kept running after you log out (${r.command})`);
        else progress(`note: it stops when you log out; to keep it running: ${r.command} (${r.detail})`);
      }
      progress(upgrade ? 'restarting agentd on the new build' : 'starting agentd');
      const since = Date.now();
      await svc.restart();
      progress('waiting until it is ready');
      const ready = await waitForReady({
        paths,
        service: svc,
        since,
        timeoutMs: o.readyTimeoutMs ?? 60_000,
        onProgress: (what) => progress(`  … ${what}`),
      });
      progress(`ready: agentd is running as "${config.device_name}" (pid ${ready.info.pid})`);
      lines.push(`  running      pid ${ready.info.pid}, ready${ready.info.health_url ? ` (${ready.info.health_url}/status)` : ''}`);
      lines.push(`  logs         ${svc.logsHint()}`);
      return { lines };
    },
  };
}

/** `agentd install --dry-run`: the unit and the commands, touching nothing. */
export function describeServicePlan(mode: InstallMode, paths: AgentdPaths, o: ServiceStepOptions = {}): string {
  const svc = serviceManagerFor({ mode, paths, platform: o.platform ?? process.platform, uid: o.uid, ...(o.env ? { env: o.env } : {}), ...o.service });
  // The same check the real install refuses with, shown as a warning: a dry run must
  // not render a unit the real run would reject without saying so.
  const problems = svc.kind === 'systemd' && mode === 'system' ? privateTmpProblems(o.service?.agentdCommand ?? resolveAgentdCommand(o.env ?? process.env), paths) : [];
  const warnings = problems.map((p) => `# WARNING: ${p.message}\n#   ${p.hint}\n#   The real install refuses this (before the token is spent).`);
  return [...warnings, `# ${svc.unitPath}`, svc.render().trimEnd(), '', '# commands', ...svc.plan(), ''].join('\n');
}

/** systemd must be the running init (containers and WSL1 often have the binary but not the manager). */
async function systemdPreflight(mode: InstallMode, env?: NodeJS.ProcessEnv): Promise<void> {
  const noService = 'Enrol without a service (agentd install … --no-service) and run `agentd run` under your own supervisor.';
  // /run/systemd/system exists only when systemd is the running init (a user manager needs it too).
  if (!existsSync('/run/systemd/system')) {
    throw new UserError('this machine does not run systemd, so agentd cannot install its service', { exitCode: EXIT.CONFIG, hint: noService });
  }
  const r = await execCommand('systemctl', mode === 'user' ? ['--user', 'is-system-running'] : ['is-system-running'], { env, timeoutMs: 10_000 });
  // is-system-running exits non-zero for "degraded" too; only "cannot talk to it" matters.
  // "offline": no manager answers (e.g. no user manager for this login).
  if (r.code === 127 || r.stdout.trim() === 'offline' || /Failed to connect|not been booted|No such file|bus/i.test(r.stderr)) {
    const userHint = mode === 'user' ? 'The per-user systemd is not reachable from this shell (no login session, or su/sudo without one). ' : '';
    throw new UserError(`cannot reach systemd: ${toolOutput(r).split('\n')[0]}`, { exitCode: EXIT.CONFIG, hint: `${userHint}${noService}` });
  }
}

/** True for paths the system unit's PrivateTmp=yes replaces with a private, empty dir. */
function hiddenByPrivateTmp(path: string): boolean {
  return ['/tmp', '/var/tmp'].some((d) => path === d || path.startsWith(`${d}/`));
}

/**
 * The system unit runs with PrivateTmp=yes: a program or directory under /tmp or
 * /var/tmp (a checkout unpacked there, `--state-dir /tmp/x`) does not exist for the
 * service, which would fail at every start with "Cannot find module". Refuse before the
 * token is spent.
 */
function refusePrivateTmpPaths(agentdCommand: string[], paths: AgentdPaths): void {
  const [first] = privateTmpProblems(agentdCommand, paths);
  if (first) throw new UserError(first.message, { exitCode: EXIT.CONFIG, hint: first.hint });
}

/** What PrivateTmp=yes would hide from the system service: its program, its config or state dir. */
function privateTmpProblems(agentdCommand: string[], paths: AgentdPaths): { message: string; hint: string }[] {
  const out: { message: string; hint: string }[] = [];
  const hidden = agentdCommand.find((p) => isAbsolute(p) && hiddenByPrivateTmp(p));
  if (hidden) {
    out.push({
      message: `the system service would run ${hidden}, which it cannot see: it runs with PrivateTmp=yes (its own empty /tmp and /var/tmp)`,
      hint: "Install agentd with the platform's one-liner (curl -fsSL <platform>/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh), or run `agentd install` from a copy outside /tmp and /var/tmp.",
    });
  }
  for (const [flag, dir] of [
    ['--config-dir', paths.configDir],
    ['--state-dir', paths.stateDir],
  ] as const) {
    if (hiddenByPrivateTmp(dir)) {
      out.push({
        message: `${flag} ${dir} is under /tmp or /var/tmp, which the system service cannot see (PrivateTmp=yes)`,
        hint: `Choose a directory elsewhere, or leave ${flag} out to use the default.`,
      });
    }
  }
  return out;
}
