import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNotifier, watchdogIntervalMs } from '../../daemon/sdnotify.js';
import { createLogger } from '../../daemon/logger.js';

const logger = createLogger({ level: 'silent', pretty: false, destination: { write: () => undefined } });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake systemd-notify that appends its argv (one call per line) and its environment keys. */
function recorder(): { bin: string; calls: () => string[][]; envKeys: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-sdnotify-'));
  dirs.push(dir);
  const log = join(dir, 'calls');
  const envLog = join(dir, 'env');
  const bin = join(dir, 'systemd-notify');
  writeFileSync(bin, `#!/bin/sh\nprintf '%s\\t' "$@" >> '${log}'\necho >> '${log}'\nenv | cut -d= -f1 | sort > '${envLog}'\n`);
  chmodSync(bin, 0o755);
  return {
    bin,
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t').filter(Boolean)) : []),
    envKeys: () => readFileSync(envLog, 'utf8').trim().split('\n'),
  };
}

describe('sd_notify', () => {
  it('is a no-op without NOTIFY_SOCKET', async () => {
    const r = recorder();
    const n = createNotifier({ env: {}, logger, binary: r.bin });
    expect(n.enabled).toBe(false);
    n.ready('x');
    await n.close();
    expect(r.calls()).toEqual([]);
  });

  it('sends READY, STATUS and STOPPING in order, with --pid, and only NOTIFY_SOCKET and PATH in its environment', async () => {
    const r = recorder();
    const n = createNotifier({ env: { NOTIFY_SOCKET: '/run/x', PATH: process.env.PATH, AGENTD_SECRET_THING: 'y' }, logger, binary: r.bin, pid: 4242 });
    n.ready('ready: registered');
    n.status('degraded: heartbeat failed\nsecond line');
    n.stopping('draining: 0 tasks');
    await n.close();
    expect(r.calls()).toEqual([
      ['--pid=4242', 'READY=1', 'STATUS=ready: registered'],
      ['--pid=4242', 'STATUS=degraded: heartbeat failed second line'],
      ['--pid=4242', 'STOPPING=1', 'STATUS=draining: 0 tasks'],
    ]);
    expect(r.envKeys().filter((k) => !['PWD', 'SHLVL', '_'].includes(k))).toEqual(['NOTIFY_SOCKET', 'PATH']);
  });

  it('pings the watchdog every WATCHDOG_USEC/2 only while the loops turn', async () => {
    const r = recorder();
    let alive = true;
    const n = createNotifier({ env: { NOTIFY_SOCKET: '/run/x', PATH: process.env.PATH, WATCHDOG_USEC: '200000' }, logger, binary: r.bin, pid: 7 });
    expect(n.watchdogIntervalMs).toBe(100);
    n.startWatchdog(() => alive);
    await new Promise((res) => setTimeout(res, 450));
    const pings = r.calls().length;
    expect(pings).toBeGreaterThanOrEqual(2);
    alive = false;
    await new Promise((res) => setTimeout(res, 150)); // let in-flight pings land
    const frozen = r.calls().length;
    await new Promise((res) => setTimeout(res, 400));
    await n.close();
    expect(r.calls().length).toBe(frozen);
    expect(r.calls().every((c) => c.includes('WATCHDOG=1'))).toBe(true);
  });

  it('WATCHDOG_PID naming another process means the watchdog is not ours', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 5)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '5' }, 5)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '6' }, 5)).toBeNull();
    expect(watchdogIntervalMs({}, 5)).toBeNull();
  });

  it('a missing binary is logged once and never throws', async () => {
    const n = createNotifier({ env: { NOTIFY_SOCKET: '/run/x' }, logger, binary: '/nonexistent/systemd-notify' });
    n.ready('x');
    n.status('y');
    await n.close();
  });
});
