// PLACEHOLDER until its owner lands it: keeps the command table and the build whole.
import { defineCommand } from './command.js';
import { UserError } from './errors.js';

export const command = defineCommand({
  name: 'uninstall',
  summary: 'not built yet',
  usage: 'agentd uninstall',
  flags: {},
  async run() {
    throw new UserError('agentd uninstall is not built yet');
  },
});
