// Waiting for a freshly (re)started daemon to be ready, and reading its health port:
// the daemon writes <stateDir>/daemon.json {pid, health_url, started_at} once its health
// port listens; /readyz answers 200 once it is registered with the platform. Loopback
// HTTP through global fetch (node:http world), not the platform client.
import type { AgentdPaths } from '../store/paths.js';
import { readRuntimeInfo, type RuntimeInfoFile } from '../store/runtime-info.js';
import type { ServiceManager } from './service.js';
import { UserError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { processAlive } from '../store/processes.js';
import { baselineWasmOnly } from '../api/wasm-flags.js';

export interface HealthAnswer {
  status: number;
  body: Record<string, unknown> | null;
}

/** GET <healthUrl><path> with a short timeout; null when nothing answers. */
export async function getHealth(healthUrl: string, path: string, timeoutMs = 2_000): Promise<HealthAnswer | null> {
  try {
    // Node's fetch parses with its own copy of llhttp: the same flag, set before it compiles.
    baselineWasmOnly();
    const res = await fetch(new URL(path, healthUrl), { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: Record<string, unknown> | null = null;
    try {
      const v: unknown = JSON.parse(text);
      if (v && typeof v === 'object' && !Array.isArray(v)) body = v as Record<string, unknown>;
    } catch {
      body = text ? { text } : null;
    }
    return { status: res.status, body };
  } catch {
    return null;
  }
}

export interface WaitForReadyOptions {
  paths: AgentdPaths;
  service?: ServiceManager;
  /** Only a daemon started at or after this time counts (ms since epoch). */
  since: number;
  timeoutMs: number;
  pollMs?: number;
  /** Called when what we wait for changes ("starting", "registering…"), for progress lines. */
  onProgress?: (what: string) => void;
}

export interface Ready {
  info: RuntimeInfoFile;
  status: Record<string, unknown> | null;
}

/**
 * Resolves once the daemon started after `since` answers /readyz 200. Throws a UserError
 * with the last known reason and the logs command when the service fails or time runs out.
 */
export async function waitForReady(o: WaitForReadyOptions): Promise<Ready> {
  const deadline = Date.now() + o.timeoutMs;
  const pollMs = o.pollMs ?? 200;
  let last = 'the daemon has not started yet (no daemon.json)';
  // The starting point is not news: only a change is reported (every install used to
  // print "has not started yet" before the daemon had had a chance to start).
  let reported = last;
  const hint = o.service ? `See its logs: ${o.service.logsHint()}` : undefined;
  for (;;) {
    const info = await readRuntimeInfo(o.paths).catch(() => null);
    // A daemon.json from before the restart describes a process that is gone.
    const fresh = info && Date.parse(info.started_at) >= o.since - 1_000 && processAlive(info.pid);
    if (info && fresh) {
      if (!info.health_url) return { info, status: null }; // health port disabled: nothing more to wait for
      const r = await getHealth(info.health_url, '/readyz');
      if (r?.status === 200) return { info, status: (await getHealth(info.health_url, '/status'))?.body ?? null };
      const reason = r?.body && typeof r.body.reason === 'string' ? r.body.reason : r ? `readyz answered ${r.status}` : 'the health port does not answer';
      const state = r?.body && typeof r.body.state === 'string' ? `${r.body.state}: ` : '';
      last = `${state}${reason}`;
    }
    if (o.service) {
      const s = await o.service.state().catch(() => null);
      if (s && (s.active === 'failed' || (s.active === 'inactive' && Date.now() - o.since > 3_000))) {
        const why = s.exitStatus !== undefined ? `exited with status ${s.exitStatus}${s.exitStatus === EXIT.CONFIG ? ' (configuration error)' : s.exitStatus === EXIT.REVOKED ? ' (credential revoked)' : ''}` : `result ${s.result ?? s.sub}`;
        throw new UserError(`the agentd service failed to start: ${why}`, { hint });
      }
    }
    if (last !== reported) {
      reported = last;
      o.onProgress?.(last);
    }
    if (Date.now() >= deadline) {
      throw new UserError(`agentd did not become ready within ${Math.round(o.timeoutMs / 1000)} s (last seen: ${last})`, {
        exitCode: EXIT.UNAVAILABLE,
        hint: `${hint ? `${hint}\n` : ''}It keeps trying in the background; check again with: agentd status`,
      });
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
