// A platform outage: the daemon goes degraded (not down), keeps its pid, and is ready
// again as soon as the platform is back on the same address.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { enrollDaemon, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';

let p: TestPlatform;
let e: Enrolled;
let d: TestDaemon | undefined;
beforeAll(async () => {
  p = await startPlatform();
  e = await enrollDaemon(p);
});
afterAll(async () => {
  await d?.stop();
  await p?.stop();
  await e?.remove();
});

it('platform stopped for 10 s then restarted: degraded, then ready again, same daemon process', async () => {
  d = await startDaemon(e);
  await d.waitFor((s) => s.state === 'ready' && s.heartbeat.last_success_at !== null);
  await p.halt();
  const haltedAt = Date.now();

  const degraded = await d.waitForState('degraded', 5_000);
  expect(degraded.reason).toMatch(/heartbeat failed/);
  const readyz = await fetch(`${d.healthUrl}/readyz`);
  expect(readyz.status).toBe(503);
  expect(((await readyz.json()) as { state: string }).state).toBe('degraded');
  // Still alive for the service manager: its loops turn even though the platform is gone.
  expect((await fetch(`${d.healthUrl}/healthz`)).status).toBe(200);

  await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - haltedAt))));
  const during = await d.status();
  expect(during.state).toBe('degraded');
  expect(during.heartbeat.consecutive_failures).toBeGreaterThan(3);

  await p.restart();
  const back = await d.waitForState('ready', 5_000);
  expect(back.pid).toBe(d.pid);
  expect(d.proc.exitCode).toBeNull();
  const after = await d.waitFor((s) => s.heartbeat.consecutive_failures === 0 && s.heartbeat.failures_total > 0);
  expect(after.state).toBe('ready');
  expect(d.stdout()).toMatch(/"from":"ready","to":"degraded"/);
  expect(d.stdout()).toMatch(/"from":"degraded","to":"ready"/);
  expect(d.stdout()).toMatch(/heartbeat ok again after \d+ failure/);
}, 40_000);
