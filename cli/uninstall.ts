// `agentd uninstall`: flags and printing; the work is installer/uninstall.ts.
import { defineCommand } from './command.js';
import { UsageError, UserError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { TARGET_FLAGS, resolveTarget } from '../installer/target.js';
import { uninstall } from '../installer/uninstall.js';

export const command = defineCommand({
  name: 'uninstall',
  summary: 'Stop the service, revoke this machine\'s credential on the platform and remove it',
  usage: 'agentd uninstall [--purge] [--keep-registration] [--json] [--mode system|user] [--config-dir DIR] [--state-dir DIR]',
  flags: {
    purge: { type: 'boolean', description: 'Also remove the installed builds, the agentd command, the service user and group, the config and state directories' },
    'keep-registration': { type: 'boolean', description: 'Do not revoke the credential on the platform (the daemon stays listed, offline)' },
    json: { type: 'boolean', description: 'Print the result as JSON' },
    ...TARGET_FLAGS,
  },
  details: [
    'Revokes the credential on the platform (it stops authenticating), then removes the service unit/plist,',
    'credentials.json and config.json. Keeps, and lists, the state directory (task journal, work dirs,',
    'daemon id), the logs, the installed builds, the agentd command and the service user; --purge removes them.',
    'Without a reachable platform it still cleans up here and says how to revoke the credential from the page.',
  ].join('\n'),
  async run({ flags, positionals }, io) {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0].slice(0, 40)}"`);
    // Nothing installed is not an error here: uninstalling twice succeeds.
    const target = resolveTarget(flags, io.env, process.platform, { orDefault: true });
    const say = (line: string): void => void io.stderr.write(`agentd: ${line}\n`);
    const r = await uninstall(target, { keepRegistration: Boolean(flags['keep-registration']), purge: Boolean(flags.purge), say, env: io.env });
    if (flags.json) io.stdout.write(JSON.stringify(r) + '\n');
    else {
      for (const f of r.removed) io.stdout.write(`removed  ${f}\n`);
      for (const f of r.kept) io.stdout.write(`kept     ${f}\n`);
      if (r.kept.length && !flags.purge) io.stdout.write('(agentd uninstall --purge removes what is kept)\n');
      if (r.revoked === 'failed') io.stdout.write(`The credential could NOT be revoked on the platform and still works: ${r.revokeHint}.\n`);
      io.stdout.write(r.errors.length ? 'agentd is uninstalled, with warnings (above).\n' : 'agentd is uninstalled.\n');
    }
    if (r.errors.some((e) => e.includes(target.paths.credentialsFile))) {
      throw new UserError('the credential could not be removed', { exitCode: EXIT.CANTCREAT, hint: `Remove it by hand: sudo rm ${target.paths.credentialsFile}` });
    }
    return EXIT.OK;
  },
});
