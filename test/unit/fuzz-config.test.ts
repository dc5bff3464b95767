// Property tests of the daemon's configuration parsing: any AGENTD_* value either gives
// sane settings or a ConfigError (exit 78) naming the variable — never another exception,
// NaN, a negative duration or Infinity.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../daemon/config.js';
import { parseDuration } from '../../core/durations.js';
import { ConfigError } from '../../core/errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, '': 1000 };

const DURATION_VARS = [
  'AGENTD_HEARTBEAT_INTERVAL',
  'AGENTD_TASK_IDLE_TIMEOUT',
  'AGENTD_TOOL_IDLE_TIMEOUT',
  'AGENTD_TASK_TIMEOUT',
  'AGENTD_KILL_GRACE',
  'AGENTD_POLL_INTERVAL',
  'AGENTD_DRAIN_TIMEOUT',
  'AGENTD_WORKDIR_RETENTION',
] as const;
const OTHER_VARS = ['AGENTD_HEALTH_ADDR', 'AGENTD_LOG_LEVEL', 'AGENTD_MAX_TASKS', 'AGENTD_MAX_TASKS_COMMAND', 'AGENTD_MAX_TASKS_CLAUDE'] as const;

/** Values near the accepted grammar (numbers, units, spaces, signs, exponents) plus noise. */
const nearDuration = fc.oneof(
  fc.tuple(fc.constantFrom('', '-', '+', ' '), fc.oneof(fc.nat(), fc.double({ noNaN: false }), fc.constantFrom(1e308, 1e400, 0.0001)), fc.constantFrom('', 'ms', 's', 'm', 'h', 'd', 'S', ' s', 'sec'))
    .map(([sign, n, unit]) => `${sign}${n}${unit}`),
  fc.stringMatching(/^[0-9]{1,400}(\.[0-9]{0,5})?(ms|s|m|h)?$/),
  fc.string(),
  fc.constantFrom('', ' ', '0', '0s', '15', 'Infinity', 'NaN', '1e3', '0x10', '١٢', '９s'),
);
const nearAddr = fc.oneof(
  fc.tuple(fc.constantFrom('127.0.0.1', 'localhost', '[::1]', '::1', '0.0.0.0', '10.0.0.1', '127.999.1.1', 'example.com', ''), fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.string())).map(
    ([h, p]) => `${h}:${p}`,
  ),
  fc.constantFrom('0', '127.0.0.1', ':19514', '127.0.0.1:'),
  fc.string(),
);
const anyValue = fc.oneof(nearDuration, nearAddr, fc.string(), fc.stringMatching(/^[0-9]{0,6}$/), fc.constantFrom('info', 'debug', 'silent', 'INFO', 'verbose'));

describe('parseDuration', () => {
  it('returns null or a finite non-negative integer of milliseconds, never throws', () => {
    fc.assert(
      fc.property(fc.oneof(nearDuration, fc.string({ unit: 'binary' })), (s) => {
        const ms = parseDuration(s);
        if (ms !== null) {
          expect(Number.isInteger(ms)).toBe(true);
          expect(ms).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('reads every well-formed value exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom('ms', 's', 'm', 'h', ''), fc.constantFrom('', ' ', '\t'), (n, unit, pad) => {
        expect(parseDuration(`${pad}${n}${unit}${pad}`)).toBe(Math.round(n * UNIT_MS[unit]));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('loadSettings under arbitrary environments', () => {
  it('gives sane settings or a ConfigError naming the variable', () => {
    const names = [...DURATION_VARS, ...OTHER_VARS];
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names), anyValue, { maxKeys: 4 }), (env) => {
        let s: ReturnType<typeof loadSettings>;
        try {
          s = loadSettings(env);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          const e = err as ConfigError;
          expect(Object.keys(env)).toContain(e.subject);
          expect(e.message).toContain(e.subject);
          expect(e.message).not.toContain('\n');
          return;
        }
        for (const k of ['heartbeatIntervalMs', 'taskIdleTimeoutMs', 'toolIdleTimeoutMs', 'taskTimeoutMs', 'killGraceMs', 'pollIntervalMs', 'drainTimeoutMs', 'workdirRetentionMs'] as const) {
          expect(Number.isSafeInteger(s[k]), `${k}=${s[k]}`).toBe(true);
          expect(s[k]).toBeGreaterThanOrEqual(0);
        }
        expect(s.heartbeatIntervalMs).toBeGreaterThanOrEqual(100);
        expect(s.pollIntervalMs).toBeGreaterThanOrEqual(1000);
        expect(s.taskTimeoutMs).toBeGreaterThan(0);
        expect(Number.isInteger(s.maxTasks) && s.maxTasks >= 1).toBe(true);
        if (s.healthAddr) {
          expect(Number.isInteger(s.healthAddr.port) && s.healthAddr.port >= 0 && s.healthAddr.port <= 65535).toBe(true);
          expect(['127.0.0.1', 'localhost', '::1'].includes(s.healthAddr.host) || /^127\./.test(s.healthAddr.host)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('an accepted duration keeps a deadline representable (now + d is a valid Date)', () => {
    // Found by this fuzz pass: AGENTD_TASK_TIMEOUT=10000000000h was accepted, and while a
    // task ran /status answered 500 (RangeError: Invalid time value, from the deadline's
    // toISOString). Timers are clamped by their users; dates are not.
    const KEYS = {
      AGENTD_HEARTBEAT_INTERVAL: 'heartbeatIntervalMs',
      AGENTD_TASK_IDLE_TIMEOUT: 'taskIdleTimeoutMs',
      AGENTD_TOOL_IDLE_TIMEOUT: 'toolIdleTimeoutMs',
      AGENTD_TASK_TIMEOUT: 'taskTimeoutMs',
      AGENTD_KILL_GRACE: 'killGraceMs',
      AGENTD_POLL_INTERVAL: 'pollIntervalMs',
      AGENTD_DRAIN_TIMEOUT: 'drainTimeoutMs',
      AGENTD_WORKDIR_RETENTION: 'workdirRetentionMs',
    } as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...DURATION_VARS),
        fc.oneof(fc.integer({ min: 1, max: 10_000_000_000 }), fc.constantFrom(2_500_000_000, 876_000, 1_000_000)),
        fc.constantFrom('h', 'm', 's'),
        (name, n, unit) => {
          let s: ReturnType<typeof loadSettings>;
          try {
            s = loadSettings({ [name]: `${n}${unit}` });
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError);
            return;
          }
          const ms = s[KEYS[name]];
          expect(Number.isSafeInteger(ms)).toBe(true);
          expect(() => new Date(Date.now() + ms).toISOString()).not.toThrow();
        },
      ),
      { numRuns: 500 },
    );
  });
});
