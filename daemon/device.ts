// Device facts sent at registration, gathered ONCE per process and cached (never per
// heartbeat).
//   basic: node:os (host name, OS, arch, CPUs, memory), instant; the first registration
//          sends these, so start-to-ready never waits for device probing (multica#825).
//   rich:  systeminformation (OS release, CPU model), loaded lazily after the daemon is
//          ready. Measured here: ~35–45 ms, ~20 ms of it blocking the event loop in
//          execSync (FQDN, MAC addresses), so it must stay off the start-up path. The
//          daemon sends it with one idempotent re-registration (the platform upserts).
import { arch, availableParallelism, hostname, totalmem } from 'node:os';
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

/** Gathers the systeminformation facts once (idempotent); never rejects. */
export function gatherRichDeviceInfo(): Promise<DeviceInfo> {
  rich ??= (async () => {
    const base = basicDeviceInfo();
    try {
      const mod = await import('systeminformation');
      const si = (mod as unknown as { default?: typeof mod }).default ?? mod;
      const [osInfo, cpu] = await Promise.all([si.osInfo(), si.cpu()]);
      const release = [osInfo.distro, osInfo.release].filter(Boolean).join(' ');
      const model = `${cpu.manufacturer ?? ''} ${cpu.brand ?? ''}`.trim();
      richValue = { ...base, ...(release ? { os_release: release } : {}), ...(model ? { cpu_model: model } : {}) };
    } catch {
      richValue = base;
    }
    return richValue;
  })();
  return rich;
}
