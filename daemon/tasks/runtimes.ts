// Which runtimes this machine offers: `command` always, `claude` and `codex` when their
// CLI is on PATH (version from `--version`). Found once at start and sent at register.
import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { RuntimeInfo } from '../../api/types.js';
import { VERSION } from '../../api/version.js';
import { ADAPTERS } from './adapters/index.js';

/** Absolute path of an executable `name` on `PATH`, or null. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

function versionOf(path: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve) => {
    execFile(path, ['--version'], { env, timeout: 5000, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      const text = `${stdout || ''}${stdout ? '' : stderr || ''}`.trim().split('\n')[0]?.trim() ?? '';
      resolve(err && !text ? 'unknown' : text || 'unknown');
    });
  });
}

export async function detectRuntimes(env: NodeJS.ProcessEnv): Promise<RuntimeInfo[]> {
  const found: RuntimeInfo[] = [{ name: 'command', type: 'command', version: VERSION, status: 'online' }];
  const probes = Object.values(ADAPTERS)
    .filter((a) => a.binary !== null)
    .map(async (a) => {
      const path = findOnPath(a.binary as string, env);
      if (!path) return null;
      const info: RuntimeInfo = { name: a.name, type: a.name, version: await versionOf(path, env), status: 'online' };
      return info;
    });
  for (const r of await Promise.all(probes)) if (r) found.push(r);
  return found;
}
