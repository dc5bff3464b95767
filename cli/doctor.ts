// `agentd doctor`: one screen of checks, each ✓ or ✗ with the exact command that fixes it,
// from the files on disk up to the platform accepting the credential. Exit 0 only when
// every check passes (1 otherwise). The checks live in cli/doctor/; this file orders and
// prints them.
import pc from 'picocolors';
import { defineCommand } from './command.js';
import { UsageError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { TARGET_FLAGS, resolveTarget, type Target } from '../installer/target.js';
import type { CheckResult } from './doctor/check.js';
import { checkFiles } from './doctor/files.js';
import { checkHealth, checkService } from './doctor/service.js';
import { checkPlatform, checkProxy } from './doctor/network.js';
import { checkDisk, checkHostFacts, checkRuntimes } from './doctor/host.js';
import { fail } from './doctor/check.js';
import { checkSettings } from './doctor/settings.js';

export interface DoctorReport {
  ok: boolean;
  mode: string;
  config_dir: string;
  state_dir: string;
  checks: CheckResult[];
}

export const command = defineCommand({
  name: 'doctor',
  summary: 'Check this machine and say what to fix',
  usage: 'agentd doctor [--json] [--mode system|user] [--config-dir DIR] [--state-dir DIR]',
  flags: {
    json: { type: 'boolean', description: 'Print the checks as JSON' },
    ...TARGET_FLAGS,
  },
  details: 'Exit status: 0 when every check passes, 1 otherwise.',
  async run({ flags, positionals }, io) {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0].slice(0, 40)}"`);
    // Nothing installed is a finding, not an error: the checks say what is missing.
    const target = resolveTarget(flags, io.env, process.platform, { orDefault: true });
    const report = await runDoctor(target, io.env);
    if (flags.json) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else io.stdout.write(formatDoctor(report, Boolean(io.stdout.isTTY) && !io.env.NO_COLOR));
    return report.ok ? EXIT.OK : EXIT.FAILURE;
  },
});

export async function runDoctor(target: Target, env: NodeJS.ProcessEnv): Promise<DoctorReport> {
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  const sudo = target.mode === 'system' && uid !== 0 ? 'sudo ' : '';
  const checks: CheckResult[] = [];
  const files = await checkFiles(target.paths, target.mode, { uid, sudo });
  checks.push(...files.checks);
  checks.push(checkSettings(env));
  const service = await checkService(target, { sudo });
  checks.push(...service);
  const installed = service.some((c) => c.id === 'service.installed' && c.ok);
  checks.push((await checkHealth(target, env, { sudo, serviceInstalled: installed, platformUrl: files.config?.platform_url })).check);
  let url: URL | null = null;
  if (files.config) url = new URL(files.config.platform_url);
  checks.push(checkProxy(url, env));
  if (url) checks.push(...(await checkPlatform(url, files.credentials?.token ?? null, env, { insecureHttp: files.config?.insecure_http === true })));
  else checks.push(fail('platform', 'platform', 'not checked: no platform URL (config.json is missing or invalid)', 'see the config file check above'));
  checks.push(...(await checkDisk(target.paths.stateDir, { sudo })));
  checks.push(await checkRuntimes(env, { serviceKind: target.service?.kind ?? null }));
  checks.push(await checkHostFacts());
  return { ok: checks.every((c) => c.ok), mode: target.mode, config_dir: target.paths.configDir, state_dir: target.paths.stateDir, checks };
}

export function formatDoctor(r: DoctorReport, color: boolean): string {
  const c = pc.createColors(color);
  const width = Math.max(...r.checks.map((x) => x.title.length));
  const lines = [`${c.bold('agentd doctor')}: ${r.mode} install (${r.config_dir}, ${r.state_dir})`];
  for (const x of r.checks) {
    lines.push(`  ${x.ok ? c.green('✓') : c.red('✗')} ${x.title.padEnd(width)}  ${x.ok ? x.detail : c.red(x.detail)}`);
    if (!x.ok && x.fix) lines.push(`    ${' '.repeat(width)}  ${c.bold('fix:')} ${x.fix}`);
  }
  const failed = r.checks.filter((x) => !x.ok).length;
  lines.push(failed ? c.red(`${failed} of ${r.checks.length} checks failed.`) : c.green(`All ${r.checks.length} checks passed.`));
  return lines.join('\n') + '\n';
}
