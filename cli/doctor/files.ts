// config.json and credentials.json: present, parseable, owned and moded as the daemon
// needs them (0600 files in a 0700 directory, owned by the user the service runs as, i.e.
// the config directory's owner; one's own for a user install).
import { readFileSync, statSync, type Stats } from 'node:fs';
import { credentialsProblem, CREDENTIALS_FILE_MODE, type Credentials } from '../../store/credentials.js';
import { CONFIG_DIR_MODE, CONFIG_FILE_MODE, readConfig, type AgentConfig } from '../../store/config.js';
import { shellQuote } from '../../store/errors.js';
import type { AgentdPaths, InstallMode } from '../../store/paths.js';
import { INSTALL_COMMAND } from '../../installer/target.js';
import { errText, fail, pass, type CheckResult } from './check.js';

export interface FileFacts {
  checks: CheckResult[];
  config: AgentConfig | null;
  credentials: Credentials | null;
}

const octal = (m: number): string => (m & 0o7777).toString(8).padStart(4, '0');

/** uid → login name from /etc/passwd (the number when unknown). */
export function userName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 3 && Number(f[2]) === uid) return f[0];
    }
  } catch {
    // no /etc/passwd (macOS keeps users elsewhere)
  }
  return String(uid);
}

function statOrError(path: string): Stats | NodeJS.ErrnoException {
  try {
    return statSync(path);
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
}

export async function checkFiles(paths: AgentdPaths, mode: InstallMode, o: { uid: number; sudo: string }): Promise<FileFacts> {
  const checks: CheckResult[] = [];
  const q = shellQuote;
  const dir = statOrError(paths.configDir);
  // Who the files must belong to: the service user (a system install chowns the config dir
  // to it), or whoever runs a user install.
  const ownerUid = dir instanceof Error ? o.uid : mode === 'user' ? o.uid : dir.uid;
  const owner = userName(ownerUid);
  if (dir instanceof Error) {
    const unreadable = dir.code === 'EACCES';
    checks.push(fail('config.dir', 'config directory', unreadable ? `${paths.configDir}: permission denied` : `${paths.configDir} does not exist`, unreadable ? `sudo agentd doctor ${mode === 'system' ? '--mode system' : ''}`.trim() : INSTALL_COMMAND));
  } else if ((dir.mode & 0o077) !== 0 || (mode === 'user' && dir.uid !== o.uid)) {
    checks.push(fail('config.dir', 'config directory', `${paths.configDir} is ${octal(dir.mode)} ${userName(dir.uid)}; expected ${octal(CONFIG_DIR_MODE)} ${owner}`, `${o.sudo}chmod 700 ${q(paths.configDir)}${dir.uid !== ownerUid ? ` && ${o.sudo}chown ${owner}: ${q(paths.configDir)}` : ''}`));
  } else {
    checks.push(pass('config.dir', 'config directory', `${paths.configDir} (${octal(dir.mode)} ${owner})`));
  }

  const modeAndOwner = (id: string, title: string, path: string, st: Stats, want: number): CheckResult | null => {
    const fixes: string[] = [];
    const problems: string[] = [];
    if ((st.mode & 0o077) !== 0) {
      problems.push(`mode ${octal(st.mode)}: ${(st.mode & 0o007) !== 0 ? 'every user on this machine' : 'its group'} can read it`);
      fixes.push(`${o.sudo}chmod ${want.toString(8)} ${q(path)}`);
    }
    if (st.uid !== ownerUid) {
      problems.push(`owned by ${userName(st.uid)}, not ${owner} (the daemon's user)`);
      fixes.push(`${o.sudo}chown ${owner}: ${q(path)}`);
    }
    return problems.length ? fail(id, title, `${path}: ${problems.join('; ')}`, fixes.join(' && ')) : null;
  };

  // config.json
  let config: AgentConfig | null = null;
  const cst = statOrError(paths.configFile);
  if (cst instanceof Error) {
    checks.push(fail('config.file', 'config file', cst.code === 'EACCES' ? `${paths.configFile}: permission denied` : `${paths.configFile} is missing: this machine is not enrolled`, cst.code === 'EACCES' ? 'sudo agentd doctor' : INSTALL_COMMAND));
  } else {
    try {
      config = await readConfig(paths);
      const bad = modeAndOwner('config.file', 'config file', paths.configFile, cst, CONFIG_FILE_MODE);
      checks.push(bad ?? pass('config.file', 'config file', `${paths.configFile} (${octal(cst.mode)} ${owner}): ${config?.platform_url}, device "${config?.device_name}"`));
    } catch (e) {
      const hint = (e as { hint?: string }).hint;
      checks.push(fail('config.file', 'config file', errText(e), hint ?? INSTALL_COMMAND));
    }
  }

  // credentials.json: never read into a message (the token); only its shape is judged.
  let credentials: Credentials | null = null;
  const kst = statOrError(paths.credentialsFile);
  const replace = `agentd credentials set < FILE   (or re-enrol: ${INSTALL_COMMAND} -s -- --force)`;
  if (kst instanceof Error) {
    checks.push(fail('credentials.file', 'credential file', kst.code === 'EACCES' ? `${paths.credentialsFile}: permission denied` : `${paths.credentialsFile} is missing`, kst.code === 'EACCES' ? 'sudo agentd doctor' : replace));
  } else {
    let text: string | null = null;
    try {
      text = readFileSync(paths.credentialsFile, 'utf8');
    } catch (e) {
      checks.push(fail('credentials.file', 'credential file', `${paths.credentialsFile}: ${(e as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied' : errText(e)}`, 'sudo agentd doctor'));
    }
    if (text !== null) {
      let v: unknown;
      let problem: string | undefined;
      try {
        v = JSON.parse(text);
        problem = credentialsProblem(v);
      } catch {
        // JSON.parse's message would quote the file, i.e. the token.
        problem = 'not valid JSON';
      }
      if (problem) checks.push(fail('credentials.file', 'credential file', `${paths.credentialsFile} is invalid: ${problem}`, replace));
      else {
        credentials = v as Credentials;
        const bad = modeAndOwner('credentials.file', 'credential file', paths.credentialsFile, kst, CREDENTIALS_FILE_MODE);
        checks.push(bad ?? pass('credentials.file', 'credential file', `${paths.credentialsFile} (${octal(kst.mode)} ${owner}), issued ${credentials.issued_at}`));
      }
    }
  }
  return { checks, config, credentials };
}
