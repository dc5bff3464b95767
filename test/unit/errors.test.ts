// One error root: every layer's errors are AgentdErrors with the documented exit code
// (docs/operators.md), and the CLI edge prints message + hint and exits with it.
import { describe, expect, it } from 'vitest';
import { AgentdError, ConfigError, UsageError, UserError } from '../../core/errors.js';
import { EXIT } from '../../core/exit-codes.js';
import { BadRequest, BadResponse, InstallTokenAlreadyUsed, InvalidInstallToken, NotFound, PlatformUnavailable, RequestAborted, Unauthorized } from '../../api/errors.js';
import { ConfigFileInvalid, CredentialFileInvalid, DiskFull, InsecureCredentialFile, LockHeld, NotRegularFile, NotWritable } from '../../store/errors.js';
import { errorMessage } from '../../cli/error-message.js';

const route = { route: 'POST /api/daemon/heartbeat' };

describe('the error root', () => {
  it.each([
    ['Unauthorized', new Unauthorized('refused', route), EXIT.REVOKED, 'AGENTD_UNAUTHORIZED'],
    ['InvalidInstallToken', new InvalidInstallToken('unknown', route), EXIT.REVOKED, 'AGENTD_INVALID_INSTALL_TOKEN'],
    ['InstallTokenAlreadyUsed', new InstallTokenAlreadyUsed('used', route), EXIT.REVOKED, 'AGENTD_INSTALL_TOKEN_ALREADY_USED'],
    ['PlatformUnavailable', new PlatformUnavailable('down', route), EXIT.UNAVAILABLE, 'AGENTD_PLATFORM_UNAVAILABLE'],
    ['NotFound', new NotFound('gone', route), EXIT.FAILURE, 'AGENTD_NOT_FOUND'],
    ['BadRequest', new BadRequest('bad', route), EXIT.FAILURE, 'AGENTD_BAD_REQUEST'],
    ['BadResponse', new BadResponse('garbage', route), EXIT.FAILURE, 'AGENTD_BAD_RESPONSE'],
    ['RequestAborted', new RequestAborted('aborted', route), EXIT.FAILURE, 'AGENTD_REQUEST_ABORTED'],
    ['NotWritable', new NotWritable('ro', { path: '/x' }), EXIT.CANTCREAT, 'AGENTD_NOT_WRITABLE'],
    ['DiskFull', new DiskFull('full', { path: '/x' }), EXIT.CANTCREAT, 'AGENTD_DISK_FULL'],
    ['NotRegularFile', new NotRegularFile('dir', { path: '/x' }), EXIT.CANTCREAT, 'AGENTD_NOT_REGULAR_FILE'],
    ['InsecureCredentialFile', new InsecureCredentialFile('/x', 0o644), EXIT.CONFIG, 'AGENTD_INSECURE_CREDENTIAL_FILE'],
    ['CredentialFileInvalid', new CredentialFileInvalid('bad', { path: '/x' }), EXIT.CONFIG, 'AGENTD_CREDENTIAL_FILE_INVALID'],
    ['ConfigFileInvalid', new ConfigFileInvalid('bad', { path: '/x' }), EXIT.CONFIG, 'AGENTD_CONFIG_FILE_INVALID'],
    ['LockHeld', new LockHeld('/x/lock', 42), EXIT.TEMPFAIL, 'AGENTD_LOCK_HELD'],
    ['UsageError', new UsageError('bad flag'), EXIT.USAGE, 'AGENTD_USAGE'],
    ['ConfigError', new ConfigError('AGENTD_X', 'bad value'), EXIT.CONFIG, 'AGENTD_CONFIG'],
    ['UserError', new UserError('failed'), EXIT.FAILURE, 'AGENTD_ERROR'],
  ])('%s is an AgentdError with exit %s', (name, err, exitCode, code) => {
    expect(err).toBeInstanceOf(AgentdError);
    expect(err.name).toBe(name);
    expect(err.exitCode).toBe(exitCode);
    expect(err.code).toBe(code);
  });

  it('a thrower may name another exit code', () => {
    expect(new NotWritable('ro', { path: '/x', exitCode: EXIT.CONFIG }).exitCode).toBe(EXIT.CONFIG);
    expect(new UserError('x', { exitCode: EXIT.UNAVAILABLE }).exitCode).toBe(EXIT.UNAVAILABLE);
  });

  it('the CLI edge prints message then hint, and exits with the code', () => {
    expect(errorMessage(new InsecureCredentialFile('/etc/agentd/credentials.json', 0o644))).toEqual({
      text: 'agentd: the credential file /etc/agentd/credentials.json is accessible by other users (mode 0644); refusing to use it\nRun: chmod 600 /etc/agentd/credentials.json\n',
      exitCode: EXIT.CONFIG,
    });
  });

  it('anything else is a bug: exit 70 with the stack', () => {
    const r = errorMessage(new TypeError('x is undefined'));
    expect(r.exitCode).toBe(EXIT.SOFTWARE);
    expect(r.text).toMatch(/^agentd: unexpected error \(this is a bug; please report it with this output\):\nTypeError: x is undefined\n/);
  });
});
