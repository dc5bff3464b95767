// Where agentd keeps its files, per OS and install mode (docs/architecture.md §6). Pure: no I/O, so
// every command (and every test) can resolve paths without touching the disk.
//
// Precedence: explicit option (--config-dir/--state-dir) > AGENTD_CONFIG_DIR /
// AGENTD_STATE_DIR > the mode's defaults. Mode: option > AGENTD_MODE > 'system' for root
// on Linux, else 'user'.
//
// AGENTD_TEST_SYSTEM_ROOT (tests only) moves the system defaults (/etc, /var/lib,
// /Library, the system unit directory) under a private directory, so what this machine's
// /etc and /var hold cannot change a test's result. Never set it in production.
import { homedir as osHomedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Bits a state dir may carry beyond 0700: 0711 lets a system install's task user pass through to its work root. */
export const STATE_DIR_TRAVERSE = 0o011;

export type InstallMode = 'system' | 'user';

export interface AgentdPaths {
  mode: InstallMode;
  configDir: string;
  stateDir: string;
  configFile: string;
  credentialsFile: string;
  lockFile: string;
  /** <stateDir>/daemon.json: pid, health URL, version of the running daemon. */
  runtimeFile: string;
  daemonIdFile: string;
  /** <stateDir>/journal */
  journalDir: string;
  /** <stateDir>/work */
  workRoot: string;
  /** <stateDir>/task-home: HOME of the task user of a system install. */
  taskHome: string;
  /** <stateDir>/compile-cache: Node's compiled code of the daemon's chunks (cli/compile-cache.ts). */
  compileCacheDir: string;
  /** null: logs go to journald / stdout. */
  logDir: string | null;
}

/** The system path `p` (absolute), under AGENTD_TEST_SYSTEM_ROOT when a test set it. */
export function systemPath(p: string, env: NodeJS.ProcessEnv = process.env): string {
  const root = env.AGENTD_TEST_SYSTEM_ROOT;
  return root && root.startsWith('/') ? join(root, p) : p;
}

export function isInstallMode(v: unknown): v is InstallMode {
  return v === 'system' || v === 'user';
}

export function resolvePaths(
  o: {
    mode?: InstallMode;
    configDir?: string;
    stateDir?: string;
    env?: NodeJS.ProcessEnv;
    platform?: NodeJS.Platform;
    homedir?: string;
    uid?: number;
  } = {},
): AgentdPaths {
  const env = o.env ?? process.env;
  const platform = o.platform ?? process.platform;
  const uid = o.uid ?? (typeof process.getuid === 'function' ? process.getuid() : -1);
  const envMode = env.AGENTD_MODE;
  const mode: InstallMode = o.mode ?? (isInstallMode(envMode) ? envMode : uid === 0 && platform === 'linux' ? 'system' : 'user');
  const home = o.homedir ?? (env.HOME || osHomedir());
  const defaults = defaultDirs(mode, platform, home, env);

  const configDir = resolve(o.configDir || env.AGENTD_CONFIG_DIR || defaults.configDir);
  const stateDir = resolve(o.stateDir || env.AGENTD_STATE_DIR || defaults.stateDir);
  return {
    mode,
    configDir,
    stateDir,
    configFile: join(configDir, 'config.json'),
    credentialsFile: join(configDir, 'credentials.json'),
    lockFile: join(stateDir, 'agentd.lock'),
    runtimeFile: join(stateDir, 'daemon.json'),
    daemonIdFile: join(stateDir, 'daemon-id'),
    journalDir: join(stateDir, 'journal'),
    workRoot: join(stateDir, 'work'),
    taskHome: join(stateDir, 'task-home'),
    compileCacheDir: join(stateDir, 'compile-cache'),
    logDir: defaults.logDir,
  };
}

function defaultDirs(mode: InstallMode, platform: NodeJS.Platform, home: string, env: NodeJS.ProcessEnv): { configDir: string; stateDir: string; logDir: string | null } {
  if (platform === 'darwin') {
    // launchd has no journal: logs go to files.
    const base = mode === 'system' ? systemPath('/Library', env) : join(home, 'Library');
    const support = join(base, 'Application Support', 'agentd');
    return { configDir: support, stateDir: join(support, 'state'), logDir: join(base, 'Logs', 'agentd') };
  }
  if (mode === 'system') return { configDir: systemPath('/etc/agentd', env), stateDir: systemPath('/var/lib/agentd', env), logDir: null };
  // XDG base directories; relative values are invalid per the spec and ignored.
  const xdgConfig = env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
  const xdgState = env.XDG_STATE_HOME?.startsWith('/') ? env.XDG_STATE_HOME : join(home, '.local', 'state');
  return { configDir: join(xdgConfig, 'agentd'), stateDir: join(xdgState, 'agentd'), logDir: null };
}
