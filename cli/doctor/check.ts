// One doctor check's result, and the helpers the check modules share.
export interface CheckResult {
  /** Stable id for scripts (`--json`): config.file, platform.tls, disk.space… */
  id: string;
  /** What was checked, as a person says it: "credential file". */
  title: string;
  ok: boolean;
  /** What was found: "0600 agentd, token for daemon 4f…" or what is wrong. */
  detail: string;
  /** The exact command that fixes it (only when !ok). */
  fix?: string;
}

export const pass = (id: string, title: string, detail: string): CheckResult => ({ id, title, ok: true, detail });
export const fail = (id: string, title: string, detail: string, fix: string): CheckResult => ({ id, title, ok: false, detail, fix });

/** "1.2 GiB", "512 MiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Runs `fn`, giving up after `ms` (a hung probe must not hang the doctor). */
export async function withTimeout<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
