// Enrolment: turn a one-time install token (mit_) into this machine's daemon credential
// (mdt_) and write config + credentials. cli/install.ts parses flags and prints; this
// module decides, in an order chosen so that bad input never costs the token and never
// touches an existing enrolment:
//
//   1. read the token (env / --token-file / stdin) and check its format locally
//   2. refuse an existing enrolment unless --force
//   3. preflight: the config and state dirs exist with the right modes and are
//      writable, the daemon id is persisted, the service step (when any) can run
//   4. exchange the token (retried only while the request provably never left)
//   5. write credentials + config together (store/enrolment.ts: both staged, then
//      renamed), so a failure leaves the previous pair untouched
//
// Every failure a person can fix becomes a UserError whose hint is the next command.
// No message here ever contains a token.
import { hostname } from 'node:os';
import { promises as fs } from 'node:fs';
import {
  BadRequest,
  BadResponse,
  DaemonIdInUse,
  InstallTokenAlreadyUsed,
  InvalidInstallToken,
  NotFound,
  PlatformError,
  PlatformUnavailable,
  RequestAborted,
  isTlsCode,
} from '../api/errors.js';
import { DAEMON_TOKEN_RE, INSTALL_TOKEN_RE } from '../api/types.js';
import { isPlainHttpRemote } from '../api/plain-http.js';
import type { PlatformClient, PlatformClientOptions } from '../api/client.js';
import { UserError, UsageError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { ensureDir } from '../store/atomic.js';
import { readConfig, type AgentConfig } from '../store/config.js';
import { loadOrCreateDaemonId, replaceDaemonId } from '../store/daemon-id.js';
import { readCredentials } from '../store/credentials.js';
import { probeWritable, writeEnrolment } from '../store/enrolment.js';
import { checkDir } from '../store/ownership.js';
import { ConfigFileInvalid, DiskFull, NotRegularFile, NotWritable, StoreError, UntrustedOwner } from '../store/errors.js';
import { STATE_DIR_TRAVERSE, resolvePaths, type AgentdPaths, type InstallMode } from '../store/paths.js';

export const INSTALL_TOKEN_ENV = 'AGENTD_INSTALL_TOKEN';

const SAFE_TOKEN_FORMS = [
  `  ${INSTALL_TOKEN_ENV}=mit_… agentd install --platform URL`,
  '  agentd install --platform URL --token-file FILE',
  '  printf %s "$TOKEN" | agentd install --platform URL --token -',
].join('\n');

const MINT_HINT = 'Mint a new install token in the platform UI (Daemons → Add a machine) and run the command it shows.';

// ------------------------------------------------------------------ token sources

export interface TokenSources {
  /** The --token flag's value: only "-" (stdin) is accepted. */
  tokenFlag?: string;
  tokenFile?: string;
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Where to prompt when stdin is a terminal. */
  prompt?: NodeJS.WritableStream;
}

/**
 * Reads the install token from exactly one source and checks its format. A token given
 * as a plain --token value is refused (argv is visible to every user in `ps`), and the
 * message never repeats it. AGENTD_INSTALL_TOKEN is removed from `env` once read so no
 * child process (systemctl…) inherits it.
 */
export async function readInstallToken(s: TokenSources): Promise<string> {
  if (s.tokenFlag !== undefined && s.tokenFlag !== '-') {
    throw new UsageError('refusing an install token given on the command line: every user of this machine can read it with `ps`', `Pass it in one of these ways instead:\n${SAFE_TOKEN_FORMS}`);
  }
  const given = [s.tokenFlag === '-' ? '--token -' : undefined, s.tokenFile !== undefined ? '--token-file' : undefined].filter((x): x is string => x !== undefined);
  if (given.length > 1) throw new UsageError(`give the install token one way only (got ${given.join(' and ')})`);

  let raw: string;
  let source: string;
  if (s.tokenFlag === '-') {
    source = 'standard input';
    raw = await readTokenLine(s.stdin, s.prompt);
  } else if (s.tokenFile !== undefined) {
    source = s.tokenFile;
    try {
      const st = await fs.stat(s.tokenFile);
      if (st.size > 4096 && st.isFile()) throw new UsageError(`${s.tokenFile} is too large to hold an install token`);
      raw = await fs.readFile(s.tokenFile, 'utf8');
    } catch (err) {
      if (err instanceof UserError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read the token file ${s.tokenFile}${code === 'ENOENT' ? ': no such file' : code === 'EACCES' ? ': permission denied' : code ? ` (${code})` : ''}`);
    }
  } else if (s.env[INSTALL_TOKEN_ENV]) {
    source = INSTALL_TOKEN_ENV;
    raw = s.env[INSTALL_TOKEN_ENV] ?? '';
  } else {
    throw new UsageError('no install token given', `Copy the install command from the platform UI, or pass a token in one of these ways:\n${SAFE_TOKEN_FORMS}`);
  }
  if (source === INSTALL_TOKEN_ENV) delete s.env[INSTALL_TOKEN_ENV];

  const token = raw.trim();
  if (!INSTALL_TOKEN_RE.test(token)) {
    // Describe what is wrong without quoting any of it.
    const what = token === ''
      ? 'it is empty'
      : DAEMON_TOKEN_RE.test(token)
        ? 'it is a daemon credential (mdt_), not an install token (mit_)'
        : !token.startsWith('mit_')
          ? 'it does not start with mit_'
          : `it should be mit_ followed by 40 lowercase hex digits (got ${token.length} characters)`;
    throw new UserError(`the install token from ${source} is malformed: ${what}`, {
      exitCode: EXIT.USAGE,
      hint: DAEMON_TOKEN_RE.test(token) ? 'To install a daemon credential directly, use: agentd credentials set < FILE' : `Copy the whole token from the platform UI. ${MINT_HINT}`,
    });
  }
  return token;
}

/** First line of stdin (≤ 4 KiB); prompts on a terminal. */
async function readTokenLine(stdin: NodeJS.ReadableStream & { isTTY?: boolean }, prompt?: NodeJS.WritableStream): Promise<string> {
  if (stdin.isTTY && prompt) prompt.write('Paste the install token, then press Enter: ');
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    const done = (v: string): void => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onError);
      stdin.pause();
      resolve(v);
    };
    const onData = (chunk: Buffer | string): void => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
      else if (buf.length > 4096) done(buf);
    };
    const onEnd = (): void => done(buf);
    const onError = (err: Error): void => reject(new UsageError(`cannot read the install token from standard input: ${err.message}`));
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.on('error', onError);
    stdin.resume();
  });
}

// ------------------------------------------------------------------ enrolment

/** What the service step (installer/service.ts, wired in cli/install.ts) needs. */
export interface ServiceStep<R = unknown> {
  /** Runs before the token is spent: root, service manager present… Throws UserError. */
  preflight(ctx: { mode: InstallMode; paths: AgentdPaths }): Promise<void>;
  /** Runs after the credential is written (or, `upgrade`, on a kept enrolment): install, (re)start, wait until ready. */
  install(ctx: { mode: InstallMode; paths: AgentdPaths; config: AgentConfig; upgrade?: boolean }): Promise<R>;
}

export interface EnrollOptions {
  platformUrl: string;
  token: string;
  deviceName?: string;
  mode?: InstallMode;
  configDir?: string;
  stateDir?: string;
  force?: boolean;
  /** Accept a plain http:// platform URL to another host (the credential then travels in clear). */
  insecureHttp?: boolean;
  /** Ask the platform to treat this machine as ephemeral (removed after a time offline). */
  ephemeral?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Runs between the preflight and the exchange (service preflight). */
  beforeExchange?: (ctx: { mode: InstallMode; paths: AgentdPaths }) => Promise<void>;
  /** Tests: inject a dispatcher or retry policy. */
  client?: Partial<Omit<PlatformClientOptions, 'baseUrl'>>;
}

export interface EnrollResult {
  paths: AgentdPaths;
  config: AgentConfig;
  /** There was an enrolment before (only possible with --force). */
  replaced: AgentConfig | 'unreadable' | null;
  issuedAt: string;
  /** The id this state dir had was enrolled with a credential this machine no longer holds: a new one was made. */
  newDaemonId: boolean;
}

export async function enroll(o: EnrollOptions): Promise<EnrollResult> {
  const platformUrl = normalizePlatformUrl(o.platformUrl);
  // Before anything else: the install token itself would travel in clear.
  const insecure = isPlainHttpRemote(platformUrl);
  if (insecure && !o.insecureHttp) {
    throw new UsageError(
      `refusing the plain http:// platform URL ${platformUrl}: the install token and the daemon credential would travel unencrypted to another machine`,
      "Use the platform's https:// URL. To accept the risk anyway (a trusted network, a VPN), add --insecure-http.",
    );
  }
  const deviceName = checkDeviceName(o.deviceName ?? hostname());
  const paths = resolvePaths({ mode: o.mode, configDir: o.configDir, stateDir: o.stateDir, env: o.env });
  const mode = paths.mode;

  const replaced = await existingEnrolment(paths, Boolean(o.force));

  // Preflight: everything that can fail on this machine fails before the token is spent.
  let daemonId: string;
  try {
    // A config or state directory another user owns (or a link) is refused before root
    // changes its mode or writes into it.
    await checkDir(paths.configDir);
    await checkDir(paths.stateDir);
    await ensureDir(paths.configDir, 0o700);
    await probeWritable(paths.configDir);
    await ensureDir(paths.stateDir, 0o700, STATE_DIR_TRAVERSE);
    daemonId = await loadOrCreateDaemonId(paths);
  } catch (err) {
    throw storeFailure(err, mode, false);
  }
  await o.beforeExchange?.({ mode, paths });

  // A re-enrolment proves it is this machine with the credential it holds (the
  // platform refuses to re-bind an enrolled daemon id otherwise: 409 daemon_id_in_use).
  // Only ever sent back to the platform that issued it.
  const currentToken = o.force ? await currentCredential(paths, replaced, platformUrl, daemonId) : undefined;

  const { PlatformClient } = await import('../api/client.js');
  const client: PlatformClient = new PlatformClient({ baseUrl: platformUrl, ...o.client });
  let exchanged;
  let newDaemonId = false;
  const eph = o.ephemeral ? { ephemeral: true } : {};
  try {
    try {
      exchanged = await client.exchangeInstallToken({ token: o.token, daemon_id: daemonId, ...(currentToken ? { current_token: currentToken } : {}), ...eph });
    } catch (err) {
      if (!(err instanceof DaemonIdInUse)) throw err;
      // The id is enrolled elsewhere or its credential is gone from this machine (after
      // `agentd uninstall`, or a lost credentials.json): enrol as a new daemon. The
      // token was not used by the refused exchange.
      try {
        daemonId = await replaceDaemonId(paths);
        newDaemonId = true;
      } catch (e) {
        throw storeFailure(e, mode, false);
      }
      exchanged = await client.exchangeInstallToken({ token: o.token, daemon_id: daemonId, ...eph });
    }
  } catch (err) {
    throw exchangeFailure(err, platformUrl);
  } finally {
    await client.close();
  }

  const issuedAt = new Date().toISOString();
  const config: AgentConfig = {
    platform_url: platformUrl,
    workspace_id: exchanged.workspace_id,
    // The platform may canonicalise the id; the credential and config must agree with it.
    daemon_id: exchanged.daemon_id || daemonId,
    device_name: deviceName,
    mode,
    ...(insecure ? { insecure_http: true } : {}),
    ...(exchanged.ephemeral || o.ephemeral ? { ephemeral: true } : {}),
  };
  try {
    await writeEnrolment(paths, config, { token: exchanged.token, daemon_id: config.daemon_id, workspace_id: config.workspace_id, issued_at: issuedAt });
  } catch (err) {
    throw storeFailure(err, mode, true);
  }
  return { paths, config, replaced, issuedAt, newDaemonId };
}

/** The mdt_ this machine holds for `daemonId` on `platformUrl`, if readable. */
async function currentCredential(paths: AgentdPaths, replaced: AgentConfig | 'unreadable' | null, platformUrl: string, daemonId: string): Promise<string | undefined> {
  if (replaced === null || replaced === 'unreadable' || replaced.platform_url !== platformUrl || replaced.daemon_id !== daemonId) return undefined;
  const c = await readCredentials(paths.credentialsFile).catch(() => null);
  return c && c.daemon_id === daemonId && DAEMON_TOKEN_RE.test(c.token) ? c.token : undefined;
}

/**
 * Upgrade in place: re-running the one-liner on an enrolled machine keeps its
 * enrolment. Returns the enrolment when this machine is enrolled with this platform
 * (config and credential present), null when it is not enrolled (or --force asks for a
 * new one). An enrolment with another platform, or an unreadable one, is refused as
 * before: only --force replaces it.
 */
export async function enrolmentToKeep(o: Pick<EnrollOptions, 'platformUrl' | 'mode' | 'configDir' | 'stateDir' | 'env' | 'force'>): Promise<{ paths: AgentdPaths; config: AgentConfig } | null> {
  if (o.force) return null;
  const paths = resolvePaths({ mode: o.mode, configDir: o.configDir, stateDir: o.stateDir, env: o.env });
  let config: AgentConfig | null = null;
  try {
    config = await readConfig(paths);
  } catch {
    // unreadable: existingEnrolment() below says so
  }
  const hasCredential = await fs.lstat(paths.credentialsFile).then(
    () => true,
    () => false,
  );
  if (config && hasCredential && config.platform_url === normalizePlatformUrl(o.platformUrl)) return { paths, config };
  if (!config && !hasCredential) return null;
  await existingEnrolment(paths, false); // throws "already enrolled … --force"
  return null;
}

/** null when not enrolled; the previous config when --force replaces it; throws otherwise. */
async function existingEnrolment(paths: AgentdPaths, force: boolean): Promise<AgentConfig | 'unreadable' | null> {
  let config: AgentConfig | null = null;
  let unreadable = false;
  try {
    config = await readConfig(paths);
  } catch (err) {
    if (!(err instanceof ConfigFileInvalid || err instanceof NotRegularFile)) throw storeFailure(err, paths.mode, false);
    unreadable = true;
  }
  const hasCredential = await fs.lstat(paths.credentialsFile).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== 'ENOENT' && err.code !== 'ENOTDIR',
  );
  if (!config && !unreadable && !hasCredential) return null;
  if (force) return config ?? 'unreadable';

  const who = config ? `as "${config.device_name}" (workspace ${config.workspace_id}, platform ${config.platform_url})` : `(${hasCredential ? paths.credentialsFile : paths.configFile} exists)`;
  throw new UserError(`this machine is already enrolled ${who}`, {
    exitCode: EXIT.FAILURE,
    hint: [
      `To replace that enrolment, run the same command again with --force: it exchanges the new token and replaces ${paths.credentialsFile} and ${paths.configFile}.`,
      'The daemon id is kept. The old credential is no longer used here; revoke it in the platform UI if it is still listed.',
    ].join('\n'),
  });
}

function exchangeFailure(err: unknown, url: string): unknown {
  if (err instanceof InstallTokenAlreadyUsed) {
    return new UserError('this install token was already used: each one enrols a single machine, once', { exitCode: EXIT.REVOKED, hint: MINT_HINT, cause: err });
  }
  if (err instanceof DaemonIdInUse) {
    return new UserError(`the platform at ${url} refused to enrol this machine: its daemon id is enrolled there with a live credential`, {
      exitCode: EXIT.FAILURE,
      hint: 'The install token was not used. Revoke the old daemon in the platform UI (Daemons → Revoke), then run the same command again.',
      cause: err,
    });
  }
  if (err instanceof InvalidInstallToken) {
    return new UserError(`the platform at ${url} does not know this install token, or it has expired (install tokens are valid for 15 minutes)`, { exitCode: EXIT.REVOKED, hint: MINT_HINT, cause: err });
  }
  if (err instanceof PlatformUnavailable) {
    if (err.status === undefined) {
      const code = err.networkCode ?? '';
      const tls = isTlsCode(code);
      return new UserError(err.message.replace(/; the request may have reached the platform, so it was not retried$/, ''), {
        exitCode: EXIT.UNAVAILABLE,
        hint: tls
          ? 'If the platform uses a private certificate authority, point NODE_EXTRA_CA_CERTS at its CA certificate (PEM) and run the same command again.'
          : err.maybeSent
            ? `The connection broke after the token was sent, so it was not retried: the token may now be used. Run the same command again; if it says the token was already used, ${MINT_HINT.charAt(0).toLowerCase()}${MINT_HINT.slice(1)}`
            : `Check the URL and that this machine can reach it (proxy: HTTPS_PROXY/NO_PROXY), e.g. curl -sS ${url}/api/workspaces -o /dev/null -w '%{http_code}\\n'; then run the same command again.`,
        cause: err,
      });
    }
    return new UserError(`the platform at ${url} failed to answer the enrolment (HTTP ${err.status}${err.platformError ? `: ${err.platformError}` : ''})`, {
      exitCode: EXIT.UNAVAILABLE,
      hint: 'Try again in a minute; if it keeps failing, the platform operator should check its logs. If a retry says the token was already used, mint a new one.',
      cause: err,
    });
  }
  if (err instanceof BadResponse) {
    return new UserError(`the platform at ${url} did not answer like an agentd platform (${err.message.replace(/^the platform at \S+ /, '')})`, {
      exitCode: EXIT.UNAVAILABLE,
      hint: 'Check --platform: it must be the platform\'s base URL, as shown in the install command in the platform UI.',
      cause: err,
    });
  }
  if (err instanceof NotFound) {
    return new UserError(`${url} has no install-token exchange (404): is this the platform's URL?`, { exitCode: EXIT.UNAVAILABLE, hint: 'Use the base URL shown in the install command in the platform UI.', cause: err });
  }
  if (err instanceof BadRequest) {
    const wrongUrl = err.status === 405 || err.status === 404;
    return new UserError(`the platform at ${url} rejected the enrolment (HTTP ${err.status}${err.platformError ? `: ${err.platformError}` : ''})`, {
      exitCode: wrongUrl ? EXIT.UNAVAILABLE : EXIT.FAILURE,
      hint: wrongUrl ? 'Check --platform: use the base URL shown in the install command in the platform UI.' : MINT_HINT,
      cause: err,
    });
  }
  if (err instanceof RequestAborted) return new UserError('enrolment interrupted', { exitCode: EXIT.FAILURE, cause: err });
  if (err instanceof PlatformError) return new UserError(err.message, { exitCode: EXIT.FAILURE, cause: err });
  return err;
}

function storeFailure(err: unknown, mode: InstallMode, tokenSpent: boolean): unknown {
  if (!(err instanceof StoreError)) return err;
  const spent = tokenSpent ? ' The install token has been used: after fixing this, mint a new one and run the command again. The previous enrolment, if any, is unchanged.' : '';
  if (err instanceof NotWritable) {
    const sudo = mode === 'system' && typeof process.getuid === 'function' && process.getuid() !== 0 ? ' A system install needs root: rerun with sudo, or use --mode user.' : '';
    return new UserError(err.message, { exitCode: EXIT.CANTCREAT, hint: `${err.hint ?? ''}${sudo}${spent}`.trim(), cause: err });
  }
  if (err instanceof DiskFull) return new UserError(err.message, { exitCode: EXIT.CANTCREAT, hint: `${err.hint ?? ''}${spent}`.trim(), cause: err });
  // Another user's directory or a link: a configuration problem (78), not a full disk.
  if (err instanceof UntrustedOwner) return new UserError(err.message, { exitCode: EXIT.CONFIG, hint: `${err.hint ?? ''}${spent}`.trim(), cause: err });
  return new UserError(err.message, { exitCode: EXIT.CANTCREAT, hint: `${err.hint ?? ''}${spent}`.trim() || undefined, cause: err });
}

function normalizePlatformUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--platform must be a URL like https://platform.example.com (got ${JSON.stringify(raw.slice(0, 200))})`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--platform must be an http:// or https:// URL (got ${u.protocol})`);
  if (u.username || u.password) throw new UsageError('--platform must not contain a user name or password');
  if (u.search || u.hash) throw new UsageError('--platform must be the platform\'s base URL, without ?query or #fragment');
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

function checkDeviceName(name: string): string {
  const n = name.trim();
  // eslint-disable-next-line no-control-regex
  if (n === '' || n.length > 128 || /[\u0000-\u001f\u007f]/.test(n)) throw new UsageError('--name must be 1 to 128 printable characters');
  return n;
}
