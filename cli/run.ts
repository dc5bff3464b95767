// PLACEHOLDER until its owner lands it: keeps the command table and the build whole.
import { defineCommand } from './command.js';
import { UserError } from './errors.js';

export const command = defineCommand({
  name: 'run',
  summary: 'not built yet',
  usage: 'agentd run',
  flags: {},
  async run() {
    throw new UserError('agentd run is not built yet');
  },
});
