// PLACEHOLDER until its owner lands it: keeps the command table and the build whole.
import { defineCommand } from './command.js';
import { UserError } from './errors.js';

export const command = defineCommand({
  name: 'status',
  summary: 'not built yet',
  usage: 'agentd status',
  flags: {},
  async run() {
    throw new UserError('agentd status is not built yet');
  },
});
