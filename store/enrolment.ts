// Writes an enrolment (config.json + credentials.json) as one unit as far as a file
// system allows: both files are first written in full to staging files next to their
// targets (temp + fsync + mode, through writeFileAtomic), and only then renamed into
// place, credential first, followed by one directory fsync. Everything that can
// realistically fail (permissions, ENOSPC, a non-regular target) fails while staging,
// when the previous pair is still untouched. Only a crash in the microseconds between the
// two renames could leave a new credential next to the old config (both then still name
// the same daemon id, which --force keeps; the workspace may differ).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureDir, fsyncDir, isCode, mapFsError, writeFileAtomic } from './atomic.js';
import { CONFIG_DIR_MODE, CONFIG_FILE_MODE, configText, type AgentConfig } from './config.js';
import { CREDENTIALS_DIR_MODE, CREDENTIALS_FILE_MODE, credentialsProblem, credentialsText, type Credentials } from './credentials.js';
import { DiskFull, NotRegularFile, NotWritable } from './errors.js';
import type { AgentdPaths } from './paths.js';
import { checkDir, checkFile } from './ownership.js';

export async function writeEnrolment(paths: AgentdPaths, config: AgentConfig, creds: Credentials): Promise<void> {
  const problem = credentialsProblem(creds);
  if (problem) throw new TypeError(`writeEnrolment: ${problem}`);
  if (creds.daemon_id !== config.daemon_id || creds.workspace_id !== config.workspace_id) throw new TypeError('writeEnrolment: config and credentials disagree');
  // Directories and files another user owns (or links) are refused before root writes.
  for (const dir of new Set([dirname(paths.credentialsFile), dirname(paths.configFile)])) await checkDir(dir);
  await ensureDir(dirname(paths.credentialsFile), CREDENTIALS_DIR_MODE);
  if (dirname(paths.configFile) !== dirname(paths.credentialsFile)) await ensureDir(dirname(paths.configFile), CONFIG_DIR_MODE);
  await checkFile(paths.credentialsFile);
  await checkFile(paths.configFile);
  // A replaced file keeps its owner: a system service may run as its own user, which the
  // service installer made the owner of these files (root writes them here).
  const credOwner = await refuseNonRegular(paths.credentialsFile);
  const configOwner = await refuseNonRegular(paths.configFile);

  const suffix = `.staging-${process.pid}-${randomBytes(4).toString('hex')}`;
  const credStage = paths.credentialsFile + suffix;
  const configStage = paths.configFile + suffix;
  try {
    await stage(credStage, paths.credentialsFile, credentialsText(creds), CREDENTIALS_FILE_MODE, credOwner);
    await stage(configStage, paths.configFile, configText(config), CONFIG_FILE_MODE, configOwner);
    await rename(credStage, paths.credentialsFile);
    await rename(configStage, paths.configFile);
  } finally {
    await fs.unlink(credStage).catch(() => {});
    await fs.unlink(configStage).catch(() => {});
  }
  await fsyncDir(dirname(paths.credentialsFile));
  if (dirname(paths.configFile) !== dirname(paths.credentialsFile)) await fsyncDir(dirname(paths.configFile));
}

/**
 * Proves `dir` accepts a new file (before an install token is spent on an enrolment
 * that could not be saved): Tailscale's "write {} on first start" habit.
 */
export async function probeWritable(dir: string): Promise<void> {
  // A directory owned by another user is refused here, before the token is spent.
  await checkDir(dir);
  // A plain exclusive create + write, no fsync: this only asks "may I create a file
  // here, is there room", and durability of a file deleted at once does not matter.
  const probe = join(dir, `.agentd-write-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await fs.writeFile(probe, '{}\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw mapFsError(err, dir);
  } finally {
    await fs.unlink(probe).catch(() => {});
  }
}

/** The owner of an existing regular file (undefined when missing); refuses anything else. */
async function refuseNonRegular(path: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const st = await fs.stat(path);
    if (!st.isFile()) throw new NotRegularFile(`${path} exists and is not a regular file; refusing to replace it`, { path });
    return { uid: st.uid, gid: st.gid };
  } catch (err) {
    if (err instanceof NotRegularFile) throw err;
    if (!isCode(err, 'ENOENT')) throw mapFsError(err, path);
    return undefined;
  }
}

/** writeFileAtomic to the staging path; errors name the real target, not the staging file. */
async function stage(stagePath: string, target: string, text: string, mode: number, owner: { uid: number; gid: number } | undefined): Promise<void> {
  try {
    await writeFileAtomic(stagePath, text, { mode, owner });
  } catch (err) {
    if (err instanceof DiskFull || err instanceof NotWritable) {
      const Cls = err.constructor as typeof DiskFull;
      throw new Cls(err.message.split(stagePath).join(target), { path: target, hint: err.hint, cause: err.cause });
    }
    throw err;
  }
}

async function rename(from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to);
  } catch (err) {
    throw mapFsError(err, to);
  }
}
