// `agentd status`: the service manager's state and the daemon's own account (health
// port /status), on one screen for a person (colours on a TTY) or as JSON for scripts.
// Exit: 0 ready · 1 running but not ready · 3 not running (LSB).
import pc from 'picocolors';
import { sanitizeText } from '../api/text.js';
import { defineCommand } from './command.js';
import { UsageError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { TARGET_FLAGS, resolveTarget } from '../installer/target.js';
import { gatherStatus, type StatusReport } from '../installer/status.js';

export const command = defineCommand({
  name: 'status',
  summary: "Show the service's and the daemon's state",
  usage: 'agentd status [--json] [--mode system|user] [--config-dir DIR] [--state-dir DIR]',
  flags: {
    json: { type: 'boolean', description: 'Print the report as JSON' },
    ...TARGET_FLAGS,
  },
  details: 'Exit status: 0 ready · 1 running but not ready · 3 not running.',
  async run({ flags, positionals }, io) {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0].slice(0, 40)}"`);
    const target = resolveTarget(flags, io.env);
    const report = await gatherStatus(target, io.env);
    if (flags.json) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else io.stdout.write(formatStatus(report, { color: Boolean(io.stdout.isTTY) && !io.env.NO_COLOR, now: new Date() }));
    return report.ready ? EXIT.OK : report.running ? EXIT.FAILURE : EXIT.NOT_RUNNING;
  },
});

/** "3s", "4m05s", "2h10m", "3d4h". */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

// Every string shown comes from the daemon's /status, much of it first from the platform
// (reasons quoting its errors, runtime names, task ids): no control character reaches
// the terminal (an ESC sequence could retitle it, recolour it or hide lines).
const str = (v: unknown): string | undefined => (typeof v === 'string' ? sanitizeText(v) : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

export function formatStatus(r: StatusReport, o: { color: boolean; now: Date }): string {
  const c = pc.createColors(o.color);
  const ago = (iso: string | undefined): string => (iso ? `${formatAge((o.now.getTime() - Date.parse(iso)) / 1000)} ago` : 'never');
  const d = r.daemon ?? {};
  const state = str(d.state) ?? (r.running ? 'unknown' : 'not running');
  const paint = state === 'ready' ? c.green : state === 'degraded' || state === 'registering' || state === 'starting' || state === 'draining' ? c.yellow : c.red;
  const lines: string[] = [];
  const row = (label: string, value: string): void => void lines.push(`  ${c.dim(label.padEnd(10))} ${value}`);

  lines.push(`${c.bold('agentd')} ${paint(c.bold(state))}${str(d.device_name) ? ` as "${str(d.device_name)}"` : ''}${str(d.version) ? c.dim(` (v${str(d.version)})`) : ''}`);
  if (r.running) {
    row('since', `${ago(str(d.state_since))}${str(d.state_since) ? c.dim(` (${str(d.state_since)})`) : ''}`);
    const why = r.reason ? sanitizeText(r.reason) : '';
    if (why) row('why', state === 'ready' ? why : paint(why));
    if (state === 'revoked') {
      const url = str(d.platform_url) ?? '<platform>';
      row('fix', `get a new install token from the platform, then: curl -fsSL ${url}/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh -s -- --force`);
      row('', `or, if the credential was rotated, put the new one in place (no restart needed): agentd credentials set < FILE`);
    }
  } else {
    if (r.service?.since) row('since', `${ago(r.service.since)}${c.dim(` (${r.service.since})`)}`);
    row('why', c.red(sanitizeText(r.reason)));
  }
  if (r.service) {
    const s = r.service;
    if (!s.installed) row('service', c.yellow(`not installed (${s.unit})`));
    else {
      const bits = [`${s.active}${s.sub ? ` (${s.sub})` : ''}`];
      if (s.mainPid) bits.push(`pid ${s.mainPid}`);
      if (s.restarts) bits.push(`${s.restarts} restart${s.restarts === 1 ? '' : 's'}`);
      if (s.result && s.result !== 'success') bits.push(c.red(`last result ${s.result}${s.exitStatus !== undefined ? `, exit ${s.exitStatus}${s.exitStatus === EXIT.CONFIG ? ' (configuration error)' : s.exitStatus === EXIT.REVOKED ? ' (credential revoked)' : ''}` : ''}`));
      row('service', `${s.kind} ${bits.join(', ')}`);
    }
  }
  if (r.running) {
    const reach = d.platform_reachable === true ? c.green('reachable') : d.platform_reachable === false ? c.red('unreachable') : c.yellow('not contacted yet');
    if (str(d.platform_url)) row('platform', `${str(d.platform_url)} ${reach}${str(d.workspace_id) ? c.dim(` workspace ${str(d.workspace_id)}`) : ''}`);
    const hb = obj(d.heartbeat);
    const fails = num(hb.consecutive_failures) ?? 0;
    const hbText = `last ok ${ago(str(hb.last_success_at))}${num(hb.latency_ms) !== undefined ? ` (${num(hb.latency_ms)} ms)` : ''}${fails ? c.red(`, ${fails} failure${fails === 1 ? '' : 's'} in a row`) : ''}`;
    row('heartbeat', hbText);
    const runtimes = Array.isArray(d.runtimes) ? d.runtimes.map((x) => str(obj(x).name) ?? '?') : [];
    if (runtimes.length) row('runtimes', runtimes.join(', '));
    const tasks = obj(d.tasks);
    const running = Array.isArray(tasks.running) ? tasks.running.map(obj) : [];
    row('tasks', `${running.length} running${num(tasks.max) !== undefined ? ` of ${num(tasks.max)}` : ''}`);
    for (const t of running) {
      const idle = num(t.seconds_since_output) ?? 0;
      const deadline = str(t.watchdog_deadline);
      const left = deadline ? (Date.parse(deadline) - o.now.getTime()) / 1000 : null;
      const watchdog = left === null ? 'watchdog off' : left < 60 ? c.yellow(`watchdog in ${formatAge(left)}`) : `watchdog in ${formatAge(left)}`;
      lines.push(`    ${str(t.id) ?? '?'}  ${(str(t.runtime) ?? '').padEnd(8)} started ${ago(str(t.started_at))}, idle ${formatAge(idle)}, ${watchdog}${t.tool_in_flight ? ', tool running' : ''}`);
    }
    if (r.health_url) row('health', c.dim(`${r.health_url}/status`));
  }
  if (r.service && (!r.running || !r.ready)) row('logs', r.service.logs);
  if (!r.running && r.service && !r.service.installed) row('next', 'enrol this machine: curl -fsSL <platform>/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh');
  return lines.join('\n') + '\n';
}
