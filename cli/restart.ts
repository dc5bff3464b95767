// PLACEHOLDER until its owner lands it: keeps the command table and the build whole.
import { defineCommand } from './command.js';
import { UserError } from './errors.js';

export const command = defineCommand({
  name: 'restart',
  summary: 'not built yet',
  usage: 'agentd restart',
  flags: {},
  async run() {
    throw new UserError('agentd restart is not built yet');
  },
});
