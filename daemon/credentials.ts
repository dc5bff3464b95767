// The daemon's view of its enrolment files: config.json and credentials.json (read via
// store/), turned into start-up errors a person can act on (exit 78), and the watch
// that brings a revoked daemon back when a new credential appears (docs/architecture.md §3).
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { AgentdPaths } from '../store/paths.js';
import { readConfig, type AgentConfig } from '../store/config.js';
import { readCredentials, type Credentials } from '../store/credentials.js';
import { ConfigError, hintOf } from '../core/errors.js';

export interface Enrolment {
  config: AgentConfig;
  credentials: Credentials;
}

export function reenrolCommand(platformUrl: string, paths: AgentdPaths): string {
  const dirs = paths.mode === 'user' ? ' --mode user' : '';
  return `curl -fsSL ${platformUrl}/install.sh | AGENTD_INSTALL_TOKEN=<new install token from the platform UI> sh -s -- --force${dirs}`;
}

const enrolHint = (paths: AgentdPaths): string =>
  `Enrol this machine first: curl -fsSL <platform URL>/install.sh | AGENTD_INSTALL_TOKEN=<install token from the platform UI> sh` +
  ` (or: AGENTD_INSTALL_TOKEN=<token> agentd install --platform <URL> --no-service --config-dir ${paths.configDir} --state-dir ${paths.stateDir})`;

/** A StoreError (code + hint, e.g. the exact chmod) as a ConfigError: exit 78. */
function storeProblem(subject: string, err: unknown): ConfigError {
  const hint = hintOf(err);
  const msg = err instanceof Error ? err.message : String(err);
  return new ConfigError(subject, msg, hint, err);
}

/** Reads config.json and credentials.json; a missing, invalid or insecure file is exit 78. */
export async function loadEnrolment(paths: AgentdPaths): Promise<Enrolment> {
  let config: AgentConfig | null;
  try {
    config = await readConfig(paths);
  } catch (err) {
    throw storeProblem(paths.configFile, err);
  }
  if (!config) throw new ConfigError(paths.configFile, `this machine is not enrolled: ${paths.configFile} is missing`, enrolHint(paths));
  const credentials = await loadCredentials(paths);
  if (!credentials) throw new ConfigError(paths.credentialsFile, `no daemon credential: ${paths.credentialsFile} is missing`, enrolHint(paths));
  return { config, credentials };
}

/** credentials.json, or null when missing; throws ConfigError when insecure or invalid. */
export async function loadCredentials(paths: AgentdPaths): Promise<Credentials | null> {
  try {
    return await readCredentials(paths.credentialsFile);
  } catch (err) {
    throw storeProblem(paths.credentialsFile, err);
  }
}

export interface CredentialWatch {
  close(): void;
}

/**
 * Calls `onChange` when the credential file may have changed: fs.watch on its directory
 * (the file is replaced by rename, so watching the file itself would follow the old
 * inode) plus a slow stat poll, because fs.watch misses events on some file systems
 * (NFS, some containers). `onPoll` is called on every poll tick (the watchdog counts it
 * as a turning loop). Events are coalesced; onChange never runs twice at once.
 */
export function watchCredentialFile(o: { path: string; pollMs: number; logger: Logger; onChange: () => Promise<void>; onPoll?: () => void }): CredentialWatch {
  let closed = false;
  let busy = false;
  let again = false;
  let lastSig = '';
  const fire = async (): Promise<void> => {
    if (closed) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        await o.onChange();
      } while (again && !closed);
    } catch (err) {
      o.logger.error({ err }, 'credential watch handler failed');
    } finally {
      busy = false;
    }
  };
  const signature = async (): Promise<string> => {
    try {
      const st = await stat(o.path);
      return `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`;
    } catch {
      return 'missing';
    }
  };
  void signature().then((s) => (lastSig = s));

  let watcher: FSWatcher | null = null;
  try {
    const name = basename(o.path);
    watcher = watch(dirname(o.path), { persistent: false }, (_event, filename) => {
      if (filename === null || filename === name || String(filename).startsWith(`.${name}`) || String(filename).startsWith(name)) void fire();
    });
    watcher.on('error', (err) => o.logger.debug({ err }, 'fs.watch failed; relying on polling'));
  } catch (err) {
    o.logger.debug({ err }, 'fs.watch unavailable; relying on polling');
  }
  const timer = setInterval(() => {
    o.onPoll?.();
    void signature().then((s) => {
      if (s !== lastSig) {
        lastSig = s;
        void fire();
      }
    });
  }, o.pollMs);
  return {
    close() {
      closed = true;
      clearInterval(timer);
      watcher?.close();
    },
  };
}
