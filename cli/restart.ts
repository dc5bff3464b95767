// `agentd restart`: restart the service (starts it when stopped, clears a start-limit
// failure) and wait until the daemon is ready again.
import { defineCommand } from './command.js';
import { UsageError, UserError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { TARGET_FLAGS, resolveTarget } from '../installer/target.js';
import { waitForReady } from '../installer/ready.js';
import { parseDurationFlag } from './durations.js';

export const command = defineCommand({
  name: 'restart',
  summary: 'Restart the service',
  usage: 'agentd restart [--no-wait] [--timeout 60s] [--mode system|user]',
  flags: {
    'no-wait': { type: 'boolean', description: 'Do not wait until the daemon is ready again' },
    timeout: { type: 'string', value: 'DURATION', description: 'How long to wait for ready (default 60s)' },
    ...TARGET_FLAGS,
  },
  async run({ flags, positionals }, io) {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0].slice(0, 40)}"`);
    const target = resolveTarget(flags, io.env);
    const svc = target.service;
    if (!svc || !(await svc.isInstalled())) {
      throw new UserError('agentd is not installed as a service here', { exitCode: EXIT.NOT_RUNNING, hint: 'Install it: agentd install --platform URL (with an install token), or run it in the foreground: agentd run' });
    }
    const since = Date.now();
    io.stderr.write('agentd: restarting (running tasks get the drain time)\n');
    await svc.restart();
    if (flags['no-wait']) return EXIT.OK;
    const timeoutMs = parseDurationFlag('--timeout', flags.timeout, 60_000);
    const ready = await waitForReady({ paths: target.paths, service: svc, since, timeoutMs, onProgress: (w) => io.stderr.write(`agentd:   … ${w}\n`) });
    io.stdout.write(`agentd is ready again (pid ${ready.info.pid})\n`);
    return EXIT.OK;
  },
});
