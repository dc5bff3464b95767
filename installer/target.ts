// Which installation a lifecycle command (status, restart, uninstall) is about: the
// mode and directories given, or else the one that exists on this machine (a person
// running `agentd status` without sudo should still find the system service).
import { existsSync } from 'node:fs';
import { isInstallMode, resolvePaths, type AgentdPaths, type InstallMode } from '../store/paths.js';
import { UsageError } from '../core/errors.js';
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

export function resolveTarget(f: TargetFlags, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): Target {
  if (f.mode !== undefined && !isInstallMode(f.mode)) throw new UsageError(`--mode must be "system" or "user" (got "${f.mode.slice(0, 40)}")`);
  const build = (mode: InstallMode | undefined): Target => {
    const paths = resolvePaths({ mode, configDir: f['config-dir'], stateDir: f['state-dir'], env, platform });
    const service = platform === 'linux' || platform === 'darwin' ? serviceManagerFor({ mode: paths.mode, paths, platform, env }) : null;
    return { mode: paths.mode, paths, service };
  };
  if (f.mode || env.AGENTD_MODE) return build(f.mode as InstallMode | undefined);
  const first = build(undefined);
  if (found(first)) return first;
  const other = build(first.mode === 'system' ? 'user' : 'system');
  return found(other) ? other : first;
}

function found(t: Target): boolean {
  // /etc/agentd is 0700: a non-root user can see the directory, not the files in it.
  return existsSync(t.paths.configFile) || existsSync(t.paths.configDir) || (t.service !== null && existsSync(t.service.unitPath));
}
