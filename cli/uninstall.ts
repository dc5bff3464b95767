// `agentd uninstall`: flags and printing; the work is installer/uninstall.ts.
import { defineCommand } from './command.js';
import { UsageError, UserError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { TARGET_FLAGS, resolveTarget } from '../installer/target.js';
import { uninstall } from '../installer/uninstall.js';

export const command = defineCommand({
  name: 'uninstall',
  summary: 'Stop the service, deregister and remove credentials',
  usage: 'agentd uninstall [--keep-registration] [--json] [--mode system|user] [--config-dir DIR] [--state-dir DIR]',
  flags: {
    'keep-registration': { type: 'boolean', description: 'Do not deregister from the platform (the daemon stays listed, offline)' },
    json: { type: 'boolean', description: 'Print the result as JSON' },
    ...TARGET_FLAGS,
  },
  details: 'Removes the service unit/plist, credentials.json and config.json. Keeps the logs and the state directory (task journal, work dirs, daemon id).',
  async run({ flags, positionals }, io) {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0].slice(0, 40)}"`);
    // Nothing installed is not an error here: uninstalling twice succeeds.
    const target = resolveTarget(flags, io.env, process.platform, { orDefault: true });
    const say = (line: string): void => void io.stderr.write(`agentd: ${line}\n`);
    const r = await uninstall(target, { keepRegistration: Boolean(flags['keep-registration']), say });
    if (flags.json) io.stdout.write(JSON.stringify(r) + '\n');
    else {
      for (const f of r.removed) io.stdout.write(`removed  ${f}\n`);
      for (const f of r.kept) io.stdout.write(`kept     ${f}\n`);
      io.stdout.write(r.errors.length ? 'agentd is uninstalled, with warnings (above).\n' : 'agentd is uninstalled.\n');
    }
    if (r.errors.some((e) => e.includes(target.paths.credentialsFile))) {
      throw new UserError('the credential could not be removed', { exitCode: EXIT.CANTCREAT, hint: `Remove it by hand: sudo rm ${target.paths.credentialsFile}` });
    }
    return EXIT.OK;
  },
});
