// `agentd install`: flags and printing only. The enrolment is installer/enroll.ts; the
// service (systemd/launchd) is a ServiceStep handed to makeInstallCommand, so this file
// never branches on the OS.
import { defineCommand, type CommandIO } from './command.js';
import { UsageError, UserError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { enroll, enrolmentToKeep, readInstallToken, INSTALL_TOKEN_ENV, type EnrollResult, type ServiceStep } from '../installer/enroll.js';
import type { AgentConfig } from '../store/config.js';
import type { AgentdPaths } from '../store/paths.js';
import { isInstallMode, resolvePaths } from '../store/paths.js';
import { describeServicePlan, makeServiceStep } from '../installer/service-step.js';
import { shellQuote } from '../store/errors.js';

const flags = {
  platform: { type: 'string', value: 'URL', description: "The platform's base URL (from the install command in the platform UI)" },
  name: { type: 'string', value: 'DEVICE', description: 'Name shown in the platform (default: this host name)' },
  mode: { type: 'string', value: 'system|user', description: 'System service (root, /etc/agentd) or per-user service (default: system as root on Linux, else user)' },
  'no-service': { type: 'boolean', description: 'Enrol only: write config + credentials, install no service' },
  force: { type: 'boolean', description: 'Replace an existing enrolment (spends the token; credentials and config replaced, the daemon id is kept)' },
  ephemeral: { type: 'boolean', description: 'Mark this machine ephemeral: the platform removes it after a time offline; uninstall does not drain' },
  'config-dir': { type: 'string', value: 'DIR', description: 'Where config.json and credentials.json go (env AGENTD_CONFIG_DIR)' },
  'state-dir': { type: 'string', value: 'DIR', description: 'Where the lock, journal and work dirs go (env AGENTD_STATE_DIR)' },
  'token-file': { type: 'string', value: 'FILE', description: 'Read the install token from FILE' },
  token: { type: 'string', value: '-', description: 'Only "-": read the install token from standard input' },
  'insecure-http': { type: 'boolean', description: 'Accept a plain http:// platform URL to another host (the credential travels unencrypted)' },
  json: { type: 'boolean', description: 'Print the result as JSON' },
  'dry-run': { type: 'boolean', description: 'Print the service unit/plist and the commands; change nothing, spend no token' },
} as const;

/** The service step is optional: without one, only --no-service installs are possible. */
export function makeInstallCommand(service?: ServiceStep<{ lines: string[] } | void>) {
  return defineCommand({
    name: 'install',
    summary: 'Enrol this machine with a one-time install token and start the service',
    usage: 'agentd install --platform URL [--name DEVICE] [--mode system|user] [--no-service] [--force] [--token-file FILE | --token -]',
    flags,
    details: [
      'The install token (mit_…) is read from, in this order:',
      '  --token -            standard input (e.g. printf %s "$TOKEN" | agentd install … --token -)',
      '  --token-file FILE    a file',
      `  ${INSTALL_TOKEN_ENV.padEnd(20)} the environment`,
      'Never as a plain --token value: every user of the machine can read argv with `ps`.',
      '',
      'On a machine already enrolled with this platform, it upgrades in place instead: no token is',
      'needed or spent, the service is updated and restarted on this build, the daemon id is kept.',
      'Use --force to enrol again with a new token.',
    ].join('\n'),
    async run({ flags: f, positionals }, io) {
      // Not echoed: a stray argument may well be a pasted token.
      if (positionals.length) throw new UsageError('unexpected argument (not shown, it may be a secret)', 'Run `agentd install --help` for usage.');
      // The token check comes first: a refused --token value must not depend on other flags.
      if (f.token !== undefined && f.token !== '-') await readInstallToken({ tokenFlag: f.token, env: {}, stdin: io.stdin });
      if (!f.platform) throw new UsageError('--platform URL is required', 'Copy the install command from the platform UI; it names the platform.');
      if (f.mode !== undefined && !isInstallMode(f.mode)) throw new UsageError(`--mode must be "system" or "user" (got "${f.mode.slice(0, 40)}")`);
      const withService = !f['no-service'];
      if (withService && !service) {
        throw new UserError('this build of agentd cannot install the service yet', {
          exitCode: EXIT.USAGE,
          hint: 'Enrol with --no-service, then start the daemon yourself with `agentd run`.',
        });
      }

      if (f['dry-run']) {
        const paths = resolvePaths({ mode: f.mode as 'system' | 'user' | undefined, configDir: f['config-dir'], stateDir: f['state-dir'], env: io.env });
        io.stdout.write(`# would exchange the install token at ${f.platform} and write ${paths.configFile} + ${paths.credentialsFile} (0600)\n`);
        if (withService) io.stdout.write(describeServicePlan(paths.mode, paths, { env: io.env }));
        return EXIT.OK;
      }
      const kept = await enrolmentToKeep({ platformUrl: f.platform, mode: f.mode as 'system' | 'user' | undefined, configDir: f['config-dir'], stateDir: f['state-dir'], env: io.env, force: f.force });
      if (kept) return upgradeInPlace(io, kept, { service: withService ? service : undefined, json: Boolean(f.json), tokenGiven: Boolean(io.env[INSTALL_TOKEN_ENV] || f['token-file'] || f.token) });
      const token = await readInstallToken({ tokenFlag: f.token, tokenFile: f['token-file'], env: io.env, stdin: io.stdin, prompt: io.stderr });
      const result = await enroll({
        platformUrl: f.platform,
        token,
        deviceName: f.name,
        mode: f.mode as 'system' | 'user' | undefined,
        configDir: f['config-dir'],
        stateDir: f['state-dir'],
        force: f.force,
        insecureHttp: f['insecure-http'],
        ephemeral: f.ephemeral,
        env: io.env,
        beforeExchange: async (ctx) => {
          if (!withService || !service) return;
          await service.preflight(ctx);
          // Progress lines belong to the service install (a --no-service enrolment stays quiet).
          io.stderr.write('agentd: exchanging the install token\n');
        },
      });

      let serviceLines: string[] = [];
      if (withService && service) {
        try {
          serviceLines = (await service.install({ mode: result.config.mode, paths: result.paths, config: result.config }))?.lines ?? [];
        } catch (err) {
          // Enrolled but not running: say both, so the person does not spend a new token.
          printResult(io, result, [], Boolean(f.json), f);
          throw err;
        }
      }
      printResult(io, result, serviceLines, Boolean(f.json), f, withService);
      return EXIT.OK;
    },
  });
}

export const command = makeInstallCommand(makeServiceStep());

/**
 * The enrolment stays (no token read or spent, daemon id kept); the service is updated
 * and restarted so it runs the build that was just installed.
 */
async function upgradeInPlace(
  io: CommandIO,
  kept: { paths: AgentdPaths; config: AgentConfig },
  o: { service?: ServiceStep<{ lines: string[] } | void>; json: boolean; tokenGiven: boolean },
): Promise<number> {
  // Not needed, and no child (systemctl…) may inherit it.
  delete io.env[INSTALL_TOKEN_ENV];
  const c = kept.config;
  io.stderr.write(
    `agentd: this machine is already enrolled as "${c.device_name}" (daemon id ${c.daemon_id}): upgrading in place${o.tokenGiven ? '; the install token was not used (it stays valid until it expires; --force re-enrols with it)' : ''}\n`,
  );
  let lines: string[] = [];
  if (o.service) {
    await o.service.preflight({ mode: c.mode, paths: kept.paths });
    lines = (await o.service.install({ mode: c.mode, paths: kept.paths, config: c, upgrade: true }))?.lines ?? [];
  }
  if (o.json) {
    io.stdout.write(
      JSON.stringify({
        enrolled: true,
        upgraded: true,
        replaced_previous: false,
        device_name: c.device_name,
        workspace_id: c.workspace_id,
        daemon_id: c.daemon_id,
        platform_url: c.platform_url,
        mode: c.mode,
        config_file: kept.paths.configFile,
        credentials_file: kept.paths.credentialsFile,
        state_dir: kept.paths.stateDir,
        service: o.service ? lines : null,
      }) + '\n',
    );
  } else {
    io.stdout.write(
      [`Upgraded in place: "${c.device_name}" keeps its enrolment in workspace ${c.workspace_id} (${c.platform_url}).`, `  daemon id    ${c.daemon_id} (kept)`, ...lines].join('\n') + '\n',
    );
  }
  return EXIT.OK;
}

function printResult(
  io: CommandIO,
  r: EnrollResult,
  serviceLines: string[],
  json: boolean,
  f: { 'config-dir'?: string; 'state-dir'?: string; mode?: string },
  serviceDone = false,
): void {
  const c = r.config;
  const runCmd = ['agentd run', f.mode ? `--mode ${c.mode}` : '', f['config-dir'] ? `--config-dir ${shellQuote(r.paths.configDir)}` : '', f['state-dir'] ? `--state-dir ${shellQuote(r.paths.stateDir)}` : '']
    .filter(Boolean)
    .join(' ');
  if (json) {
    io.stdout.write(
      JSON.stringify({
        enrolled: true,
        replaced_previous: r.replaced !== null,
        device_name: c.device_name,
        workspace_id: c.workspace_id,
        daemon_id: c.daemon_id,
        new_daemon_id: r.newDaemonId,
        platform_url: c.platform_url,
        mode: c.mode,
        config_file: r.paths.configFile,
        credentials_file: r.paths.credentialsFile,
        state_dir: r.paths.stateDir,
        service: serviceDone ? serviceLines : null,
        next: serviceDone ? null : runCmd,
      }) + '\n',
    );
    return;
  }
  const lines = [
    `${r.replaced ? 'Re-enrolled' : 'Enrolled'} this machine as "${c.device_name}" in workspace ${c.workspace_id} (${c.platform_url}).`,
    `  daemon id    ${c.daemon_id}${r.newDaemonId ? ' (new: the platform has this machine\'s previous id enrolled with a credential it no longer holds; revoke that one in the platform UI)' : ''}`,
    `  config       ${r.paths.configFile}`,
    `  credential   ${r.paths.credentialsFile} (mode 0600)`,
    `  state        ${r.paths.stateDir}`,
    ...serviceLines,
    serviceDone ? '' : `Next: start the daemon with \`${runCmd}\` (or run \`agentd install\` without --no-service to install it as a service).`,
  ].filter((l) => l !== '');
  io.stdout.write(lines.join('\n') + '\n');
}
