// The operator page in a real browser (Debian's chromium driven by playwright-core)
// against the real platform and a real enrolled daemon. Screenshots of each state go to
// test-output/screenshots/ for a person to look at.
//
// Skips (with a message saying how to get it) only when /usr/bin/chromium is absent.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bin.js';
import { enrollDaemon, startDaemon, type Enrolled, type TestDaemon } from '../helpers/daemon.js';
import { registerRaw, startPlatform, type TestPlatform } from '../helpers/platform.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`test/e2e/web.test.ts skipped: ${CHROMIUM} not found (install it: apt-get install -y chromium)`);

const SHOTS = join(ROOT, 'test-output', 'screenshots');
const UI_TIMEOUT = 15_000;

describe.skipIf(!hasChromium)('operator web page (chromium)', { timeout: 60_000 }, () => {
  let p: TestPlatform;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  let e: Enrolled | undefined;
  let d: TestDaemon | undefined;
  const pageErrors: string[] = [];

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const daemonRow = () => page.locator(`tr[data-daemon-id="${e!.daemonId}"]`);

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    p = await startPlatform();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
    });
    ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
    // Every Content-Security-Policy violation on the page, as the browser reports it.
    await ctx.addInitScript(() => {
      const w = window as unknown as { __cspViolations: string[] };
      w.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (ev) => w.__cspViolations.push(`${ev.violatedDirective} ${ev.blockedURI}`));
    });
    page = await ctx.newPage();
    page.setDefaultTimeout(UI_TIMEOUT);
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) pageErrors.push(m.text());
    });
  });

  afterAll(async () => {
    await d?.stop();
    await e?.remove();
    await browser?.close();
    await p?.stop();
  });

  it('a wrong admin token shows a visible error and keeps the sign-in form', async () => {
    await page.goto(p.url + '/');
    await page.getByLabel('Admin token').fill('adm_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.isVisible()).toBe(true);
    expect(await alert.innerText()).toMatch(/refused the admin token \(HTTP 401/);
    expect(await page.getByLabel('Admin token').isVisible()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await shot('01-wrong-admin-token');
  });

  it('signs in and mints an install command shown once with a countdown', async () => {
    // Keyboard only: Enter in the field submits, focus lands on "Add machine", Enter presses it.
    await page.getByLabel('Admin token').fill(p.adminToken);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByRole('button', { name: 'Add machine' }).waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('add-machine');
    expect(await page.getByRole('alert').isVisible()).toBe(false);
    // Shown by the first poll's answer (three lists now: machines, tasks, install tokens): wait for it.
    await expect.poll(() => page.getByText('No machines yet').isVisible()).toBe(true);

    await page.keyboard.press('Enter');
    const command = page.locator('#install-command');
    await expect.poll(() => command.textContent()).toMatch(/^curl -fsSL http:\/\/127\.0\.0\.1:\d+\/install\.sh \| AGENTD_INSTALL_TOKEN=mit_[0-9a-f]{40} sh$/);
    expect(await command.textContent()).toContain(`${p.url}/install.sh`);
    expect(await page.locator('#install-countdown').textContent()).toMatch(/^1[45]:\d\d$/);
    expect(await page.getByRole('button', { name: 'Copy' }).first().isEnabled()).toBe(true);
    // Only the admin token (and the chosen workspace) are kept; never the mit_.
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }));
    expect(stored).not.toContain('mit_');
    expect(stored).toContain(p.adminToken);
    await shot('02-install-command');

    await page.getByRole('button', { name: 'Done, hide it' }).first().click();
    expect(await page.locator('#install-panel').isVisible()).toBe(false);
    expect(await page.content()).not.toContain('mit_');
  });

  it('shows a real enrolled daemon online with its runtimes', async () => {
    e = await enrollDaemon(p, { name: 'web-e2e-host' });
    d = await startDaemon(e, { env: { AGENTD_TASK_IDLE_TIMEOUT: '2s' } });
    await d.waitForState('ready');
    await expect.poll(() => daemonRow().locator('.badge').textContent(), { timeout: UI_TIMEOUT }).toBe('online');
    const row = await daemonRow().innerText();
    expect(row).toContain('web-e2e-host');
    expect(row).toContain('command');
    expect(row).toMatch(/just now|\d+ s ago/);
    await shot('03-daemon-online');
  });

  it('an install token presented with this machine\'s daemon id is refused, and the row says so', async () => {
    const { token } = await p.admin.createInstallToken(p.workspaceId);
    const res = await fetch(`${p.url}/api/install-tokens/exchange`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, daemon_id: e!.daemonId }) });
    expect(res.status).toBe(409);
    await expect.poll(() => daemonRow().locator('.enrol-note').textContent(), { timeout: UI_TIMEOUT }).toMatch(/^1 enrolment with this id refused/);
    expect(await daemonRow().locator('.enrol-note').isVisible()).toBe(true);
    expect(await daemonRow().locator('.badge').textContent()).toBe('online');
    await shot('03b-takeover-refused');
  });

  it('runs tasks from the page: output, idle-watchdog failure, cancel', async () => {
    const enqueue = async (prompt: string) => {
      await page.getByLabel('Runtime').fill('command');
      await page.getByLabel(/^Prompt/).fill(prompt);
      // Read without Playwright's auto-wait: the table may have no task row yet.
      const first = () => page.evaluate(() => document.querySelector('#task-table tbody tr[data-task-id]')?.getAttribute('data-task-id') ?? null);
      const before = await first();
      await page.getByRole('button', { name: 'Enqueue' }).click();
      await expect.poll(() => page.getByLabel(/^Prompt/).inputValue()).toBe('');
      // The form clears before the next poll redraws the table: wait for the new row on top,
      // or the previous task's id would be returned.
      await expect.poll(first, { timeout: UI_TIMEOUT }).not.toBe(before);
      return (await first())!;
    };
    const badge = (id: string) => page.locator(`tr[data-task-id="${id}"] .badge`);

    const ok = await enqueue('echo hello from the web page');
    await expect.poll(() => badge(ok).textContent(), { timeout: UI_TIMEOUT }).toBe('completed');
    await expect.poll(() => page.locator('#task-messages').innerText(), { timeout: UI_TIMEOUT }).toContain('hello from the web page');

    const idle = await enqueue('echo going quiet; sleep 30');
    await expect.poll(() => badge(idle).textContent(), { timeout: UI_TIMEOUT }).toBe('failed: idle_watchdog');

    const loop = await enqueue('while true; do echo tick; sleep 0.5; done');
    await expect.poll(() => badge(loop).textContent(), { timeout: UI_TIMEOUT }).toBe('running');
    await page.getByRole('button', { name: `Cancel task ${loop.slice(0, 8)}` }).click();
    await expect.poll(() => badge(loop).textContent(), { timeout: UI_TIMEOUT }).toBe('cancelled');
    expect((await p.admin.getTask(p.workspaceId, loop)).status).toBe('cancelled');

    await page.getByRole('button', { name: `Details of task ${idle.slice(0, 8)}` }).click();
    await expect.poll(() => page.locator('#task-facts').innerText()).toContain('idle_watchdog');
    await shot('04-tasks');
  });

  it('defines an agent and runs a task as it (the chat message reaches the machine)', async () => {
    await page.getByLabel('Name', { exact: true }).fill('echo-agent');
    await page.getByLabel('Provider').fill('command');
    await page.getByLabel('Instructions').fill('Answer briefly.');
    await page.getByLabel(/^Environment/).fill('GREETING=hi\n\nLOG_LEVEL=debug');
    await page.getByRole('button', { name: 'Add agent' }).click();
    const agentRow = page.locator('#agent-table tbody tr', { hasText: 'echo-agent' });
    await expect.poll(() => agentRow.innerText(), { timeout: UI_TIMEOUT }).toContain('GREETING, LOG_LEVEL');
    expect(await agentRow.innerText()).not.toContain('debug'); // env values are not shown
    const [agent] = await p.admin.listAgents(p.workspaceId);
    expect(agent).toMatchObject({ name: 'echo-agent', provider: 'command', instructions: 'Answer briefly.', custom_env: { GREETING: 'hi', LOG_LEVEL: 'debug' }, custom_args: [] });

    await page.getByLabel('Run as').selectOption({ label: 'Agent echo-agent (command)' });
    expect(await page.locator('#task-runtime-field').isVisible()).toBe(false);
    const first = () => page.evaluate(() => document.querySelector('#task-table tbody tr[data-task-id]')?.getAttribute('data-task-id') ?? null);
    const before = await first();
    await page.getByLabel(/^Message/).fill('echo from an agent');
    await page.getByRole('button', { name: 'Enqueue' }).click();
    await expect.poll(first, { timeout: UI_TIMEOUT }).not.toBe(before);
    const id = (await first())!;
    await expect.poll(() => page.locator(`tr[data-task-id="${id}"] .badge`).textContent(), { timeout: UI_TIMEOUT }).toBe('completed');
    expect(await page.locator(`tr[data-task-id="${id}"]`).innerText()).toContain('echo-agent · command');
    await expect.poll(() => page.locator('#task-facts').innerText(), { timeout: UI_TIMEOUT }).toMatch(/Agent\s+echo-agent[\s\S]*Message\s+echo from an agent/);
    await expect.poll(() => page.locator('#task-messages').innerText(), { timeout: UI_TIMEOUT }).toContain('from an agent');
    expect(await p.admin.getTask(p.workspaceId, id)).toMatchObject({ agent_id: agent!.id, chat_message: 'echo from an agent', status: 'completed' });
    await shot('04b-agent-task');
    await page.getByLabel('Run as').selectOption({ label: 'A prompt for a runtime' });
    expect(await page.locator('#task-runtime-field').isVisible()).toBe(true);

    // Edit: the form fills with the agent, Save changes it, the form goes back to "Add".
    await page.getByRole('button', { name: 'Edit agent echo-agent' }).click();
    expect(await page.getByLabel(/^Environment/).inputValue()).toBe('GREETING=hi\nLOG_LEVEL=debug');
    await page.getByLabel('Model').fill('sonnet');
    await page.getByLabel(/^Arguments/).fill('--max-turns\n3');
    await page.getByRole('button', { name: 'Save agent' }).click();
    await expect.poll(() => agentRow.innerText(), { timeout: UI_TIMEOUT }).toContain('sonnet');
    expect(await page.getByRole('button', { name: 'Add agent' }).isVisible()).toBe(true);
    expect((await p.admin.listAgents(p.workspaceId))[0]).toMatchObject({ id: agent!.id, model: 'sonnet', custom_args: ['--max-turns', '3'], custom_env: { GREETING: 'hi', LOG_LEVEL: 'debug' } });
  });

  it('an API error on an action shows as a visible error', async () => {
    await page.getByLabel('Runtime').fill('not a runtime!');
    await page.getByLabel(/^Prompt/).fill('echo x');
    await page.getByRole('button', { name: 'Enqueue' }).click();
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.isVisible()).toBe(true);
    expect(await alert.innerText()).toMatch(/Enqueueing the task failed: runtime must be a runtime name.*\(HTTP 400\)/);
    await shot('05-api-error');
    await page.getByRole('button', { name: 'Dismiss' }).click();
    expect(await alert.isVisible()).toBe(false);
    await page.getByLabel('Runtime').fill('command');
  });

  it('mints a fleet token from the page and shows its uses left', async () => {
    await page.getByRole('button', { name: 'Fleet token…' }).click();
    await page.getByLabel('Machines (uses)').fill('3');
    await page.getByLabel('Valid for, minutes').fill('30');
    await page.getByRole('button', { name: 'Mint fleet token' }).click();
    await expect.poll(() => page.locator('#install-uses').textContent()).toBe('This fleet token enrols up to 3 machines (3 uses left).');
    const command = await page.locator('#install-command').textContent();
    expect(command).toMatch(/^curl -fsSL http:\/\/127\.0\.0\.1:\d+\/install\.sh \| AGENTD_INSTALL_TOKEN=mit_[0-9a-f]{40} sh$/);
    const token = /mit_[0-9a-f]{40}/.exec(command!)![0];
    const row = page.locator('#tokens tbody tr').filter({ hasText: 'fleet' });
    await expect.poll(() => row.locator('.uses-left').textContent(), { timeout: UI_TIMEOUT }).toBe('3 of 3');
    // A machine of the group enrols: one use spent, the page shows it on its next poll.
    const r = await fetch(`${p.url}/api/install-tokens/exchange`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, daemon_id: 'fleet-web-1' }) });
    expect(r.status).toBe(200);
    await expect.poll(() => row.locator('.uses-left').textContent(), { timeout: UI_TIMEOUT }).toBe('2 of 3');
    await shot('13-fleet-token-uses-left');
    await page.getByRole('button', { name: 'Done, hide it' }).first().click();
    expect(await page.content()).not.toContain('mit_');
  });

  it('connection info shows no token, and the snippets from the API', async () => {
    await page.getByRole('button', { name: 'Connection info of web-e2e-host' }).click();
    const panel = page.locator('#conn-panel');
    await panel.waitFor();
    const text = await panel.innerText();
    expect(text).toContain(e!.daemonId);
    expect(text).toContain('not shown');
    expect(text).not.toMatch(/mdt_[0-9a-f]/);
    const info = await p.admin.connection(p.workspaceId, e!.daemonId);
    for (const k of ['one_liner', 'credentials_set', 'env'] as const) {
      expect(await panel.locator(`pre[data-snippet="${k}"]`).innerText()).toBe(info.snippets[k]);
    }
    expect(info.snippets.one_liner).toBe(`curl -fsSL ${p.url}/install.sh | sh`);
    await shot('14-connection-info-snippets');
    await page.getByRole('button', { name: 'Close' }).first().click();
  });

  it('rotate asks first (Escape cancels), then shows the new token once; the tasks it ran end at once', async () => {
    const before = await p.admin.connection(p.workspaceId, e!.daemonId);
    const { id: long } = await p.admin.enqueueTask(p.workspaceId, { runtime: 'command', prompt: 'echo working; while true; do echo tick; sleep 0.5; done' });
    const longBadge = page.locator(`tr[data-task-id="${long}"] .badge`);
    await expect.poll(() => longBadge.textContent(), { timeout: UI_TIMEOUT }).toBe('running');
    await page.getByRole('button', { name: 'Rotate credentials of web-e2e-host' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.innerText()).toMatch(/old one stops working at once[\s\S]*agentd credentials set/);
    await shot('06-rotate-confirm');
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect((await p.admin.connection(p.workspaceId, e!.daemonId)).issued_at).toBe(before.issued_at);

    await page.getByRole('button', { name: 'Rotate credentials of web-e2e-host' }).click();
    await page.getByRole('button', { name: 'Rotate credential', exact: true }).click();
    const token = page.locator('#secret-token');
    await expect.poll(() => token.textContent()).toMatch(/^mdt_[0-9a-f]{40}$/);
    const newToken = (await token.textContent())!;
    expect(await page.locator('#secret-snippets pre[data-snippet="credentials_set"]').innerText()).toContain(`'${newToken}'`);
    expect(await page.locator('#secret-tasks').textContent()).toBe('On the platform: 1 running task failed (runtime_offline).');
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }));
    expect(stored).not.toContain('mdt_');
    await shot('07-rotated-token');
    // The task it was running ended on the platform at the rotation, not when the daemon restarts.
    await expect.poll(() => longBadge.textContent(), { timeout: UI_TIMEOUT }).toBe('failed: runtime_offline');
    await page.getByRole('button', { name: 'Done, hide it' }).last().click();
    expect(await page.content()).not.toMatch(/mdt_[0-9a-f]/);
    await page.getByRole('button', { name: `Details of task ${long.slice(0, 8)}` }).click();
    await expect.poll(() => page.locator('#task-facts').innerText()).toMatch(/Failure reason\s+runtime_offline[\s\S]*lost its credential/);
    await page.locator('#task-detail').scrollIntoViewIfNeeded();
    await shot('15-tasks-ended-by-revocation');
    expect((await p.admin.connection(p.workspaceId, e!.daemonId)).issued_at).not.toBe(before.issued_at);
  });

  it('revoke after confirm: the daemon shows revoked', async () => {
    await page.getByRole('button', { name: 'Revoke web-e2e-host' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.innerText()).toMatch(/stops taking new tasks[\s\S]*running tasks fail here at once \(runtime_offline\)[\s\S]*waits for a new credential/);
    await page.getByRole('button', { name: 'Revoke credential', exact: true }).click();
    await expect.poll(() => daemonRow().locator('.badge').textContent(), { timeout: UI_TIMEOUT }).toBe('revoked');
    expect(await page.getByRole('button', { name: 'Revoke web-e2e-host' }).isDisabled()).toBe(true);
    // The real daemon notices too.
    await d!.waitForState('revoked', 15_000);
    await shot('08-revoked');
  });

  it('Revoke all machines asks first, naming how many stop working, then revokes them all', async () => {
    // Two more machines with live credentials (the real one is revoked already).
    await registerRaw(p, 'fleet-a');
    await registerRaw(p, 'fleet-b');
    const row = (id: string) => page.locator(`tr[data-daemon-id="${id}"] .badge`);
    await expect.poll(() => row('fleet-b').textContent(), { timeout: UI_TIMEOUT }).toBe('online');
    await page.getByRole('button', { name: 'Revoke all machines…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    const live = (await p.admin.listDaemons(p.workspaceId)).filter((x) => !x.revoked).length;
    expect(await page.locator('#confirm-title').textContent()).toBe(`Revoke all ${live} machines?`);
    expect(await dialog.innerText()).toContain(`${live} machines stop working at once`);
    await shot('16-revoke-all-confirm');
    await page.getByRole('button', { name: `Revoke ${live} machines`, exact: true }).click();
    await expect.poll(() => row('fleet-a').textContent(), { timeout: UI_TIMEOUT }).toBe('revoked');
    await expect.poll(() => row('fleet-b').textContent(), { timeout: UI_TIMEOUT }).toBe('revoked');
    expect((await p.admin.listDaemons(p.workspaceId)).every((x) => x.revoked)).toBe(true);
    await expect.poll(() => page.getByRole('button', { name: 'Revoke all machines…' }).isDisabled()).toBe(true);
    await shot('17-revoked-all');
  });

  it('reloading keeps the session (admin token in sessionStorage); sign out forgets it', async () => {
    await page.reload();
    await page.getByRole('button', { name: 'Add machine' }).waitFor();
    await expect.poll(() => daemonRow().locator('.badge').textContent()).toBe('revoked');
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot('09-dark-scheme');
    await page.setViewportSize({ width: 420, height: 900 });
    await shot('10-narrow');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('agentd.adminToken'))).toBeNull();
    expect(pageErrors).toEqual([]);
  });

  it('is served with a strict CSP, no framing and nosniff, and nothing on it violated the policy', async () => {
    for (const path of ['/', '/app.js', '/style.css']) {
      const res = await fetch(p.url + path);
      await res.arrayBuffer();
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("default-src 'none'");
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).not.toContain('unsafe-inline');
      expect(csp, path).not.toContain('unsafe-eval');
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
    expect(await page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations)).toEqual([]);
    // Framed by another page: the browser refuses to render it (setContent waits for the
    // iframe's load event, blocked or not).
    const framer = await ctx.newPage();
    await framer.setContent(`<iframe id="f" src="${p.url}/"></iframe>`, { waitUntil: 'load' });
    const frame = await (await framer.waitForSelector('#f')).contentFrame();
    expect(await frame!.evaluate(() => document.getElementById('login-form') !== null).catch(() => false)).toBe(false);
    await framer.close();
  });
});

describe.skipIf(!hasChromium)('operator web page: install command expiry', { timeout: 60_000 }, () => {
  let p: TestPlatform;
  let browser: Browser;

  beforeAll(async () => {
    p = await startPlatform({ args: ['--install-token-ttl', '3s'] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser?.close();
    await p?.stop();
  });

  it('counts down and wipes the command when the token expires', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 700 } });
    page.setDefaultTimeout(UI_TIMEOUT);
    await page.goto(p.url + '/');
    await page.getByLabel('Admin token').fill(p.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Add machine' }).click();
    const countdown = page.locator('#install-countdown');
    await expect.poll(() => countdown.textContent()).toMatch(/^0:0[1-3]$/);
    await expect.poll(() => page.locator('#install-expiry').textContent(), { timeout: 10_000 }).toBe('It has expired. Press Add machine for a new one.');
    expect(await page.locator('#install-command').textContent()).toMatch(/^Expired: press Add machine/);
    expect(await page.content()).not.toContain('mit_');
    expect(await page.locator('#install-copy').isDisabled()).toBe(true);
    await page.screenshot({ path: join(SHOTS, '11-install-expired.png') });

    // The platform goes away: a visible error that says so; it comes back: the error goes.
    await p.halt();
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.isVisible(), { timeout: 10_000 }).toBe(true);
    expect(await alert.innerText()).toMatch(/Refreshing failed: cannot reach the platform at http:\/\/127\.0\.0\.1:\d+ .*keeps retrying/);
    await page.screenshot({ path: join(SHOTS, '12-platform-down.png') });
    await p.restart();
    await expect.poll(() => alert.isVisible(), { timeout: 10_000 }).toBe(false);
  });
});
