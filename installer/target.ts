// Which installation a lifecycle command (status, restart, uninstall, credentials) is
// about: the mode and directories given, or else the one installed on this machine (a
// person running `agentd status` without sudo should still find the system service).
//
// An install counts only where its config.json or its service unit is actually there: a
// directory alone proves nothing (`agentd uninstall` leaves an empty /etc/agentd behind).
import { readFileSync, statSync } from 'node:fs';
import { isInstallMode, resolvePaths, type AgentdPaths, type InstallMode } from '../store/paths.js';
import { UsageError, UserError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import type { ServiceManager } from './service.js';
import { serviceManagerFor } from './service-for.js';

export interface TargetFlags {
  mode?: string;
  'config-dir'?: string;
  'state-dir'?: string;
}

export interface Target {
  mode: InstallMode;
  paths: AgentdPaths;
  /** null where agentd has no service manager (neither Linux nor macOS). */
  service: ServiceManager | null;
}

export const TARGET_FLAGS = {
  mode: { type: 'string', value: 'system|user', description: 'Which installation (default: the one found on this machine)' },
  'config-dir': { type: 'string', value: 'DIR', description: 'Its config directory, if not the default (env AGENTD_CONFIG_DIR)' },
  'state-dir': { type: 'string', value: 'DIR', description: 'Its state directory, if not the default (env AGENTD_STATE_DIR)' },
} as const;

export const INSTALL_COMMAND = 'curl -fsSL <platform>/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh';

/** No install found where one was looked for; exit 3 like `agentd status` of a stopped daemon. */
export class NotInstalledError extends UserError {
  constructor(looked: string[], unreadable: string[]) {
    const extra = unreadable.length ? `; could not look inside ${unreadable.join(', ')} (try with sudo)` : '';
    super(`agentd is not installed on this machine (none of ${looked.join(', ')} exists${extra})`, {
      code: 'AGENTD_NOT_INSTALLED',
      exitCode: EXIT.NOT_RUNNING,
      hint: `Install it: ${INSTALL_COMMAND}  (or name an install elsewhere with --mode, --config-dir, --state-dir)`,
    });
  }
}

type Presence = 'present' | 'absent' | 'unreadable';

function presence(path: string): Presence {
  try {
    statSync(path);
    return 'present';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EACCES' ? 'unreadable' : 'absent';
  }
}

interface Probe {
  target: Target;
  config: Presence;
  unit: Presence;
}

/** The mode config.json records, when it can be read. */
function recordedMode(configFile: string): InstallMode | null {
  try {
    const v = (JSON.parse(readFileSync(configFile, 'utf8')) as { mode?: unknown }).mode;
    return isInstallMode(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * The install to act on. With --mode (or AGENTD_MODE): that one, found or not (the
 * command reports what is missing). Without: the one whose config or unit exists;
 * UsageError when both a system and a user install exist; NotInstalledError when
 * neither does and `orDefault` is not set (uninstall sets it: nothing to remove is fine).
 */
export function resolveTarget(f: TargetFlags, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform, o: { orDefault?: boolean } = {}): Target {
  if (f.mode !== undefined && !isInstallMode(f.mode)) throw new UsageError(`--mode must be "system" or "user" (got "${f.mode.slice(0, 40)}")`);
  const build = (mode: InstallMode | undefined): Target => {
    const paths = resolvePaths({ mode, configDir: f['config-dir'], stateDir: f['state-dir'], env, platform });
    const service = platform === 'linux' || platform === 'darwin' ? serviceManagerFor({ mode: paths.mode, paths, platform, env }) : null;
    return { mode: paths.mode, paths, service };
  };
  if (f.mode || env.AGENTD_MODE) return build(f.mode as InstallMode | undefined);
  const probe = (mode: InstallMode): Probe => {
    const target = build(mode);
    return { target, config: presence(target.paths.configFile), unit: target.service ? presence(target.service.unitPath) : 'absent' };
  };
  const system = probe('system');
  const user = probe('user');
  // One config dir named for both (--config-dir): its config.json says which mode it is.
  if (system.target.paths.configFile === user.target.paths.configFile && system.config === 'present') {
    const m = recordedMode(system.target.paths.configFile);
    if (m) return m === 'system' ? system.target : user.target;
  }
  const isThere = (p: Probe): boolean => p.config === 'present' || p.unit === 'present';
  const found = [system, user].filter(isThere);
  if (found.length === 1) return found[0].target;
  if (found.length === 2) {
    if (system.target.paths.configFile === user.target.paths.configFile) return build(undefined);
    throw new UsageError(
      `both a system install (${system.target.paths.configDir}) and a user install (${user.target.paths.configDir}) are on this machine`,
      'Say which one: add --mode system or --mode user.',
    );
  }
  if (o.orDefault) return build(undefined);
  const looked: string[] = [];
  const unreadable: string[] = [];
  for (const p of [system, user]) {
    looked.push(p.target.paths.configFile);
    if (p.config === 'unreadable') unreadable.push(p.target.paths.configDir);
    if (p.target.service) looked.push(p.target.service.unitPath);
  }
  throw new NotInstalledError(looked, unreadable);
}
