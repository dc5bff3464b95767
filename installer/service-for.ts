// Picks the service manager of this OS. A module of its own so that service.ts (the
// interface both managers implement) imports neither of them: no import circle.
import { UserError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { LaunchdService } from './launchd.js';
import type { ServiceManager, ServiceOptions } from './service.js';
import { SystemdService } from './systemd.js';

/** Picks the service manager of this OS: systemd on Linux, launchd on macOS. */
export function serviceManagerFor(o: ServiceOptions): ServiceManager {
  const platform = o.platform ?? process.platform;
  if (platform === 'linux') return new SystemdService(o);
  if (platform === 'darwin') return new LaunchdService(o);
  throw new UserError(`agentd cannot install a service on ${platform}`, {
    exitCode: EXIT.CONFIG,
    hint: 'Run the daemon yourself: agentd install --no-service, then agentd run.',
  });
}
