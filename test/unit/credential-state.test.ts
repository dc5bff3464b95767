// The credential state machine on its own, with real files: strikes, the re-read, the
// revocation (logged once, with the commands), the watch, recovery, removal and SIGHUP.
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialState } from '../../daemon/credential-state.js';
import { createLogger } from '../../daemon/logger.js';
import { writeConfig } from '../../store/config.js';
import { writeCredentials, type Credentials } from '../../store/credentials.js';
import { resolvePaths } from '../../store/paths.js';

const tok = (c: string): string => `mdt_${c.repeat(40)}`;

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-credstate-'));
  const paths = resolvePaths({ mode: 'user', configDir: join(dir, 'config'), stateDir: join(dir, 'state'), env: {} });
  const config = { platform_url: 'http://127.0.0.1:9', workspace_id: 'ws1', daemon_id: 'd1', device_name: 'host', mode: 'user' as const };
  const cred = (t: string): Credentials => ({ token: t, daemon_id: 'd1', workspace_id: 'ws1', issued_at: new Date().toISOString() });
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', pretty: false, destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
  const events: string[] = [];
  let state!: CredentialState;
  const make = async (initial: string): Promise<CredentialState> => {
    await writeConfig(paths, config);
    await writeCredentials(paths.credentialsFile, cred(initial));
    state = new CredentialState({
      paths,
      enrolment: { config, credentials: cred(initial) },
      logger,
      pollMs: 50,
      onRevoked: (where) => events.push(`revoked:${where}`),
      onRecovered: () => events.push('recovered'),
      onRemoved: () => events.push('removed'),
    });
    return state;
  };
  const until = async (pred: () => boolean): Promise<void> => {
    // A bound, not a timing check: 30 s for what takes milliseconds on a quiet machine.
    for (let i = 0; i < 1200 && !pred(); i++) await new Promise((r) => setTimeout(r, 25));
    expect(pred()).toBe(true);
  };
  return { dir, paths, cred, lines, events, make, until, close: () => (state?.close(), rmSync(dir, { recursive: true, force: true })) };
}

let f: ReturnType<typeof fixture>;
afterEach(() => f?.close());

describe('CredentialState', () => {
  it('one refusal re-reads the file and asks for a retry; success clears it', async () => {
    f = fixture();
    const s = await f.make(tok('a'));
    expect(await s.refused('heartbeat', 401)).toBe(true);
    expect(s.phase).toBe('suspect');
    s.accepted();
    expect(s.phase).toBe('trusted');
    // A refusal after a success is a first refusal again, not a revocation.
    expect(await s.refused('heartbeat', 401)).toBe(true);
    expect(f.events).toEqual([]);
  });

  it('picks up a rotated credential on the first refusal', async () => {
    f = fixture();
    const s = await f.make(tok('a'));
    await writeCredentials(f.paths.credentialsFile, f.cred(tok('b')));
    expect(await s.refused('register', 401)).toBe(true);
    expect(s.token).toBe(tok('b'));
    expect(f.lines.some((l) => l.event === 'credential_reloaded')).toBe(true);
  });

  it('two refusals in a row revoke: told once, logged once with the commands, never with the token', async () => {
    f = fixture();
    const s = await f.make(tok('a'));
    await s.refused('heartbeat', 401);
    expect(await s.refused('heartbeat', 401)).toBe(false);
    expect(await s.refused('register', 401)).toBe(false);
    expect(s.phase).toBe('revoked');
    expect(f.events).toEqual(['revoked:heartbeat']);
    const revoked = f.lines.filter((l) => l.event === 'revoked');
    expect(revoked).toHaveLength(1);
    expect(String(revoked[0].msg)).toMatch(/agentd credentials set --config-dir .* < FILE/);
    expect(String(revoked[0].msg)).toMatch(/install\.sh \| AGENTD_INSTALL_TOKEN=<new install token from the platform UI> sh -s -- --force --mode user/);
    expect(JSON.stringify(f.lines)).not.toContain(tok('a'));
    expect(s.lastPollAt).not.toBeNull();
  });

  it('recovers when a new credential lands; ignores the revoked one and an insecure file', async () => {
    f = fixture();
    const s = await f.make(tok('a'));
    await s.refused('heartbeat', 401);
    await s.refused('heartbeat', 401);
    // The same (revoked) token written again: nothing happens.
    await writeCredentials(f.paths.credentialsFile, { ...f.cred(tok('a')), issued_at: '2026-01-01T00:00:00.000Z' });
    const before = s.lastPollAt ?? 0;
    await f.until(() => (s.lastPollAt ?? 0) > before + 100); // at least two polls saw it
    expect(f.events).toEqual(['revoked:heartbeat']);
    // A new token in a file others can read: refused, with the chmod.
    // Renamed into place already 0644, so no reader can see it readable-but-0600 first.
    const insecure = `${f.paths.credentialsFile}.insecure`;
    writeFileSync(insecure, JSON.stringify(f.cred(tok('c'))));
    chmodSync(insecure, 0o644);
    renameSync(insecure, f.paths.credentialsFile);
    await f.until(() => f.lines.some((l) => l.event === 'credential_unusable'));
    expect(String(f.lines.find((l) => l.event === 'credential_unusable')?.msg)).toMatch(/Run: chmod 600 /);
    expect(s.phase).toBe('revoked');
    await writeCredentials(f.paths.credentialsFile, f.cred(tok('b')));
    chmodSync(f.paths.credentialsFile, 0o600);
    await f.until(() => f.events.includes('recovered'));
    expect(s.phase).toBe('trusted');
    expect(s.token).toBe(tok('b'));
    expect(f.events).toEqual(['revoked:heartbeat', 'recovered']);
  });

  it('removal of the file while revoked is reported once', async () => {
    f = fixture();
    const s = await f.make(tok('a'));
    await s.refused('heartbeat', 401);
    await s.refused('heartbeat', 401);
    rmSync(f.paths.credentialsFile);
    await f.until(() => f.events.includes('removed'));
    expect(f.events.filter((e) => e === 'removed')).toHaveLength(1);
  });

  it('SIGHUP reload: a new token replaces the old one; while revoked it recovers', async () => {
    f = fixture();
    const s = await f.make(tok('a'));
    await writeCredentials(f.paths.credentialsFile, f.cred(tok('b')));
    await s.reload();
    expect(s.token).toBe(tok('b'));
    expect(f.events).toEqual([]);
    await s.refused('heartbeat', 401);
    await s.refused('heartbeat', 401);
    s.close(); // no watch: only the reload can notice
    await writeCredentials(f.paths.credentialsFile, f.cred(tok('c')));
    await s.reload();
    expect(s.token).toBe(tok('c'));
    expect(f.events).toEqual(['revoked:heartbeat', 'recovered']);
  });
});
