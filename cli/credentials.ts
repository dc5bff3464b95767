// `agentd credentials set|show`: replace or inspect the daemon credential. Flags and
// printing only; the file is written by store/credentials.ts (atomic, 0600 in 0700).
//
//   set   reads the new credential from stdin: a bare mdt_ token, or the JSON the
//         platform's rotate button shows ({token, daemon_id, workspace_id, …}). The
//         daemon id and workspace come from config.json; a JSON paste that names other
//         ones is refused (it belongs to another machine).
//   show  prints the file's non-secret fields; the token itself is never printed.
import { promises as fs } from 'node:fs';
import { DAEMON_TOKEN_RE } from '../api/types.js';
import { defineCommand, type CommandIO } from './command.js';
import { UsageError, UserError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { readConfig } from '../store/config.js';
import { readCredentials, writeCredentials } from '../store/credentials.js';
import { StoreError } from '../store/errors.js';
import { adoptDirOwner } from '../store/service-files.js';
import { isInstallMode, resolvePaths, type AgentdPaths } from '../store/paths.js';

const MAX_INPUT_BYTES = 64 * 1024;

export const command = defineCommand({
  name: 'credentials',
  summary: 'Replace the daemon credential (reads it from stdin), or show its non-secret fields',
  usage: 'agentd credentials set|show [--config-dir DIR] [--mode system|user] [--json]',
  flags: {
    'config-dir': { type: 'string', value: 'DIR', description: 'Where config.json and credentials.json are (env AGENTD_CONFIG_DIR)' },
    mode: { type: 'string', value: 'system|user', description: 'Which install to act on (default: system as root on Linux, else user)' },
    json: { type: 'boolean', description: 'Print the result as JSON' },
  },
  details: [
    'set: paste a daemon credential (mdt_…) on standard input, e.g.',
    '  agentd credentials set < token.txt',
    'The running daemon notices the new file and uses it without a restart.',
  ].join('\n'),
  async run({ flags: f, positionals }, io) {
    const [action, ...extra] = positionals;
    if (action !== 'set' && action !== 'show') throw new UsageError(action ? `unknown action "${action.slice(0, 40)}": use "set" or "show"` : 'say what to do: agentd credentials set, or agentd credentials show');
    // Not echoed: an extra argument here is most likely the token itself.
    if (extra.length) throw new UsageError('unexpected extra argument (not shown, it may be a secret)', 'The credential is read from standard input, never from the command line: agentd credentials set < FILE');
    if (f.mode !== undefined && !isInstallMode(f.mode)) throw new UsageError(`--mode must be "system" or "user" (got "${f.mode.slice(0, 40)}")`);
    const paths = resolvePaths({ mode: f.mode as 'system' | 'user' | undefined, configDir: f['config-dir'], env: io.env });
    return action === 'set' ? await setCredential(paths, io, Boolean(f.json)) : await showCredential(paths, io, Boolean(f.json));
  },
});

async function setCredential(paths: AgentdPaths, io: CommandIO, json: boolean): Promise<number> {
  const config = await readConfig(paths);
  if (!config) {
    throw new UserError(`this machine is not enrolled (no ${paths.configFile})`, { exitCode: EXIT.CONFIG, hint: 'Enrol it first: agentd install --platform URL (with an install token from the platform UI).' });
  }
  if (io.stdin.isTTY) io.stderr.write('Paste the daemon credential (mdt_…), then press Enter and Ctrl-D: ');
  const input = (await readAll(io.stdin)).trim();
  let token: string;
  if (input.startsWith('{')) {
    let v: unknown;
    try {
      v = JSON.parse(input);
    } catch {
      throw new UserError('the input looks like JSON but does not parse', { exitCode: EXIT.USAGE, hint: 'Paste the whole JSON object, or only the mdt_ token.' });
    }
    const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
    token = typeof o.token === 'string' ? o.token : '';
    for (const k of ['daemon_id', 'workspace_id'] as const) {
      if (typeof o[k] === 'string' && o[k] !== '' && o[k] !== config[k]) {
        throw new UserError(`this credential is for ${k} ${String(o[k])}, but this machine is ${k} ${config[k]}`, {
          exitCode: EXIT.USAGE,
          hint: 'Use the credential shown for this daemon in the platform UI, or re-enrol with `agentd install --force`.',
        });
      }
    }
  } else {
    token = input;
  }
  if (!DAEMON_TOKEN_RE.test(token)) {
    const what = token === '' ? 'the input is empty' : token.startsWith('mit_') ? 'that is an install token (mit_); use it with `agentd install`' : 'expected mdt_ followed by 40 lowercase hex digits';
    throw new UserError(`not a daemon credential: ${what}`, { exitCode: EXIT.USAGE, hint: 'Copy the credential from the platform UI (rotate shows it once).' });
  }
  const issuedAt = new Date().toISOString();
  const existed = await fs.lstat(paths.credentialsFile).then(() => true, () => false);
  try {
    await writeCredentials(paths.credentialsFile, { token, daemon_id: config.daemon_id, workspace_id: config.workspace_id, issued_at: issuedAt });
  } catch (err) {
    // The write is temp file + rename: a failure never touches the file in use. Say so,
    // because "is my daemon still able to run?" is the operator's next question.
    if (err instanceof StoreError) {
      const unchanged = `The credential in use is unchanged (${paths.credentialsFile}).`;
      throw new UserError(err.message, { code: err.code, exitCode: err.exitCode, hint: err.hint ? `${err.hint}\n${unchanged}` : unchanged, cause: err });
    }
    throw err;
  }
  // A replaced file keeps its owner. A new one written by root into a system service's
  // config dir must belong to the service user (the dir's owner), or the daemon cannot
  // read its own 0600 credential. (Outside the try: by now the new credential is in place.)
  if (!existed) await adoptDirOwner(paths.credentialsFile);
  if (json) {
    io.stdout.write(JSON.stringify({ written: paths.credentialsFile, daemon_id: config.daemon_id, workspace_id: config.workspace_id, issued_at: issuedAt }) + '\n');
  } else {
    io.stdout.write(
      [`Wrote the new credential to ${paths.credentialsFile} (mode 0600).`, 'A running daemon picks it up on its next platform call; to be sure: agentd restart'].join('\n') + '\n',
    );
  }
  return EXIT.OK;
}

async function showCredential(paths: AgentdPaths, io: CommandIO, json: boolean): Promise<number> {
  const creds = await readCredentials(paths.credentialsFile);
  if (!creds) {
    throw new UserError(`no credential at ${paths.credentialsFile}`, { exitCode: EXIT.CONFIG, hint: 'Enrol this machine: agentd install --platform URL, or install a credential: agentd credentials set < FILE' });
  }
  const st = await fs.stat(paths.credentialsFile);
  const doc = {
    path: paths.credentialsFile,
    mode: (st.mode & 0o777).toString(8).padStart(4, '0'),
    daemon_id: creds.daemon_id,
    workspace_id: creds.workspace_id,
    issued_at: creds.issued_at,
    token: 'mdt_… (hidden)',
  };
  if (json) io.stdout.write(JSON.stringify(doc) + '\n');
  else io.stdout.write(Object.entries(doc).map(([k, v]) => `${k.padEnd(13)}${v}`).join('\n') + '\n');
  return EXIT.OK;
}

async function readAll(stdin: NodeJS.ReadableStream): Promise<string> {
  let buf = '';
  for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
    buf += chunk.toString();
    if (buf.length > MAX_INPUT_BYTES) throw new UserError('the input is too large to be a credential', { exitCode: EXIT.USAGE });
  }
  return buf;
}
