// PLACEHOLDER until its owner lands it: keeps the command table and the build whole.
import { defineCommand } from './command.js';
import { UserError } from './errors.js';

export const command = defineCommand({
  name: 'credentials',
  summary: 'not built yet',
  usage: 'agentd credentials',
  flags: {},
  async run() {
    throw new UserError('agentd credentials is not built yet');
  },
});
