// What `agentd status` shows: the service manager's view plus the daemon's own (its
// health port /status and /readyz), gathered into one report; cli/status.ts prints it.
import { readRuntimeInfo } from '../store/runtime-info.js';
import type { ServiceState } from './service.js';
import type { Target } from './target.js';
import { getHealth } from './ready.js';
import { processAlive } from '../store/processes.js';

export interface StatusReport {
  mode: string;
  config_dir: string;
  state_dir: string;
  service: (ServiceState & { kind: string; unit: string; logs: string }) | null;
  /** The daemon answered on its health port. */
  running: boolean;
  ready: boolean;
  /** The daemon's /readyz reason, or why we think it is not running. */
  reason: string;
  health_url: string | null;
  /** The daemon's /status document (never holds a token). */
  daemon: Record<string, unknown> | null;
}

/** Default health address when daemon.json cannot be read (e.g. /var/lib/agentd without sudo). */
function fallbackHealthUrl(env: NodeJS.ProcessEnv): string | null {
  const addr = env.AGENTD_HEALTH_ADDR ?? '127.0.0.1:19514';
  if (addr === '0' || addr.endsWith(':0')) return null;
  return `http://${addr}`;
}

export async function gatherStatus(t: Target, env: NodeJS.ProcessEnv): Promise<StatusReport> {
  const service = t.service ? { ...(await t.service.state().catch((e: unknown) => ({ installed: false, active: 'unknown', sub: String(e) }))), kind: t.service.kind, unit: t.service.unitPath, logs: t.service.logsHint() } : null;
  let info = null;
  let readable = true;
  try {
    info = await readRuntimeInfo(t.paths);
  } catch {
    readable = false;
  }
  const live = info && processAlive(info.pid) ? info : null;
  const healthUrl = live?.health_url ?? (!readable || (info === null && service?.active === 'active') ? fallbackHealthUrl(env) : null);
  const base = { mode: t.mode, config_dir: t.paths.configDir, state_dir: t.paths.stateDir, service, health_url: healthUrl };
  if (!healthUrl) {
    const reason = info && !live ? `not running (daemon.json names pid ${info.pid}, which is gone)` : !readable ? `cannot read ${t.paths.runtimeFile} (try with sudo)` : 'not running';
    return { ...base, running: false, ready: false, reason, daemon: null };
  }
  const [readyz, status] = await Promise.all([getHealth(healthUrl, '/readyz'), getHealth(healthUrl, '/status')]);
  if (!readyz) return { ...base, running: false, ready: false, reason: `nothing answers on ${healthUrl}`, daemon: null };
  const reason = typeof readyz.body?.reason === 'string' ? readyz.body.reason : typeof status?.body?.reason === 'string' ? status.body.reason : '';
  return { ...base, running: true, ready: readyz.status === 200, reason, daemon: status?.body ?? null };
}
