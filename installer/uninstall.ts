// `agentd uninstall`: stop the daemon (the service, or a daemon started by hand),
// revoke its own credential on the platform (unless asked not to), remove the unit/plist,
// the credential and the config. Keeps logs, the state directory (task journal, work
// dirs, daemon id), the installed builds, the command and the service user, and says so;
// `--purge` removes those too. Keeps going past failures and reports each step.
//
// Order: stop first (a draining daemon still reports its tasks with the credential),
// then revoke (after that the credential is a 401 everywhere, not just a deregistered
// daemon), then delete. Without a platform the local clean-up still happens, and the
// result says the credential is still valid and how to revoke it from the page.
//
// Ephemeral machines (`agentd install --ephemeral`) do not drain: the second SIGTERM
// follows the first at once (the daemon's "stop now" path), since the machine is about
// to disappear anyway and the platform ends its tasks when the credential is revoked.
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PlatformClient } from '../api/client.js';
import { NotFound, Unauthorized } from '../api/errors.js';
import { readConfig, type AgentConfig } from '../store/config.js';
import { readCredentials } from '../store/credentials.js';
import { removeFile } from '../store/atomic.js';
import { removeBuilds, removeSymlink, removeTree } from '../store/purge.js';
import { readRuntimeInfo } from '../store/runtime-info.js';
import { execCommand, toolOutput } from './exec.js';
import type { Target } from './target.js';
import { processAlive } from '../store/processes.js';
import { getHealth } from './ready.js';

export interface UninstallOptions {
  keepRegistration?: boolean;
  /** Also remove the installed builds, the command link, the service user and group, the config and state directories. */
  purge?: boolean;
  /** Progress lines. */
  say: (line: string) => void;
  /** How long a hand-started daemon may take to drain after SIGTERM (default 90 s). */
  stopTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** process.argv of this agentd (where its build lives); tests override it. */
  argv?: string[];
}

export interface UninstallResult {
  stopped: boolean;
  /** true: the credential is revoked (by this call, or it already was); 'failed': it may still work. */
  revoked: boolean | 'skipped' | 'failed';
  /** Kept for scripts that read the older field: true when the platform no longer lists it online. */
  deregistered: boolean | 'skipped' | 'failed';
  ephemeral: boolean;
  removed: string[];
  kept: string[];
  errors: string[];
  /** When the credential could not be revoked: how to do it from the platform. */
  revokeHint?: string;
}

/** The system service's user and group, created by `agentd install`. */
const SERVICE_USER = 'agentd';

export async function uninstall(t: Target, o: UninstallOptions): Promise<UninstallResult> {
  const res: UninstallResult = { stopped: false, revoked: 'skipped', deregistered: 'skipped', ephemeral: false, removed: [], kept: [], errors: [] };
  const note = (what: string, err: unknown): void => {
    const msg = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    res.errors.push(msg);
    o.say(`warning: ${msg}`);
  };

  // Read what revoking needs before anything is removed.
  const config = await readConfig(t.paths).catch((e: unknown) => (note('reading the config', e), null));
  const creds = await readCredentials(t.paths.credentialsFile).catch((e: unknown) => (note('reading the credential', e), null));
  res.ephemeral = config?.ephemeral === true;

  // 1. stop: the service (SIGTERM, drain), or a daemon someone started by hand.
  const info = await readRuntimeInfo(t.paths).catch(() => null);
  const livePid = info && info.pid !== process.pid && processAlive(info.pid) ? info.pid : null;
  const hurry = res.ephemeral && livePid !== null ? stopAtOnce(livePid, info?.health_url ?? null) : null;
  if (res.ephemeral) o.say('ephemeral machine: stopping at once (running tasks are not drained)');
  if (t.service && (await t.service.isInstalled())) {
    o.say(`stopping ${t.service.kind === 'systemd' ? 'the agentd service' : 'the agentd launchd job'}${res.ephemeral ? '' : ' (running tasks get the drain time)'}`);
    await t.service.stop().then(() => (res.stopped = true), (e: unknown) => note('stopping the service', e));
  }
  if (livePid !== null && processAlive(livePid)) {
    o.say(`stopping the daemon (pid ${livePid})`);
    try {
      process.kill(livePid, 'SIGTERM');
      const deadline = Date.now() + (o.stopTimeoutMs ?? 90_000);
      while (processAlive(livePid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (processAlive(livePid)) note('stopping the daemon', new Error(`pid ${livePid} still running after SIGTERM`));
      else res.stopped = true;
    } catch (e) {
      note('stopping the daemon', e);
    }
  }
  await hurry;

  // 2. revoke the credential on the platform (this also marks the daemon deregistered).
  if (!o.keepRegistration && config && creds) await revokeOwnCredential(config, creds.token, res, note, o.say);

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

  // 5. everything else: removed with --purge, otherwise named as kept.
  const build = installedBuild(o.env ?? process.env, o.argv ?? process.argv);
  const purgeable: { path: string; what: string; remove: () => Promise<boolean> }[] = [
    { path: t.paths.stateDir, what: 'task journal, work dirs, daemon id', remove: () => removeTree(t.paths.stateDir) },
  ];
  if (t.paths.logDir) purgeable.push({ path: t.paths.logDir, what: 'logs', remove: () => removeTree(t.paths.logDir!) });
  purgeable.push({ path: t.paths.configDir, what: 'config directory', remove: () => removeTree(t.paths.configDir) });
  if (build) {
    if (build.link) purgeable.push({ path: build.link, what: 'the agentd command', remove: () => removeSymlink(build.link!) });
    purgeable.push({
      path: build.libDir,
      what: 'installed agentd builds',
      remove: async () => {
        const r = await removeBuilds(build.libDir);
        // Not ours (no build marker): named, never removed.
        for (const p of r.left) res.kept.push(`${p} (not an agentd build directory: left in place)`);
        return r.removed;
      },
    });
  }
  for (const p of purgeable) {
    if (!existsSync(p.path) && !isLink(p.path)) continue;
    if (!o.purge) {
      res.kept.push(`${p.path} (${p.what})`);
      continue;
    }
    await p.remove().then((gone) => gone && res.removed.push(p.path), (e: unknown) => note(`removing ${p.path}`, e));
  }
  if (t.mode === 'system' && t.service?.kind === 'systemd') {
    const user = await execCommand('getent', ['passwd', SERVICE_USER]);
    if (user.code === 0) {
      if (!o.purge) res.kept.push(`user and group ${SERVICE_USER} (the service user)`);
      else await removeServiceUser(res, note);
    }
  }
  return res;
}

async function revokeOwnCredential(
  config: AgentConfig,
  token: string,
  res: UninstallResult,
  note: (what: string, err: unknown) => void,
  say: (line: string) => void,
): Promise<void> {
  const client = new PlatformClient({
    baseUrl: config.platform_url,
    getToken: () => token,
    getSource: () => ({ workspace_id: config.workspace_id, daemon_id: config.daemon_id }),
  });
  // An ephemeral machine is going away: one quick try, not the retries.
  const call = res.ephemeral ? { timeoutMs: 3_000, attempts: 1 } : { timeoutMs: 10_000, attempts: 2 };
  try {
    await client.revokeSelf(call);
    res.revoked = true;
    res.deregistered = true;
    say(`revoked this machine's credential on ${config.platform_url} (it no longer authenticates)`);
  } catch (e) {
    if (e instanceof Unauthorized) {
      res.revoked = true; // revoked already (by the operator, a rotation, or an earlier uninstall)
      res.deregistered = true;
      say('the platform had already revoked this credential');
    } else if (e instanceof NotFound) {
      // A platform without the self-revoke route: deregister, and say the credential still works.
      await client.deregister({ runtime_ids: [] }, call).then(
        () => (res.deregistered = true),
        () => (res.deregistered = 'failed'),
      );
      res.revoked = 'failed';
      res.revokeHint = revokeHint(config);
      note(`the platform at ${config.platform_url} cannot revoke a credential on request (no /api/daemon/revoke); it still works until revoked`, new Error(res.revokeHint));
    } else {
      res.revoked = 'failed';
      res.deregistered = 'failed';
      res.revokeHint = revokeHint(config);
      note(`could not revoke the credential on ${config.platform_url}; it still works until revoked (${res.revokeHint})`, e);
    }
  } finally {
    await client.close().catch(() => undefined);
  }
}

function revokeHint(c: AgentConfig): string {
  return `revoke it from the platform page: open ${c.platform_url}/, find "${c.device_name}" under Machines and press Revoke… (daemon id ${c.daemon_id})`;
}

/** The daemon's first SIGTERM starts a drain; a second one, once it is draining, stops it at once. */
async function stopAtOnce(pid: number, healthUrl: string | null): Promise<void> {
  const deadline = Date.now() + 5_000;
  // Wait for the first signal (sent by the service manager or below) to be seen, so the
  // two are not merged into one by the kernel.
  while (Date.now() < deadline && processAlive(pid)) {
    const r = healthUrl ? await getHealth(healthUrl, '/readyz', 500) : null;
    if (!r || r.body?.state === 'draining' || r.body?.state === 'stopped') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    if (processAlive(pid)) process.kill(pid, 'SIGTERM');
  } catch {
    // gone already
  }
}

/**
 * Where this agentd's build lives when it was installed by install.sh: the build is
 * <lib>/<version.stamp>/, <lib>/current links to it, and the command is a link to
 * <lib>/current/bin/agentd (AGENTD_LAUNCHER, set by the launcher). null from a source
 * checkout (nothing of ours to remove).
 */
export function installedBuild(env: NodeJS.ProcessEnv, argv: string[]): { libDir: string; link?: string } | null {
  const script = argv[1];
  if (!script) return null;
  let root: string;
  try {
    root = dirname(dirname(realpathSync(script)));
  } catch {
    return null;
  }
  const libDir = dirname(root);
  if (!isLink(join(libDir, 'current'))) return null;
  const launcher = env.AGENTD_LAUNCHER;
  let link: string | undefined;
  if (launcher && isLink(launcher)) {
    try {
      if (realpathSync(launcher).startsWith(realpathSync(libDir) + '/')) link = launcher;
    } catch {
      // a dangling link is not ours to judge
    }
  }
  return { libDir, ...(link ? { link } : {}) };
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

async function removeServiceUser(res: UninstallResult, note: (what: string, err: unknown) => void): Promise<void> {
  const u = await execCommand('userdel', [SERVICE_USER]);
  if (u.code !== 0) {
    note(`removing the user ${SERVICE_USER}`, new Error(toolOutput(u)));
    return;
  }
  res.removed.push(`user ${SERVICE_USER}`);
  // userdel removes the user's own group on most systems (USERGROUPS_ENAB); not on all.
  if ((await execCommand('getent', ['group', SERVICE_USER])).code === 0) {
    const g = await execCommand('groupdel', [SERVICE_USER]);
    if (g.code !== 0) note(`removing the group ${SERVICE_USER}`, new Error(toolOutput(g)));
    else res.removed.push(`group ${SERVICE_USER}`);
  } else res.removed.push(`group ${SERVICE_USER}`);
}
