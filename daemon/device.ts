// Device facts sent at registration, gathered ONCE per process and cached (never per
// heartbeat).
//   basic: node:os (host name, OS, arch, CPUs, memory), instant; the first registration
//          sends these, so start-to-ready never waits for device probing (multica#825).
//   rich:  OS release (/etc/os-release, or `sw_vers` on macOS) and CPU model (os.cpus()),
//          gathered after the daemon is ready and sent with one idempotent
//          re-registration (the platform upserts).
//
// Why not systeminformation (the design card lists it for this): measured here, its osInfo()
// blocks the event loop ~20 ms in execSync (FQDN, MAC addresses), takes 35–45 ms, and
// loading it keeps a 730 KB chunk resident, against an idle-RSS budget of 1.6× a bare
// node process; the two strings it would add cost one small file read here.
import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { arch, availableParallelism, cpus, hostname, totalmem } from 'node:os';
import { clientOS, type DeviceInfo } from '../api/types.js';

let rich: Promise<DeviceInfo> | null = null;
let richValue: DeviceInfo | null = null;

export function basicDeviceInfo(): DeviceInfo {
  return { hostname: hostname(), os: clientOS(), arch: arch(), cpus: availableParallelism(), memory_bytes: totalmem() };
}

/** The richest facts known so far (no waiting). */
export function currentDeviceInfo(): DeviceInfo {
  return richValue ?? basicDeviceInfo();
}

/** PRETTY_NAME (or NAME VERSION_ID) from an os-release file's text. */
export function parseOsRelease(text: string): string | null {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]] = m[2].replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return vars.PRETTY_NAME || [vars.NAME, vars.VERSION_ID].filter(Boolean).join(' ') || null;
}

async function osRelease(): Promise<string | null> {
  if (process.platform === 'darwin') {
    return new Promise((resolve) => execFile('sw_vers', ['-productVersion'], { timeout: 2000 }, (err, out) => resolve(err ? null : `macOS ${out.trim()}`)));
  }
  for (const f of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return parseOsRelease(await readFile(f, 'utf8'));
    } catch {
      // next
    }
  }
  return null;
}

/** Gathers the richer facts once (idempotent); never rejects. */
export function gatherRichDeviceInfo(): Promise<DeviceInfo> {
  rich ??= (async () => {
    const base = basicDeviceInfo();
    const release = await osRelease().catch(() => null);
    const model = cpus()[0]?.model?.trim();
    richValue = { ...base, ...(release ? { os_release: release } : {}), ...(model ? { cpu_model: model } : {}) };
    return richValue;
  })();
  return rich;
}
