// The operator page's text helpers (platform/web/format.ts): what a person reads.
import { describe, expect, it } from 'vitest';
import type { DaemonSummary } from '../../api/types.js';
import { daemonState, enrolmentNote, formatAge, formatCountdown, taskState, usesText } from '../../platform/web/format.js';

const daemon = (o: Partial<DaemonSummary>): DaemonSummary => ({
  daemon_id: 'd1', device_name: 'build-01', cli_version: '0.1.0', last_heartbeat_at: null, online: false, revoked: false, runtimes: [], running_tasks: 0, ...o,
});

describe('web page text', () => {
  it('enrolment note: refused take-overs and re-enrolments, nothing when neither happened', () => {
    expect(enrolmentNote(daemon({}))).toBe('');
    expect(enrolmentNote(daemon({ refused_enrolments: 0, reenrolled_at: null }))).toBe('');
    const one = enrolmentNote(daemon({ refused_enrolments: 1, last_refused_enrolment_at: '2026-01-01T12:00:00Z' }));
    expect(one).toMatch(/^1 enrolment with this id refused \(no proof of its credential, last .+\)$/);
    expect(enrolmentNote(daemon({ refused_enrolments: 3, reenrolled_at: '2026-01-01T12:00:00Z' }))).toMatch(/^3 enrolments with this id refused .* · re-enrolled /);
  });

  it('ages: never negative, coarser as they grow', () => {
    expect(formatAge(-5000)).toBe('just now');
    expect(formatAge(1500)).toBe('just now');
    expect(formatAge(12_400)).toBe('12 s ago');
    expect(formatAge(4 * 60_000 + 5000)).toBe('4 min ago');
    expect(formatAge(3 * 3_600_000)).toBe('3 h ago');
    expect(formatAge(2 * 86_400_000)).toBe('2 d ago');
  });

  it('countdowns round up and never go below 0:00', () => {
    expect(formatCountdown(15 * 60_000)).toBe('15:00');
    expect(formatCountdown(59_001)).toBe('1:00');
    expect(formatCountdown(3_000)).toBe('0:03');
    expect(formatCountdown(-1)).toBe('0:00');
    expect(formatCountdown(2 * 3_600_000 + 61_000)).toBe('2:01:01');
  });

  it('token uses: one machine, or a fleet with uses left', () => {
    expect(usesText(1, 1, false)).toBe('The token inside enrols one machine.');
    expect(usesText(10, 7, false)).toBe('This fleet token enrols up to 10 machines (7 uses left).');
    expect(usesText(2, 1, true)).toMatch(/\(1 use left\)\. They are ephemeral/);
  });

  it('daemon state: revoked wins, then deregistered, then the heartbeat', () => {
    expect(daemonState(daemon({ online: true }))).toEqual({ label: 'online', tone: 'ok' });
    expect(daemonState(daemon({ online: false }))).toEqual({ label: 'offline', tone: 'off' });
    expect(daemonState(daemon({ deregistered: true }))).toEqual({ label: 'deregistered', tone: 'off' });
    expect(daemonState(daemon({ revoked: true, deregistered: true, online: true }))).toEqual({ label: 'revoked', tone: 'bad' });
  });

  it('task state names the failure reason, but not a redundant "cancelled: cancelled"', () => {
    expect(taskState({ status: 'failed', failure_reason: 'idle_watchdog' }).label).toBe('failed: idle_watchdog');
    expect(taskState({ status: 'cancelled', failure_reason: 'cancelled' }).label).toBe('cancelled');
    expect(taskState({ status: 'completed', failure_reason: null })).toEqual({ label: 'completed', tone: 'ok' });
    expect(taskState({ status: 'running', failure_reason: null }).tone).toBe('run');
  });
});

describe('agent form text', () => {
  it('environment lines: KEY=value per line, comments and blanks skipped, the first bad line named', async () => {
    const { parseEnvLines } = await import('../../platform/web/format.js');
    expect(parseEnvLines('A=1\n\n# note\n B_2 = x\nURL=http://h/?a=b')).toEqual({ badLine: 'B_2 = x' });
    expect(parseEnvLines('A=1\n\n# note\nB_2=x y\nURL=http://h/?a=b\nEMPTY=')).toEqual({ env: { A: '1', B_2: 'x y', URL: 'http://h/?a=b', EMPTY: '' } });
    expect(parseEnvLines('1BAD=x')).toEqual({ badLine: '1BAD=x' });
  });

  it('argument lines are kept as written; the table shows env names, never values', async () => {
    const { parseArgLines, agentExtras } = await import('../../platform/web/format.js');
    expect(parseArgLines('--max-turns\n3\n\n--flag with space')).toEqual(['--max-turns', '3', '--flag with space']);
    expect(agentExtras({ custom_env: { TOKEN: 'secret-value', LOG: 'debug' }, custom_args: ['-v'] })).toBe('TOKEN, LOG · 1 arg');
    expect(agentExtras({ custom_env: {}, custom_args: [] })).toBe('—');
  });
});
