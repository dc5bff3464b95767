// `agentd uninstall`: stop the daemon (the service, or a daemon started by hand),
// deregister from the platform (unless asked not to), remove the unit/plist, the
// credential and the config. Keeps logs and the state directory (task journal, work
// dirs, daemon id). Keeps going past failures and reports each step.
import { existsSync } from 'node:fs';
import { PlatformClient } from '../api/client.js';
import { Unauthorized } from '../api/errors.js';
import { readConfig } from '../store/config.js';
import { readCredentials } from '../store/credentials.js';
import { removeFile } from '../store/atomic.js';
import { readRuntimeInfo } from '../store/runtime-info.js';
import type { Target } from './target.js';
import { processAlive } from '../store/processes.js';

export interface UninstallOptions {
  keepRegistration?: boolean;
  /** Progress lines. */
  say: (line: string) => void;
  /** How long a hand-started daemon may take to drain after SIGTERM (default 90 s). */
  stopTimeoutMs?: number;
}

export interface UninstallResult {
  stopped: boolean;
  deregistered: boolean | 'skipped' | 'failed';
  removed: string[];
  kept: string[];
  errors: string[];
}

export async function uninstall(t: Target, o: UninstallOptions): Promise<UninstallResult> {
  const res: UninstallResult = { stopped: false, deregistered: 'skipped', removed: [], kept: [], errors: [] };
  const note = (what: string, err: unknown): void => {
    const msg = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    res.errors.push(msg);
    o.say(`warning: ${msg}`);
  };

  // Read what deregistering needs before anything is removed.
  const config = await readConfig(t.paths).catch((e: unknown) => (note('reading the config', e), null));
  const creds = await readCredentials(t.paths.credentialsFile).catch((e: unknown) => (note('reading the credential', e), null));

  // 1. stop: the service (SIGTERM, drain), or a daemon someone started by hand.
  if (t.service && (await t.service.isInstalled())) {
    o.say(`stopping ${t.service.kind === 'systemd' ? 'the agentd service' : 'the agentd launchd job'} (running tasks get the drain time)`);
    await t.service.stop().then(() => (res.stopped = true), (e: unknown) => note('stopping the service', e));
  }
  const info = await readRuntimeInfo(t.paths).catch(() => null);
  if (info && info.pid !== process.pid && processAlive(info.pid)) {
    o.say(`stopping the daemon (pid ${info.pid})`);
    try {
      process.kill(info.pid, 'SIGTERM');
      const deadline = Date.now() + (o.stopTimeoutMs ?? 90_000);
      while (processAlive(info.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (processAlive(info.pid)) note('stopping the daemon', new Error(`pid ${info.pid} still running after SIGTERM`));
      else res.stopped = true;
    } catch (e) {
      note('stopping the daemon', e);
    }
  }

  // 2. deregister (the daemon's clean stop already marks its runtimes offline; this also
  //    covers a daemon that was not running).
  if (!o.keepRegistration && config && creds) {
    const client = new PlatformClient({ baseUrl: config.platform_url, getToken: () => creds.token });
    try {
      await client.deregister({ runtime_ids: [] }, { timeoutMs: 10_000, attempts: 2 });
      res.deregistered = true;
      o.say(`deregistered from ${config.platform_url}`);
    } catch (e) {
      if (e instanceof Unauthorized) {
        res.deregistered = true; // revoked already: nothing left to deregister
        o.say('the platform had already revoked this daemon');
      } else {
        res.deregistered = 'failed';
        note(`deregistering from ${config.platform_url} (the platform will show it offline)`, e);
      }
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  // 3. the unit / plist
  if (t.service) {
    const had = await t.service.isInstalled();
    await t.service.uninstall().then(() => had && res.removed.push(t.service!.unitPath), (e: unknown) => note('removing the service', e));
  }

  // 4. credential and config (daemon.json too: it describes a process that is gone)
  for (const f of [t.paths.credentialsFile, t.paths.configFile, t.paths.runtimeFile]) {
    const existed = existsSync(f);
    await removeFile(f).then(() => existed && res.removed.push(f), (e: unknown) => note(`removing ${f}`, e));
  }
  res.kept.push(t.paths.stateDir);
  if (t.paths.logDir) res.kept.push(t.paths.logDir);
  return res;
}
