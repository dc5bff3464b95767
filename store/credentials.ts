// credentials.json: the daemon's mdt_ token. 0600 in a 0700 directory, whatever the
// umask; a file that group or others can read is refused, with the chmod that fixes it
// (docs/architecture.md §6). Read fresh on every call: the daemon re-reads it after a 401, and an
// operator may have replaced it (`agentd credentials set`).
import { dirname } from 'node:path';
import { Type } from '@sinclair/typebox';
import { problem } from '../api/schema.js';
import { DAEMON_TOKEN_RE } from '../api/types.js';
import { ensureDir } from './atomic.js';
import { CredentialFileInvalid, InsecureCredentialFile } from './errors.js';
import { readSmallFile, writeIfChanged } from './json-file.js';
import { checkDir, checkFile, trustedOwners, untrusted } from './ownership.js';

export interface Credentials {
  token: string;
  daemon_id: string;
  workspace_id: string;
  issued_at: string;
}

export const CREDENTIALS_DIR_MODE = 0o700;
export const CREDENTIALS_FILE_MODE = 0o600;

const REPLACE_HINT = 'Replace it with a valid credential: `agentd credentials set < FILE` (a fresh mdt_ token from the platform\'s rotate button), or re-enrol: `agentd install --force --platform <URL>` with a new install token.';

/** null when the file is missing (or empty); throws InsecureCredentialFile / CredentialFileInvalid. */
export async function readCredentials(path: string): Promise<Credentials | null> {
  const file = await readSmallFile(path);
  if (!file) return null;
  if ((file.mode & 0o077) !== 0) throw new InsecureCredentialFile(path, file.mode);
  // Owned by someone else: that user could have written any token (or swapped the file).
  if (!trustedOwners().has(file.uid)) throw untrusted(path, 'a file', file.uid);
  let v: unknown;
  try {
    v = JSON.parse(file.text);
  } catch {
    // Never show JSON.parse's message: it quotes the file's text, i.e. the token.
    throw new CredentialFileInvalid(`the credential file ${path} is not valid JSON`, { path, hint: REPLACE_HINT });
  }
  const problem = credentialsProblem(v);
  if (problem) throw new CredentialFileInvalid(`the credential file ${path} is invalid: ${problem}`, { path, hint: REPLACE_HINT });
  const c = v as Credentials;
  return { token: c.token, daemon_id: c.daemon_id, workspace_id: c.workspace_id, issued_at: c.issued_at };
}

export async function writeCredentials(path: string, c: Credentials): Promise<void> {
  const problem = credentialsProblem(c);
  if (problem) throw new TypeError(`writeCredentials: ${problem}`);
  await checkDir(dirname(path));
  await ensureDir(dirname(path), CREDENTIALS_DIR_MODE);
  await checkFile(path);
  await writeIfChanged(path, credentialsText(c), CREDENTIALS_FILE_MODE);
}

/** credentials.json's text: the one serializer (writeCredentials and writeEnrolment). */
export function credentialsText(c: Credentials): string {
  return JSON.stringify({ token: c.token, daemon_id: c.daemon_id, workspace_id: c.workspace_id, issued_at: c.issued_at }, null, 2) + '\n';
}

const nonEmpty = Type.String({ minLength: 1, mustBe: 'a non-empty string' });
/** credentials.json. A problem is named by field, never by quoting a value (the token). */
const CredentialsFile = Type.Object({
  token: Type.String({ pattern: DAEMON_TOKEN_RE.source, mustBe: 'a daemon token (mdt_ followed by 40 hex digits)' }),
  daemon_id: nonEmpty,
  workspace_id: nonEmpty,
  issued_at: nonEmpty,
});

/** What is wrong with a parsed credential (never quoting the token), or undefined. */
export function credentialsProblem(v: unknown): string | undefined {
  return problem(CredentialsFile, v, 'the file', { quote: true });
}
