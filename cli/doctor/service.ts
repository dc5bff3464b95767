// The service manager's view (installed, enabled, active, last exit) and the daemon's own
// (its health port: answering, and in which state).
import { gatherStatus } from '../../installer/status.js';
import type { Target } from '../../installer/target.js';
import { INSTALL_COMMAND } from '../../installer/target.js';
import { EXIT } from '../../core/exit-codes.js';
import { errText, fail, pass, type CheckResult } from './check.js';

const EXIT_NAMES: Record<number, string> = { [EXIT.CONFIG]: 'configuration error', [EXIT.REVOKED]: 'credential revoked', [EXIT.CANTCREAT]: 'cannot write a file', [EXIT.TEMPFAIL]: 'another daemon holds the lock', [EXIT.SOFTWARE]: 'a bug' };

export async function checkService(t: Target, o: { sudo: string }): Promise<CheckResult[]> {
  const svc = t.service;
  if (!svc) return [fail('service.installed', 'service', `no service manager agentd supports on ${process.platform}`, 'agentd run   (under your own supervisor)')];
  const userFlag = svc.kind === 'systemd' && t.mode === 'user' ? ' --user' : '';
  const unit = svc.kind === 'systemd' ? 'agentd.service' : svc.unitPath;
  let s;
  try {
    s = await svc.state();
  } catch (e) {
    return [fail('service.installed', 'service', `cannot ask ${svc.kind}: ${errText(e)}`, svc.kind === 'systemd' ? `systemctl${userFlag} status ${unit}` : `launchctl print ${unit}`)];
  }
  if (!s.installed) return [fail('service.installed', 'service installed', `${svc.unitPath} is missing`, `${INSTALL_COMMAND} -s -- --force`)];
  const out: CheckResult[] = [pass('service.installed', 'service installed', svc.unitPath)];
  if (s.enabled !== undefined) {
    out.push(s.enabled ? pass('service.enabled', 'service enabled', 'starts at boot') : fail('service.enabled', 'service enabled', 'not enabled: it will not start at boot', `${o.sudo}systemctl${userFlag} enable ${unit}`));
  }
  const last = s.exitStatus !== undefined ? `last exit ${s.exitStatus}${EXIT_NAMES[s.exitStatus] ? ` (${EXIT_NAMES[s.exitStatus]})` : ''}` : s.result && s.result !== 'success' ? `last result ${s.result}` : 'last exit 0';
  const bits = [`${s.active}${s.sub ? ` (${s.sub})` : ''}`];
  if (s.mainPid) bits.push(`pid ${s.mainPid}`);
  if (s.since) bits.push(`since ${s.since}`);
  if (s.restarts) bits.push(`${s.restarts} restart${s.restarts === 1 ? '' : 's'}`);
  bits.push(last);
  if (s.active === 'active') out.push(pass('service.active', 'service active', bits.join(', ')));
  else out.push(fail('service.active', 'service active', bits.join(', '), `${svc.logsHint()}   then: ${o.sudo}agentd restart`));
  return out;
}

export async function checkHealth(t: Target, env: NodeJS.ProcessEnv, o: { sudo: string; serviceInstalled: boolean; platformUrl?: string }): Promise<{ check: CheckResult; state: string | null }> {
  const r = await gatherStatus(t, env);
  const start = o.serviceInstalled ? `${o.sudo}agentd restart` : 'agentd run';
  if (!r.running) return { check: fail('daemon.health', 'health port', `no daemon answers: ${r.reason}`, start), state: null };
  const state = typeof r.daemon?.state === 'string' ? r.daemon.state : 'unknown';
  const where = `${r.health_url}: ${state}${r.reason ? `: ${r.reason}` : ''}`;
  if (r.ready) return { check: pass('daemon.health', 'health port', where), state };
  const install = o.platformUrl ? INSTALL_COMMAND.replace('<platform>', o.platformUrl.replace(/\/+$/, '')) : INSTALL_COMMAND;
  const fix = state === 'revoked' ? `agentd credentials set < FILE   (or re-enrol: ${install} -s -- --force)` : state === 'degraded' ? 'see the platform checks below' : r.service?.logs ?? start;
  return { check: fail('daemon.health', 'health port', where, fix), state };
}
