// Who listens on a TCP port, for the message a person reads when the health port is
// taken. Linux only: /proc/net/tcp{,6} name the owning uid of every socket to any user
// (so a squatter of another account is still named); the pid is found only when the
// socket belongs to a process this user may inspect. Elsewhere: the command to ask.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface PortHolder {
  uid: number;
  user: string | null;
  pid: number | null;
  command: string | null;
}

/** The listener on `port` (any local address), or null when it cannot be told. */
export function portHolder(port: number, procRoot = '/proc'): PortHolder | null {
  if (process.platform !== 'linux') return null;
  for (const table of ['net/tcp', 'net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(`${procRoot}/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      const localPort = parseInt(f[1]!.split(':')[1] ?? '', 16);
      if (localPort !== port) continue;
      const uid = Number(f[7]);
      const inode = f[9]!;
      const pid = pidOfSocket(inode, procRoot);
      return { uid, user: userName(uid), pid, command: pid === null ? null : commandOf(pid, procRoot) };
    }
  }
  return null;
}

/** "uid 1001 (bob), pid 4242 (python3)", or the command that finds out. */
export function describePortHolder(port: number, h: PortHolder | null): string {
  if (!h) {
    return process.platform === 'darwin' ? `see: lsof -nP -iTCP:${port} -sTCP:LISTEN` : `see: ss -ltnp 'sport = :${port}'`;
  }
  const who = `uid ${h.uid}${h.user ? ` (${h.user})` : ''}`;
  return `held by ${who}${h.pid !== null ? `, pid ${h.pid}${h.command ? ` (${h.command})` : ''}` : ''}`;
}

function pidOfSocket(inode: string, procRoot: string): number | null {
  const target = `socket:[${inode}]`;
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((n) => /^[0-9]+$/.test(n));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // another user's process: not ours to look into
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`${procRoot}/${pid}/fd/${fd}`) === target) return Number(pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

function commandOf(pid: number, procRoot: string): string | null {
  try {
    return readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function userName(uid: number): string | null {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid && f[2] !== '') return f[0] || null;
    }
  } catch {
    // no passwd file (minimal container)
  }
  return null;
}
