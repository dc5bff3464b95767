// config.json: where the platform is and who this daemon is. Not secret, but it lives in
// the same 0700 directory as the credential, so it is written the same way.
import { Type } from '@sinclair/typebox';
import { problem } from '../api/schema.js';
import { ensureDir } from './atomic.js';
import { ConfigFileInvalid, shellQuote } from './errors.js';
import { readSmallFile, writeIfChanged } from './json-file.js';
import { checkDir, checkFile, trustedOwners, untrusted } from './ownership.js';
import type { AgentdPaths, InstallMode } from './paths.js';

export interface AgentConfig {
  platform_url: string;
  workspace_id: string;
  daemon_id: string;
  device_name: string;
  mode: InstallMode;
  /** A plain http:// platform URL to another host was accepted by name (agentd install --insecure-http). */
  insecure_http?: boolean;
  /** `agentd install --ephemeral` (or an ephemeral install token): the platform removes it after a time offline; uninstall does not drain. */
  ephemeral?: boolean;
}

export const CONFIG_DIR_MODE = 0o700;
export const CONFIG_FILE_MODE = 0o600;

export async function readConfig(paths: AgentdPaths): Promise<AgentConfig | null> {
  const file = await readSmallFile(paths.configFile);
  if (!file) return null;
  // A config.json another user owns could point the daemon (and its credential) at
  // any URL: refused, like a credential file others can read.
  if (!trustedOwners().has(file.uid)) throw untrusted(paths.configFile, 'a file', file.uid);
  const hint = `Re-enrol with a new install token: agentd install --force --config-dir ${shellQuote(paths.configDir)} --platform <URL>`;
  let v: unknown;
  try {
    v = JSON.parse(file.text);
  } catch {
    throw new ConfigFileInvalid(`the config file ${paths.configFile} is not valid JSON`, { path: paths.configFile, hint });
  }
  const problem = configProblem(v);
  if (problem) throw new ConfigFileInvalid(`the config file ${paths.configFile} is invalid: ${problem}`, { path: paths.configFile, hint });
  const c = v as AgentConfig;
  return { platform_url: c.platform_url, workspace_id: c.workspace_id, daemon_id: c.daemon_id, device_name: c.device_name, mode: c.mode, ...(c.insecure_http === true ? { insecure_http: true } : {}), ...(c.ephemeral === true ? { ephemeral: true } : {}) };
}

export async function writeConfig(paths: AgentdPaths, c: AgentConfig): Promise<void> {
  const problem = configProblem(c);
  if (problem) throw new TypeError(`writeConfig: ${problem}`);
  await checkDir(paths.configDir);
  await ensureDir(paths.configDir, CONFIG_DIR_MODE);
  await checkFile(paths.configFile);
  await writeIfChanged(paths.configFile, configText(c), CONFIG_FILE_MODE);
}

/** config.json's text: the one serializer (writeConfig and writeEnrolment). */
export function configText(c: AgentConfig): string {
  return JSON.stringify({ platform_url: c.platform_url, workspace_id: c.workspace_id, daemon_id: c.daemon_id, device_name: c.device_name, mode: c.mode, ...(c.insecure_http === true ? { insecure_http: true } : {}), ...(c.ephemeral === true ? { ephemeral: true } : {}) }, null, 2) + '\n';
}

const nonEmpty = Type.String({ minLength: 1, mustBe: 'a non-empty string' });
/** config.json; fields written by other versions are ignored. */
const ConfigFile = Type.Object({
  platform_url: nonEmpty,
  workspace_id: nonEmpty,
  daemon_id: nonEmpty,
  device_name: nonEmpty,
  mode: Type.Union([Type.Literal('system'), Type.Literal('user')]),
  insecure_http: Type.Optional(Type.Boolean()),
  ephemeral: Type.Optional(Type.Boolean()),
});

/** What is wrong with a parsed config, or undefined when it is a valid AgentConfig. */
function configProblem(v: unknown): string | undefined {
  const wrong = problem(ConfigFile, v, 'the file', { quote: true });
  if (wrong) return wrong;
  const o = v as AgentConfig;
  try {
    const u = new URL(o.platform_url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return '"platform_url" must be an http(s) URL';
  } catch {
    return '"platform_url" is not a URL';
  }
  return undefined;
}
