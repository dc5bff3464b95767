// This machine: disk space and inodes where the state directory lives, the runtimes on
// PATH, and host facts (CPU, memory, OS, virtualisation) from systeminformation, which
// is imported here, on first use, and by nothing the daemon loads: its osInfo() blocks the
// event loop ~20 ms and its chunk stays resident (the daemon reads /etc/os-release itself).
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { shellQuote } from '../../store/errors.js';
import { detectRuntimes } from '../../daemon/tasks-seam.js';
import { errText, fail, formatBytes, pass, withTimeout, type CheckResult } from './check.js';

/** Below either, tasks' work directories and the journal start failing to write. */
export const MIN_FREE_BYTES = 256 * 1024 * 1024;
export const MIN_FREE_INODES = 10_000;
const MIN_FREE_FRACTION = 0.05;

export async function checkDisk(stateDir: string, o: { sudo: string }): Promise<CheckResult[]> {
  // The state dir may not exist yet: measure the filesystem it would be created on.
  let dir = stateDir;
  let st;
  for (;;) {
    try {
      st = await statfs(dir);
      break;
    } catch (e) {
      const parent = dirname(dir);
      if (parent === dir) return [fail('disk.space', 'disk space', `cannot measure ${stateDir}: ${errText(e)}`, `df -h ${shellQuote(stateDir)}`)];
      dir = parent;
    }
  }
  const out: CheckResult[] = [];
  const free = st.bavail * st.bsize;
  const total = st.blocks * st.bsize;
  const where = dir === stateDir ? stateDir : `${dir} (for ${stateDir})`;
  const fix = `${o.sudo}du -xsh ${shellQuote(stateDir)}/* | sort -h   (then remove what is not needed; agentd itself prunes work dirs older than AGENTD_WORKDIR_RETENTION)`;
  const spaceText = `${formatBytes(free)} free of ${formatBytes(total)} on ${where}`;
  out.push(free < MIN_FREE_BYTES || (total > 0 && free / total < MIN_FREE_FRACTION) ? fail('disk.space', 'disk space', `${spaceText}: below ${formatBytes(MIN_FREE_BYTES)} or 5%`, fix) : pass('disk.space', 'disk space', spaceText));
  // Some filesystems (btrfs, some FUSE) report no inode counts: nothing to judge.
  if (st.files > 0) {
    const inodes = `${st.ffree.toLocaleString('en-US')} of ${st.files.toLocaleString('en-US')} inodes free`;
    out.push(st.ffree < MIN_FREE_INODES || st.ffree / st.files < MIN_FREE_FRACTION ? fail('disk.inodes', 'inodes', `${inodes}: below ${MIN_FREE_INODES.toLocaleString('en-US')} or 5%`, `${o.sudo}du -x --inodes ${shellQuote(stateDir)}/* | sort -n | tail   (the folders with the most files; remove what is not needed)`) : pass('disk.inodes', 'inodes', inodes));
  } else out.push(pass('disk.inodes', 'inodes', 'not reported by this filesystem'));
  return out;
}

export async function checkRuntimes(env: NodeJS.ProcessEnv, o: { serviceKind: string | null }): Promise<CheckResult> {
  const found = await detectRuntimes(env);
  const agents = found.filter((r) => r.type !== 'command');
  const text = found.map((r) => `${r.name} ${r.version}`).join(', ');
  // The service's PATH is the unit's, which may differ from this shell's.
  const note = o.serviceKind === 'systemd' ? ' (on this shell\'s PATH; the service sees the unit\'s PATH)' : '';
  if (agents.length) return pass('runtimes', 'runtimes', `${text}${note}`);
  return fail('runtimes', 'runtimes', `only the built-in command runtime: neither claude nor codex is on PATH${note}`, 'npm install -g @anthropic-ai/claude-code   (or @openai/codex), then: agentd restart');
}

export async function checkHostFacts(): Promise<CheckResult> {
  try {
    const si = (await import('systeminformation')).default;
    const [cpu, mem, os, sys] = await withTimeout(10_000, 'systeminformation', () => Promise.all([si.cpu(), si.mem(), si.osInfo(), si.system()]));
    const virt = sys.virtual ? `virtual${sys.virtualHost ? ` (${sys.virtualHost})` : ''}` : 'bare metal or undetected';
    return pass('host', 'host', `${cpu.manufacturer} ${cpu.brand}, ${cpu.cores} CPUs; ${formatBytes(mem.available)} of ${formatBytes(mem.total)} memory available; ${os.distro} ${os.release} (${os.kernel}, ${os.arch}); ${virt}`);
  } catch (e) {
    return fail('host', 'host', `could not read host facts: ${errText(e)}`, 'agentd doctor --json   (and report the host facts error)');
  }
}
