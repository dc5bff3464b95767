// Device facts sent at registration: gathered ONCE per process and cached (never per
// heartbeat). node:os answers the basic facts instantly; systeminformation (loaded
// lazily: it is not needed for anything else) adds the OS release and CPU model. That
// costs ~30–40 ms here, so registration waits for it at most `budgetMs` and otherwise
// goes ahead with what node:os knows: start-to-ready and the first heartbeat must not
// queue behind registration extras (multica#825).
import { arch, availableParallelism, hostname, totalmem } from 'node:os';
import { clientOS, type DeviceInfo } from '../api/types.js';

let cached: Promise<DeviceInfo> | null = null;

export function basicDeviceInfo(): DeviceInfo {
  return { hostname: hostname(), os: clientOS(), arch: arch(), cpus: availableParallelism(), memory_bytes: totalmem() };
}

async function gather(): Promise<DeviceInfo> {
  const base = basicDeviceInfo();
  try {
    const mod = await import('systeminformation');
    const si = (mod as unknown as { default?: typeof mod }).default ?? mod;
    const [osInfo, cpu] = await Promise.all([si.osInfo(), si.cpu()]);
    const release = [osInfo.distro, osInfo.release].filter(Boolean).join(' ');
    return { ...base, ...(release ? { os_release: release } : {}), ...(cpu.brand ? { cpu_model: `${cpu.manufacturer} ${cpu.brand}`.trim() } : {}) };
  } catch {
    return base;
  }
}

/** Starts gathering (idempotent); call early so the work overlaps start-up. */
export function startDeviceFacts(): Promise<DeviceInfo> {
  cached ??= gather();
  return cached;
}

/** The facts, waiting at most budgetMs for the slow part. */
export async function deviceFacts(budgetMs: number): Promise<DeviceInfo> {
  const full = startDeviceFacts();
  let timer: NodeJS.Timeout | undefined;
  const fallback = new Promise<DeviceInfo>((resolve) => {
    timer = setTimeout(() => resolve(basicDeviceInfo()), budgetMs);
  });
  try {
    return await Promise.race([full, fallback]);
  } finally {
    clearTimeout(timer);
  }
}
