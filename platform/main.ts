// agentd-platform: the reference platform (docs/protocol.md), for tests, the demo and small
// self-hosted fleets.
//
//   agentd-platform serve --data DIR [--database postgres://…] [--env-file FILE] [--host 127.0.0.1] [--port 0] [--ready-file F]
//     [--public-url URL] [--install-token-ttl 15m] [--no-long-poll] [--no-batch-status] [--offline-after 45s] [--claim-lease 300s]
//     [--ephemeral-offline-after 10m]
//     [--artifacts DIR] [--install-script FILE] [--web-dir DIR]
//
// Logs go to stdout/stderr as plain lines. The only secret ever printed is a generated
// admin token, once, on the start that generated it: it is the operator's own secret
// (like a database's initial root password). mit_/mdt_/mat_ values are never logged.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureDir, writeFileAtomic } from '../store/atomic.js';
import type { PlatformConfig } from './app.js';
import { startPlatformServer } from './server.js';
import { DURATION_FORMS, parseDuration } from '../core/durations.js';
import { AgentdError, ConfigError } from '../core/errors.js';
import { parsePostgresUrl, redactUrl } from './database-url.js';
import { loadPlatformSettings, type PlatformEnvSettings } from './settings.js';

const USAGE = `Usage: agentd-platform serve --data DIR [options]

Runs the reference agent platform (enrolment, daemon API, task queue, install.sh).

Options:
  --data DIR                 state directory (SQLite database, generated admin token)   [required]
  --database URL             keep the state in PostgreSQL instead of SQLite under --data:
                             postgres://USER:PASSWORD@HOST:PORT/DATABASE (a password is
                             better in AGENTD_PLATFORM_DATABASE, PGPASSWORD or ~/.pgpass:
                             a flag is visible in the process list)
  --host HOST                listen address (default 127.0.0.1)
  --port PORT                listen port (default 0: any free port)
  --ready-file FILE          once listening, write {"url","admin_token","workspace_id","pid"} there (0600)
  --public-url URL           URL daemons and install.sh use (default: the listen URL)
  --install-token-ttl DUR    lifetime of install tokens (default 15m; e.g. 500ms, 90s, 2h)
  --offline-after DUR        a daemon without heartbeat for this long shows offline (default 45s)
  --claim-lease DUR          a claimed task not started within this long (and 45 s past its
                             last prepare-lease) is queued again: the claim's answer was
                             lost or the daemon died preparing it; default 300s (Multica's
                             claim-to-start window), 0 disables
  --ephemeral-offline-after DUR  an ephemeral daemon (agentd install --ephemeral, or an
                             install token minted with "ephemeral": true) silent this long
                             is revoked and deregistered; default 10m, 0 disables
  --no-long-poll             answer task claims at once, ignoring wait_s
  --no-batch-status          do not serve POST /api/daemon/tasks/status (daemons poll each
                             task, as against a Multica server)
  --log-requests             one line per request: method, path, status, time (no headers, no bodies)
  --artifacts DIR            files served under /download/ (default: dist/artifacts)
  --install-script FILE      script served as /install.sh (default: scripts/install.sh)
  --web-dir DIR              operator web page (default: dist/web)

  --env-file FILE            read the settings below from FILE too (KEY=value lines, as in
                             a systemd EnvironmentFile=); the environment wins over it

Environment (a flag wins over its variable):
  AGENTD_PLATFORM_ADMIN_TOKEN  admin bearer token; when unset one is generated on first
                               start, printed once, and kept in DIR/admin-token (0600).
  AGENTD_PLATFORM_DATA, _DATABASE, _HOST, _PORT, _PUBLIC_URL, _INSTALL_TOKEN_TTL,
  _OFFLINE_AFTER, _CLAIM_LEASE: as --data, --database, --host, --port, --public-url,
                               --install-token-ttl, --offline-after, --claim-lease
  AGENTD_PLATFORM_LONG_POLL=false, AGENTD_PLATFORM_LOG_REQUESTS=true: as --no-long-poll,
                               --log-requests
`;

const EX_USAGE = 64;
const EX_CONFIG = 78;

class UsageError extends Error {}

/** Where the bundle lives (dist/, or dist/chunks/ for a split chunk), or ../dist from the sources. */
function distDir(): string {
  let here = dirname(fileURLToPath(import.meta.url));
  if (basename(here) === 'chunks') here = dirname(here);
  return existsSync(join(here, 'agentd-platform.mjs')) ? here : resolve(here, '..', 'dist');
}

function duration(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) throw new UsageError(`--${flag} ${JSON.stringify(value)}: expected a duration such as ${DURATION_FORMS}`);
  return ms;
}

async function adminToken(dataDir: string, fromEnv: string | undefined, log: (s: string) => void): Promise<string> {
  if (fromEnv) return fromEnv;
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim();
    if (t) {
      log(`agentd-platform: admin token read from ${file}`);
      return t;
    }
  }
  const t = 'adm_' + randomBytes(24).toString('hex');
  // Through store/ (the one write path): temp file, fsync, rename, dir fsync, 0600.
  await writeFileAtomic(file, t + '\n', { mode: 0o600 });
  // Printed once, on the start that generated it: the operator's own secret.
  log(`agentd-platform: generated admin token (also saved in ${file}, mode 0600): ${t}`);
  return t;
}

function parse(argv: string[], env: NodeJS.ProcessEnv): { config: Omit<PlatformConfig, 'adminToken'>; readyFile?: string; adminToken?: string; passwordInArgv: boolean } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      data: { type: 'string' },
      database: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'ready-file': { type: 'string' },
      'public-url': { type: 'string' },
      'install-token-ttl': { type: 'string' },
      'offline-after': { type: 'string' },
      'claim-lease': { type: 'string' },
      'ephemeral-offline-after': { type: 'string' },
      'no-long-poll': { type: 'boolean' },
      'no-batch-status': { type: 'boolean' },
      'log-requests': { type: 'boolean' },
      artifacts: { type: 'string' },
      'install-script': { type: 'string' },
      'web-dir': { type: 'string' },
      'env-file': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (positionals[0] !== 'serve' || positionals.length > 1) throw new UsageError('expected the subcommand `serve`');
  // The environment (and --env-file) first; flags override it below.
  const fromEnv: PlatformEnvSettings = loadPlatformSettings(env, values['env-file'] === undefined ? undefined : resolve(values['env-file']));
  const data = values.data ?? fromEnv.dataDir;
  if (!data) throw new UsageError('--data DIR is required (or AGENTD_PLATFORM_DATA)');
  const port = values.port === undefined ? fromEnv.port : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${JSON.stringify(values.port)}: expected 0-65535`);
  let publicUrl = values['public-url'] ?? fromEnv.publicUrl;
  if (publicUrl !== undefined) {
    try {
      const u = new URL(publicUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      throw new UsageError(`--public-url ${JSON.stringify(publicUrl)}: expected an http(s) URL`);
    }
    publicUrl = publicUrl.replace(/\/+$/, '');
  }
  const database = values.database ?? fromEnv.database;
  // Checked here, before anything starts: a usage problem, worded without the URL itself.
  if (database !== undefined) parsePostgresUrl(database);
  const dist = distDir();
  return {
    readyFile: values['ready-file'],
    passwordInArgv: values.database !== undefined && new URL(values.database).password !== '',
    ...(fromEnv.adminToken ? { adminToken: fromEnv.adminToken } : {}),
    config: {
      host: values.host ?? fromEnv.host,
      port,
      dataDir: resolve(data),
      ...(database !== undefined ? { database } : {}),
      publicUrl,
      installTokenTtlMs: duration('install-token-ttl', values['install-token-ttl'], fromEnv.installTokenTtlMs),
      offlineAfterMs: duration('offline-after', values['offline-after'], fromEnv.offlineAfterMs),
      claimLeaseMs: values['claim-lease'] === '0' ? 0 : duration('claim-lease', values['claim-lease'], fromEnv.claimLeaseMs),
      ephemeralOfflineMs: values['ephemeral-offline-after'] === '0' ? 0 : duration('ephemeral-offline-after', values['ephemeral-offline-after'], 10 * 60_000),
      longPoll: values['no-long-poll'] ? false : fromEnv.longPoll,
      batchStatus: !values['no-batch-status'],
      logRequests: values['log-requests'] === true || fromEnv.logRequests,
      artifactsDir: resolve(values.artifacts ?? join(dist, 'artifacts')),
      installScript: resolve(values['install-script'] ?? join(dist, '..', 'scripts', 'install.sh')),
      webDir: resolve(values['web-dir'] ?? join(dist, 'web')),
    },
  };
}

async function main(): Promise<void> {
  process.title = 'agentd-platform';
  const out = (s: string) => process.stdout.write(s + '\n');
  const err = (s: string) => process.stderr.write(s + '\n');
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2), process.env);
  } catch (e) {
    err(`agentd-platform: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof ConfigError) {
      if (e.hint) err(e.hint);
      process.exit(EX_CONFIG);
    }
    err('Run `agentd-platform --help` for usage.');
    process.exit(EX_USAGE);
  }
  const { config: base, readyFile, adminToken: envAdminToken, passwordInArgv } = parsed;
  if (passwordInArgv) {
    err('agentd-platform: the --database URL carries a password, which other users of this machine can read in the process list; put the URL in AGENTD_PLATFORM_DATABASE (or --env-file), or the password in PGPASSWORD or ~/.pgpass');
  }
  let config: PlatformConfig;
  try {
    await ensureDir(base.dataDir, 0o700);
    config = { ...base, adminToken: await adminToken(base.dataDir, envAdminToken, out) };
  } catch (e) {
    err(`agentd-platform: cannot use the data directory ${base.dataDir}: ${e instanceof Error ? e.message : String(e)}`);
    err('Pass a writable directory with --data DIR.');
    process.exit(EX_CONFIG);
  }

  let platform;
  try {
    platform = await startPlatformServer(config, err, out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') err(`agentd-platform: ${config.host}:${config.port} is already in use; pick another with --port (0 = any free port)`);
    else if (code === 'EACCES') err(`agentd-platform: not allowed to listen on ${config.host}:${config.port}; use a port above 1023`);
    else if (e instanceof AgentdError) {
      // The storage's own errors (PostgreSQL unreachable, login refused): already worded, with the next command.
      err(`agentd-platform: ${e.message}`);
      if (e.hint) err(e.hint);
      process.exit(e.exitCode);
    } else err(`agentd-platform: cannot start: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(EX_CONFIG);
  }
  out(`agentd-platform listening on ${platform.url}`);
  if (platform.publicUrl !== platform.url) out(`agentd-platform: public URL ${platform.publicUrl}`);
  out(`agentd-platform: default workspace ${platform.defaultWorkspaceId}; data in ${config.database !== undefined ? `PostgreSQL ${redactUrl(config.database)}` : config.dataDir}`);
  if (readyFile) {
    await writeFileAtomic(
      resolve(readyFile),
      JSON.stringify({
        url: platform.url,
        public_url: platform.publicUrl,
        admin_token: config.adminToken,
        workspace_id: platform.defaultWorkspaceId,
        pid: process.pid,
      }) + '\n',
      { mode: 0o600 },
    );
  }

  let stopping = false;
  const stop = (sig: NodeJS.Signals) => {
    if (stopping) {
      err(`agentd-platform: second ${sig}, exiting now`);
      process.exit(1);
    }
    stopping = true;
    out(`agentd-platform: ${sig}, shutting down`);
    // Start the deadline before the close work (close-with-grace habit).
    const deadline = setTimeout(() => {
      err('agentd-platform: shutdown took longer than 5 s, exiting');
      process.exit(1);
    }, 5000);
    deadline.unref();
    platform.close().then(
      () => process.exit(0),
      (e: unknown) => {
        err(`agentd-platform: error while closing: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`agentd-platform: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(70);
});
