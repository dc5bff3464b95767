// A stable identity for this daemon installation, persisted in the state directory so
// that reinstalling the same machine keeps it (and the platform sees the same daemon).
//
// First creation derives it from /etc/machine-id (hashed: the raw machine id is meant
// to stay private) together with the state directory, so that two installs on one
// machine (a system service and a user service, or test daemons in temp directories)
// do not collide. Without a machine id (macOS, minimal containers) it is random.
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { ensureDir, writeFileAtomic } from './atomic.js';
import { readSmallFile } from './json-file.js';
import { STATE_DIR_TRAVERSE, type AgentdPaths } from './paths.js';

const DAEMON_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MACHINE_ID_FILES = ['/etc/machine-id', '/var/lib/dbus/machine-id'];

export async function loadOrCreateDaemonId(paths: AgentdPaths, o: { machineIdFiles?: string[] } = {}): Promise<string> {
  const existing = await readDaemonId(paths);
  if (existing) return existing;
  const id = (await derivedId(paths.stateDir, o.machineIdFiles ?? MACHINE_ID_FILES)) ?? randomUUID();
  await ensureDir(paths.stateDir, 0o700, STATE_DIR_TRAVERSE);
  await writeFileAtomic(paths.daemonIdFile, `${id}\n`, { mode: 0o644 });
  return id;
}

/**
 * A new random id, persisted in place of the old one: the platform refused the old one
 * (daemon_id_in_use), so this installation enrols as a new daemon.
 */
export async function replaceDaemonId(paths: AgentdPaths): Promise<string> {
  const id = randomUUID();
  await ensureDir(paths.stateDir, 0o700);
  await writeFileAtomic(paths.daemonIdFile, `${id}\n`, { mode: 0o644 });
  return id;
}

/** The persisted id, or null when none (or an unusable one) is stored. */
export async function readDaemonId(paths: AgentdPaths): Promise<string | null> {
  const file = await readSmallFile(paths.daemonIdFile, 4096);
  const id = file?.text.trim();
  return id && DAEMON_ID_RE.test(id) ? id : null;
}

async function derivedId(stateDir: string, files: string[]): Promise<string | null> {
  for (const f of files) {
    const machineId = await fs.readFile(f, 'utf8').then((t) => t.trim(), () => '');
    if (!/^[0-9a-f]{32}$/i.test(machineId)) continue;
    const h = createHash('sha256').update(`agentd-daemon-id\0${machineId}\0${stateDir}`).digest();
    // Format as an RFC 4122 version-5-style UUID (name-based, SHA hash).
    h[6] = (h[6] & 0x0f) | 0x50;
    h[8] = (h[8] & 0x3f) | 0x80;
    const x = h.subarray(0, 16).toString('hex');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
  }
  return null;
}
