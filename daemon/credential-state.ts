// Where it is decided that the daemon's credential is revoked, and how it comes back.
// The Daemon tells this module what the platform said (accepted / refused) and asks it
// for the token and the enrolment; it never keeps a copy of either.
//
//   trusted ──401──> suspect: re-read credentials.json (an operator may have put a
//      ▲               rotated credential there); the caller retries once
//      │               ├── accepted ──> trusted
//      │               └── 401 again ──> revoked: onRevoked(), the re-enrol command
//      │                                 logged once, credentials.json watched
//      └──── a new, different, valid credential appears ── onRecovered()
//                          credentials.json deleted while revoked ── onRemoved() (exit 77)
//
// A credential that is the one just revoked, or that does not parse or is insecure,
// changes nothing (the reason is logged); the watch keeps looking.
import type { Logger } from 'pino';
import { hintOf } from '../core/errors.js';
import { readConfig, type AgentConfig } from '../store/config.js';
import type { Credentials } from '../store/credentials.js';
import type { AgentdPaths } from '../store/paths.js';
import { loadCredentials, loadEnrolment, reenrolCommand, watchCredentialFile, type CredentialWatch, type Enrolment } from './credentials.js';

export type CredentialPhase = 'trusted' | 'suspect' | 'revoked';

export interface CredentialStateOptions {
  paths: AgentdPaths;
  enrolment: Enrolment;
  logger: Logger;
  /** How often the revoked daemon stats credentials.json when fs.watch says nothing. */
  pollMs: number;
  /** Refused twice in a row: the daemon must stop claiming and end its tasks. */
  onRevoked: (where: string) => void;
  /** A new credential is in place while revoked: register again. */
  onRecovered: (reason: string) => void;
  /** credentials.json was removed while revoked: the daemon exits 77. */
  onRemoved: () => void;
}

export class CredentialState {
  readonly #o: CredentialStateOptions;
  #config: AgentConfig;
  #credentials: Credentials;
  #phase: CredentialPhase = 'trusted';
  #revokedToken: string | null = null;
  #watch: CredentialWatch | null = null;
  #lastPollAt: number | null = null;

  constructor(o: CredentialStateOptions) {
    this.#o = o;
    this.#config = o.enrolment.config;
    this.#credentials = o.enrolment.credentials;
  }

  get token(): string {
    return this.#credentials.token;
  }

  get config(): AgentConfig {
    return this.#config;
  }

  get phase(): CredentialPhase {
    return this.#phase;
  }

  /** The last credential-file poll while revoked (the watchdog counts it as a turning loop). */
  get lastPollAt(): number | null {
    return this.#lastPollAt;
  }

  /** An authenticated call succeeded. */
  accepted(): void {
    if (this.#phase === 'suspect') this.#phase = 'trusted';
  }

  /**
   * The platform answered 401 to a call made at `where`. Returns true when the caller
   * should retry at once (first refusal: the credential file was re-read).
   */
  async refused(where: string, status: number | undefined): Promise<boolean> {
    if (this.#phase === 'revoked') return false;
    if (this.#phase === 'suspect') {
      this.#revoke(where);
      return false;
    }
    this.#phase = 'suspect';
    const log = this.#o.logger;
    log.warn({ event: 'unauthorized', where, status }, `the platform refused the daemon credential (${where}); re-reading ${this.#o.paths.credentialsFile} and retrying once`);
    try {
      const c = await loadCredentials(this.#o.paths);
      if (c && c.token !== this.#credentials.token) {
        this.#credentials = c;
        log.info({ event: 'credential_reloaded' }, 'credentials.json holds a different credential: using it');
      }
    } catch (e) {
      log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not re-read the credential file');
    }
    return true;
  }

  /** SIGHUP: re-reads config.json and credentials.json. The platform URL needs a restart. */
  async reload(): Promise<void> {
    const e = await loadEnrolment(this.#o.paths);
    const log = this.#o.logger;
    if (e.config.platform_url !== this.#config.platform_url) {
      log.warn({ old: this.#config.platform_url, new: e.config.platform_url }, 'the platform URL in config.json changed; restart the daemon to use it (systemctl restart agentd)');
    }
    this.#config = { ...e.config, platform_url: this.#config.platform_url };
    if (e.credentials.token === this.#credentials.token) {
      log.info({ event: 'reloaded' }, 'config and credentials re-read; nothing changed');
    } else if (this.#phase === 'revoked') {
      await this.#onFileChanged();
    } else {
      this.#credentials = e.credentials;
      this.#phase = 'trusted';
      log.info({ event: 'credential_reloaded' }, 'credential re-read (SIGHUP): using the one in credentials.json');
    }
  }

  close(): void {
    this.#watch?.close();
    this.#watch = null;
  }

  #revoke(where: string): void {
    this.#phase = 'revoked';
    this.#revokedToken = this.#credentials.token;
    this.#o.onRevoked(where);
    const paths = this.#o.paths;
    // Logged once per revocation, with the exact commands that fix it.
    this.#o.logger.error(
      { event: 'revoked', credentials_file: paths.credentialsFile },
      `credential revoked: this daemon no longer claims tasks. To bring it back without a restart, either put a rotated credential in place: ` +
        `\`agentd credentials set --config-dir ${paths.configDir} < FILE\` (the mdt_ token from the platform's rotate action, read from stdin), ` +
        `or re-enrol this machine with a new install token: \`${reenrolCommand(this.#config.platform_url, paths)}\`. ` +
        `Waiting for a new credential in ${paths.credentialsFile} (removing that file stops the daemon with exit code 77).`,
    );
    this.#watch?.close();
    this.#watch = watchCredentialFile({
      path: paths.credentialsFile,
      pollMs: this.#o.pollMs,
      logger: this.#o.logger,
      onChange: () => this.#onFileChanged(),
      onPoll: () => (this.#lastPollAt = Date.now()),
    });
    this.#lastPollAt = Date.now();
  }

  async #onFileChanged(): Promise<void> {
    if (this.#phase !== 'revoked') return;
    const paths = this.#o.paths;
    const log = this.#o.logger;
    let c: Credentials | null;
    try {
      c = await loadCredentials(paths);
    } catch (err) {
      const hint = hintOf(err);
      const msg = err instanceof Error ? err.message : String(err);
      log.warn({ event: 'credential_unusable', err: msg }, `new credential file is not usable yet: ${msg}${hint ? ` (${hint})` : ''}`);
      return;
    }
    if (!c) {
      this.close();
      this.#o.onRemoved();
      return;
    }
    if (c.token === this.#revokedToken) return;
    const config = await readConfig(paths).catch(() => null);
    if (config) this.#config = { ...config, platform_url: this.#config.platform_url };
    this.#credentials = c;
    this.#phase = 'trusted';
    this.#revokedToken = null;
    this.close();
    this.#o.onRecovered(`a new credential appeared in ${paths.credentialsFile}`);
  }
}
