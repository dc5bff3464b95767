// One small interface over the machine's service manager (systemd on Linux, launchd on
// macOS), so `agentd install / uninstall / restart / status` never branch on the OS.
// Implementations: installer/systemd.ts, installer/launchd.ts (installer/service-for.ts
// picks one). Both are idempotent and put the service manager's own output into their errors.
import { realpathSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { UsageError, UserError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import type { AgentdPaths, InstallMode } from '../store/paths.js';

export interface ServiceManager {
  readonly kind: 'systemd' | 'launchd';
  /** Where the unit / plist lives. */
  readonly unitPath: string;
  /** The unit / plist text `install()` writes. */
  render(): string;
  /** The commands install + start run, for `agentd install --dry-run`. */
  plan(): string[];
  /** Writes the unit (skipped when unchanged), creates the service user, reloads, enables. Does not start. */
  install(): Promise<void>;
  /** Stops, disables and removes the unit; keeps going past errors, returns after trying everything. */
  uninstall(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Starts it when stopped, restarts it when running (a new credential takes effect). */
  restart(): Promise<void>;
  isActive(): Promise<boolean>;
  /** Whether the unit / plist file is present. */
  isInstalled(): Promise<boolean>;
  /** What the service manager says, for `agentd status`. */
  state(): Promise<ServiceState>;
  /** One line for a person: "active (running) since …". */
  describe(): Promise<string>;
  /** The command that shows the service's recent logs. */
  logsHint(): string;
  /**
   * Where a per-user service would stop at logout (systemd without lingering): ask the
   * service manager to keep it running. Absent where there is nothing to do.
   */
  keepRunningAfterLogout?(): Promise<{ ok: boolean; command: string; detail: string }>;
}

export interface ServiceState {
  installed: boolean;
  /** Starts at boot (systemd UnitFileState enabled), when the manager says. */
  enabled?: boolean;
  /** systemd ActiveState (active, activating, deactivating, inactive, failed) or launchd's state. */
  active: string;
  sub: string;
  /** When it entered the current state (ISO), when known. */
  since?: string;
  mainPid?: number;
  /** systemd Result (success, exit-code, signal, watchdog, start-limit-hit…). */
  result?: string;
  /** Exit status of the last run, when it exited. */
  exitStatus?: number;
  restarts?: number;
}

export interface ServiceOptions {
  mode: InstallMode;
  paths: AgentdPaths;
  platform?: NodeJS.Platform;
  /** argv that starts the agentd CLI (default: resolveAgentdCommand()); `run …` is appended. */
  agentdCommand?: string[];
  /** The system service's user (default `agentd`; created when missing). */
  serviceUser?: string;
  /** Where the macOS sudoers rule goes (tests: a temp dir). */
  sudoersFile?: string;
  /** The user tasks of a system service run as (default AGENTD_TASK_USER, else `agentd-task`; created when missing). */
  taskUser?: string;
  /** Service name: `agentd` → agentd.service / label io.agentd.agentd. */
  name?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  homedir?: string;
}

/** A user name the installer may put in a unit, a plist or a sudoers rule (POSIX portable, as useradd takes). */
export const USER_NAME_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Refuses a service or task user name that is not a plain account name (it goes into a unit and a sudoers rule). */
export function checkUserName(name: string, what: string): string {
  if (!USER_NAME_RE.test(name)) throw new UsageError(`${what} ${JSON.stringify(name)} is not a valid user name`, 'Use lower-case letters, digits, _ and - (at most 32), starting with a letter or _.');
  return name;
}

/**
 * The argv that runs this agentd. The artifact's launcher exports AGENTD_LAUNCHER (its
 * own stable path, e.g. /usr/local/bin/agentd, which survives upgrades); from a source
 * checkout it is this Node plus the bundle's path.
 */
export function resolveAgentdCommand(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv): string[] {
  const launcher = env.AGENTD_LAUNCHER;
  if (launcher && isAbsolute(launcher)) return [launcher];
  const script = argv[1];
  if (!script) throw new Error('cannot tell which agentd is running (no script path in argv)');
  let path = script;
  try {
    path = realpathSync(script);
  } catch {
    // keep the given path
  }
  return [process.execPath, path];
}

/** The daemon's argv under the service manager. */
export function daemonArgv(agentdCommand: string[], mode: InstallMode, paths: AgentdPaths): string[] {
  return [...agentdCommand, 'run', '--mode', mode, '--config-dir', paths.configDir, '--state-dir', paths.stateDir];
}

/** Failures of the service manager: its own output, and what a person can do next. */
export class ServiceError extends UserError {
  constructor(what: string, output: string, opts: { hint?: string; uid?: number } = {}) {
    const uid = opts.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0);
    const hints = [opts.hint, uid !== 0 && /denied|permission|not permitted|access|authenti/i.test(output) ? 'Try again with sudo, or install for your user only with --mode user.' : undefined];
    super(`${what}:\n  ${output.trim().split('\n').join('\n  ')}`, { exitCode: EXIT.FAILURE, hint: hints.filter(Boolean).join('\n') || undefined });
    this.name = 'ServiceError';
  }
}

/** A non-root user asked for a system service. */
export function needsRoot(unitPath: string): UserError {
  return new UserError(`installing the system service needs root (it writes ${unitPath})`, {
    exitCode: EXIT.CANTCREAT,
    hint: 'Try again with sudo, or install for your user only with --mode user.',
  });
}
