import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { loadSettings } from '../../daemon/config.js';
import { parseDuration } from '../../core/durations.js';
import { ConfigError } from '../../core/errors.js';

function err(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadSettings(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['500ms', 500],
    ['15', 15_000],
    ['1.5', 1500],
    ['0', 0],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', 'abc', '10x', '-5s', '1e3', 's', '1.s'])('rejects %j', (t) => expect(parseDuration(t)).toBeNull());
});

describe('loadSettings', () => {
  it('has the documented defaults', () => {
    const s = loadSettings({});
    expect(s).toMatchObject({
      heartbeatIntervalMs: 15_000,
      healthAddr: { host: '127.0.0.1', port: 19514 },
      logLevel: 'info',
      logFormat: 'auto',
      taskIdleTimeoutMs: 1_800_000,
      toolIdleTimeoutMs: 7_200_000,
      taskTimeoutMs: 7_200_000,
      killGraceMs: 10_000,
      maxTasks: availableParallelism(),
      pollIntervalMs: 30_000,
      drainTimeoutMs: 30_000,
      workdirRetentionMs: 86_400_000,
      maxTasksPerRuntime: {},
      insecureHttp: false,
    });
    expect(loadSettings({ AGENTD_INSECURE_HTTP: '1' }).insecureHttp).toBe(true);
  });

  it('reads every variable', () => {
    const s = loadSettings({
      AGENTD_HEARTBEAT_INTERVAL: '1s',
      AGENTD_HEALTH_ADDR: '[::1]:0',
      AGENTD_LOG_LEVEL: 'debug',
      AGENTD_TASK_IDLE_TIMEOUT: '0',
      AGENTD_MAX_TASKS: '8',
      AGENTD_MAX_TASKS_CLAUDE: '2',
      AGENTD_DRAIN_TIMEOUT: '5',
    });
    expect(s.heartbeatIntervalMs).toBe(1000);
    expect(s.healthAddr).toEqual({ host: '::1', port: 0 });
    expect(s.logLevel).toBe('debug');
    expect(s.taskIdleTimeoutMs).toBe(0);
    expect(s.maxTasks).toBe(8);
    expect(s.maxTasksPerRuntime).toEqual({ claude: 2 });
    expect(s.drainTimeoutMs).toBe(5000);
  });

  it('AGENTD_HEALTH_ADDR=0 disables the health port', () => {
    expect(loadSettings({ AGENTD_HEALTH_ADDR: '0' }).healthAddr).toBeNull();
    expect(loadSettings({ AGENTD_HEALTH_ADDR: 'localhost:0' }).healthAddr).toEqual({ host: 'localhost', port: 0 });
  });

  it.each([
    ['AGENTD_HEARTBEAT_INTERVAL', 'often'],
    ['AGENTD_HEARTBEAT_INTERVAL', '10ms'],
    ['AGENTD_HEALTH_ADDR', '0.0.0.0:19514'],
    ['AGENTD_HEALTH_ADDR', '192.168.1.5:80'],
    ['AGENTD_HEALTH_ADDR', '127.0.0.1:99999'],
    ['AGENTD_HEALTH_ADDR', '19514'],
    ['AGENTD_LOG_LEVEL', 'loud'],
    ['AGENTD_TASK_IDLE_TIMEOUT', '30 minutes'],
    ['AGENTD_TASK_TIMEOUT', '0'],
    ['AGENTD_MAX_TASKS', '0'],
    ['AGENTD_MAX_TASKS', 'many'],
    ['AGENTD_MAX_TASKS_CLAUDE', 'two'],
    ['AGENTD_POLL_INTERVAL', '10ms'],
    ['AGENTD_TASK_TIMEOUT', '10000000000h'],
    ['AGENTD_WORKDIR_RETENTION', '8761h'],
    ['AGENTD_INSECURE_HTTP', 'yes'],
  ])('%s=%j → one line naming the variable, the value and what is accepted', (name, value) => {
    const e = err({ [name]: value });
    expect(e.exitCode).toBe(78);
    expect(e.subject).toBe(name);
    expect(e.message).toContain(name);
    expect(e.message).toContain(JSON.stringify(value));
    expect(e.message).toMatch(/expected /);
    expect(e.message).not.toContain('\n');
  });
});
