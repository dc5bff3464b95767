// PLACEHOLDER until its owner lands it: keeps the command table and the build whole.
import { defineCommand } from './command.js';
import { UserError } from './errors.js';

export const command = defineCommand({
  name: 'install',
  summary: 'not built yet',
  usage: 'agentd install',
  flags: {},
  async run() {
    throw new UserError('agentd install is not built yet');
  },
});
