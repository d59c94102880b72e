import { createHash } from 'node:crypto';
import { DEFAULT_FAULT_SEED, isFaultyDevice } from '@updraft/sim';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CampaignWorld, type TestDevice } from './campaign-fixture.js';
import {
  type Browser,
  browserGate,
  expectAccessible,
  launchBrowser,
  requestsOffOrigin,
  signIn,
  unexpectedConsoleErrors,
} from './web-browser.js';

/**
 * The campaign page in Debian's chromium (issue 12) against a spawned service (engine tick 1 s)
 * and simulated devices (`updraft sim fleet`): a campaign created by a rollout admin is approved
 * in the browser by an approver (four-eyes) and started; its progress bars advance live from the
 * event stream while the fleet updates; a campaign whose canary fails pauses itself and the page
 * says why, with the failure reasons and example devices; Resume and Cancel work from the page.
 */
const gate = browserGate('web campaign e2e');

const PASSWORD = 'campaign-live-password-0123';
const LIVE_DEVICES = 20;
const FAULT_RATE = 0.5;

describe.skipIf(gate.skip)('the campaign page in chromium', { timeout: 60_000 }, () => {
  let world: CampaignWorld;
  let browser: Browser;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    gate.assertRunnable();
    [world, browser] = await Promise.all([
      CampaignWorld.start({ dialect: 'sqlite' }),
      launchBrowser(),
    ]);
    for (const [username, role] of [
      ['rollout1', 'rollout-admin'],
      ['approver1', 'approver'],
      ['auditor1', 'auditor'],
    ] as const) {
      await world.api('POST', '/api/v1/users', {
        username,
        password: PASSWORD,
        roles: [role],
        mustChangePassword: false,
      });
      const login = await fetch(`${world.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: PASSWORD }),
      });
      tokens[username] = ((await login.json()) as { token: string }).token;
    }
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  /** Signs `username` in (a fresh session) and opens the campaign's page. */
  async function openAs(page: Page, username: string, campaignId: string): Promise<void> {
    await signIn(page, world.url, username, PASSWORD, `/campaigns/${campaignId}`);
    await page.waitForURL(`**/campaigns/${campaignId}`);
  }

  const stateBadge = (page: Page) => page.getByTestId('campaign-state');
  /** The succeeded count the page shows in the total bar ("N of M succeeded, …"). */
  async function succeededShown(page: Page): Promise<{ n: number; of: number }> {
    const text = (await page.getByTestId('progress-total').textContent()) ?? '';
    const m = /^(\d+) of (\d+) succeeded/.exec(text);
    if (!m) throw new Error(`unexpected progress text: ${text}`);
    return { n: Number(m[1]), of: Number(m[2]) };
  }

  it('a campaign approved by an approver is started in the browser by its rollout admin, and its bars advance live; a device page then shows the update in its timeline', async () => {
    const liveDevices = await world.addDevices(LIVE_DEVICES, { ring: 'live' }, 'live.txt');
    const created = await world.api<{ id: string; state: string }>(
      'POST',
      '/api/v1/campaigns',
      {
        name: 'live ring',
        releaseId: world.releaseId,
        filter: 'device.attributes.ring == "live"',
        phases: [{ percent: 25 }, { percent: 100 }],
      },
      tokens.rollout1,
    );
    expect(created.state).toBe('draft');
    const id = created.id;

    // The fleet starts now (its process takes seconds to come up) and idles until the start.
    const fleet = world.fleet('live.txt');
    try {
      // Approval in the browser (four-eyes) is web-campaign-wizard's subject: here by the API.
      await world.api('POST', `/api/v1/campaigns/${id}/approve`, {}, tokens.approver1);
      const page = await browser.newPage();
      // The rollout admin starts it.
      await openAs(page, 'rollout1', id);
      await page.getByText(/approved by /).waitFor();
      await page.getByRole('button', { name: 'Start' }).click();
      await page.getByTestId('campaign-state').getByText('running').waitFor();
      await page.getByText('Live', { exact: true }).waitFor();
      await page.getByText(`0 of ${LIVE_DEVICES} succeeded`).waitFor();

      // The page is never reloaded from here: a marker in the document must survive.
      await page.evaluate(() => {
        (globalThis as unknown as { liveMarker: number }).liveMarker = 42;
      });
      const started = Date.now();
      const seen: number[] = [];
      let shot = false;
      try {
        for (;;) {
          const { n, of } = await succeededShown(page);
          expect(of).toBe(LIVE_DEVICES);
          if (seen.at(-1) !== n) seen.push(n);
          if (!shot && n > 0 && n < of) {
            await expectAccessible(page, 'campaign-live');
            shot = true;
          }
          if (n === of) break;
          if (Date.now() - started > 45_000) throw new Error(`stuck at ${seen.join(' → ')}`);
          await page.waitForTimeout(200);
        }
      } finally {
        await fleet.stop();
      }
      console.log(
        `campaign page, succeeded shown live: ${seen.join(' → ')} in ${Date.now() - started} ms`,
      );
      // It rose in steps, never fell, and showed states between none and all.
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(seen[0]).toBe(0);
      expect(seen.some((n) => n > 0 && n < LIVE_DEVICES)).toBe(true);
      expect(await page.evaluate(() => (globalThis as { liveMarker?: number }).liveMarker)).toBe(
        42,
      );
      await page.getByTestId('campaign-state').getByText('finished (completed)').waitFor();
      expect(await page.getByRole('progressbar', { name: /^Phase 2/ }).count()).toBe(1);

      // One updated device's page: the release in its update timeline, with the reports.
      await page.goto(`${world.url}/devices/${liveDevices[0]!.id}`);
      await page.getByRole('heading', { level: 1, name: liveDevices[0]!.name }).waitFor();
      const timeline = page.getByRole('region', { name: 'Updates' });
      await timeline.getByText(`Release ${world.releaseId}`).waitFor();
      await timeline.getByText('success', { exact: true }).first().waitFor();
      const reports = timeline.getByRole('list', {
        name: `Reports on release ${world.releaseId}`,
      });
      await reports.waitFor();
      const lines = await reports.getByRole('listitem').allTextContents();
      expect(lines.length, lines.join('\n')).toBeGreaterThan(1);
      expect(lines.join('\n')).toMatch(/· device · /);
      await page
        .getByRole('table', { name: 'Components' })
        .getByText('1.1.0', { exact: true })
        .waitFor();
      await expectAccessible(page, 'device-timeline');
      await page.close();
    } finally {
      await fleet.stop();
    }
  });

  it('a campaign whose canary fails pauses itself; the page says why, lists the failure reasons with device links, and resumes and cancels it', async () => {
    const devices = await world.addDevices(20, { ring: 'fail' }, 'fail.txt');
    const faulty = (d: TestDevice) => isFaultyDevice(d.name, FAULT_RATE, DEFAULT_FAULT_SEED);
    // The canary (the first 25 % by the documented rank, md5 of "<campaign>:<device>") must
    // hold a faulty device: a draft whose canary is all healthy is replaced (1 in 32 here).
    let id = '';
    let canary: TestDevice[] = [];
    for (let attempt = 0; attempt < 20 && !canary.some(faulty); attempt++) {
      id = (
        await world.api<{ id: string }>(
          'POST',
          '/api/v1/campaigns',
          {
            name: `failing ring #${attempt}`,
            releaseId: world.releaseId,
            filter: 'device.attributes.ring == "fail"',
            phases: [{ percent: 25 }, { percent: 100 }],
            // The first failure in a phase pauses the campaign.
            errorThreshold: { count: 1 },
          },
          tokens.rollout1,
        )
      ).id;
      const rank = (d: TestDevice) => createHash('md5').update(`${id}:${d.id}`).digest('hex');
      canary = [...devices].sort((a, b) => rank(a).localeCompare(rank(b))).slice(0, 5);
    }
    const failing = canary.filter(faulty);
    expect(failing.length).toBeGreaterThan(0);
    const fleet = world.fleet('fail.txt', { extra: ['--fault-rate', String(FAULT_RATE)] });
    try {
      await world.api('POST', `/api/v1/campaigns/${id}/approve`, {}, tokens.approver1);
      await world.api('POST', `/api/v1/campaigns/${id}/start`, {}, tokens.rollout1);

      const page = await browser.newPage();
      await openAs(page, 'rollout1', id);
      await page.getByTestId('campaign-state').getByText('running').waitFor();
      await page.getByText('Live', { exact: true }).waitFor();
      const alert = page.getByRole('alert').filter({ hasText: 'Paused automatically' });
      try {
        // No reload: the pause arrives through the event stream.
        await alert.waitFor({ timeout: 40_000 });
        // The canary's open actions run to their end; then every failure is counted.
        await page
          .getByRole('table', { name: 'Failure reasons' })
          .getByRole('row')
          .filter({ hasText: 'SIM_BOOT_TRIAL_REVERTED' })
          .getByRole('cell', { name: String(failing.length), exact: true })
          .waitFor({ timeout: 30_000 });
      } finally {
        await fleet.stop();
      }
      expect(await stateBadge(page).textContent()).toBe('paused (error-threshold)');
      const words = (await alert.textContent()) ?? '';
      expect(words).toContain('error threshold exceeded');
      expect(words).toContain('Phase 1:');
      expect(words).toContain('at least 1 failed or rejected');
      // Example devices link to their pages: the failing canary devices.
      const links = page.getByRole('table', { name: 'Failure reasons' }).getByRole('link');
      const hrefs = await links.evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      expect(hrefs.sort()).toEqual(failing.map((d) => `/devices/${d.id}`).sort());
      await expectAccessible(page, 'campaign-paused');

      // Resume (the fleet is stopped: no new failures) and then cancel, from the page.
      await page.getByRole('button', { name: 'Resume' }).click();
      await page.getByTestId('campaign-state').getByText('running').waitFor();
      expect(await alert.count()).toBe(0);
      await page.getByRole('button', { name: 'Cancel campaign' }).click();
      const dialog = page.getByRole('dialog', { name: 'Cancel the campaign?' });
      await dialog.getByRole('button', { name: 'Yes, cancel it' }).click();
      await page.getByTestId('campaign-state').getByText('cancelled').waitFor();
      expect(await page.getByRole('button', { name: 'Resume' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Cancel campaign' }).count()).toBe(0);
      await page.getByRole('link', { name: failing[0]!.name }).click();
      await page.getByRole('heading', { name: failing[0]!.name }).waitFor();
      // The failed device's timeline: the release, its failed action and the error code.
      const timeline = page.getByRole('region', { name: 'Updates' });
      await timeline.getByText(`Release ${world.releaseId}`).waitFor();
      await timeline.getByText('failure', { exact: true }).first().waitFor();
      const reports = timeline.getByRole('list', {
        name: `Reports on release ${world.releaseId}`,
      });
      await reports.getByText('SIM_BOOT_TRIAL_REVERTED').waitFor();
      await expectAccessible(page, 'the failed device', 'device-timeline-failed');
      await page.close();
    } finally {
      await fleet.stop();
    }
  });

  it('an auditor sees the releases and campaigns and can change nothing', async () => {
    // A draft (approve, reject) and a running campaign (pause, cancel) on two devices whose
    // simulators never run: the auditor's campaign pages show every operation there is.
    await world.addDevices(2, { ring: 'audit' }, 'audit.txt');
    const create = async (name: string) =>
      (
        await world.api<{ id: string }>(
          'POST',
          '/api/v1/campaigns',
          {
            name,
            releaseId: world.releaseId,
            filter: 'device.attributes.ring == "audit"',
            phases: [{ percent: 100 }],
          },
          tokens.rollout1,
        )
      ).id;
    const draft = await create('audit draft');
    const running = await create('audit running');
    await world.api('POST', `/api/v1/campaigns/${running}/approve`, {}, tokens.approver1);
    await world.api('POST', `/api/v1/campaigns/${running}/start`, {}, tokens.rollout1);

    const page = await browser.newPage();
    const unsafe: string[] = [];
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (['GET', 'HEAD'].includes(request.method())) return;
      if (path === '/api/v1/auth/login' || path === '/api/v1/auth/logout') return;
      unsafe.push(`${request.method()} ${path}`);
    });
    const expectRefused = async (name: string | RegExp, permission: string) => {
      const button = page.getByRole('button', { name, exact: true });
      await button.waitFor();
      expect(await button.isDisabled(), String(name)).toBe(true);
      const reason = await button.getAttribute('aria-describedby');
      expect(await page.locator(`[id="${reason}"]`).textContent()).toContain(permission);
      await button.click({ force: true });
    };

    await browser.context.clearCookies();
    await page.goto(`${world.url}/login?next=/releases`);
    await page.getByLabel('Username').fill('auditor1');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Releases' }).waitFor();
    await page.getByRole('table', { name: 'Releases' }).getByText('1.1.0').first().waitFor();
    await expectRefused('Upload release', 'releases:write');
    expect(await page.getByRole('form').count()).toBe(0);
    await page.mouse.move(1200, 780);
    await expectAccessible(page, 'releases (auditor)', false);
    await page
      .getByRole('link', { name: /^1\.1\.0/ })
      .first()
      .click();
    await page.getByRole('heading', { level: 1, name: 'Release 1.1.0' }).waitFor();
    await page.getByRole('table', { name: 'Components' }).waitFor();
    await expectAccessible(page, 'a release (auditor)', false);

    await page.goto(`${world.url}/campaigns`);
    await page.getByRole('heading', { level: 1, name: 'Campaigns' }).waitFor();
    for (const name of ['live ring', 'audit draft', 'audit running'])
      await page.getByRole('row').filter({ hasText: name }).first().waitFor();
    await expectRefused('New campaign', 'campaigns:write');
    expect(new URL(page.url()).pathname).toBe('/campaigns');
    await expectAccessible(page, 'campaigns (auditor)', false);

    await page.goto(`${world.url}/campaigns/${draft}`);
    await page.getByRole('heading', { level: 1, name: 'audit draft' }).waitFor();
    await expectRefused('Approve', 'campaigns:approve');
    await expectRefused('Reject', 'campaigns:approve');
    expect(await page.getByRole('dialog').count()).toBe(0);
    await expectAccessible(page, 'a draft (auditor)', false);

    await page.goto(`${world.url}/campaigns/${running}`);
    await page.getByRole('heading', { level: 1, name: 'audit running' }).waitFor();
    await stateBadge(page).getByText('running').waitFor();
    await expectRefused('Pause', 'campaigns:write');
    await expectRefused('Cancel campaign', 'campaigns:write');
    expect(await page.getByRole('dialog').count()).toBe(0);
    await expectAccessible(page, 'a running campaign (auditor)', 'auditor-campaign');

    await page.close();

    // Nothing the auditor's pages did tried a change, and nothing changed.
    expect(unsafe).toEqual([]);
    expect((await world.api<{ state: string }>('GET', `/api/v1/campaigns/${draft}`)).state).toBe(
      'draft',
    );
    expect((await world.api<{ state: string }>('GET', `/api/v1/campaigns/${running}`)).state).toBe(
      'running',
    );
    await world.api('POST', `/api/v1/campaigns/${running}/cancel`, {}, tokens.rollout1);
  });

  it('sent no request off the origin and logged no browser errors', () => {
    expect(requestsOffOrigin(browser, world.url)).toEqual([]);
    expect(unexpectedConsoleErrors(browser, /status of 40[01]/)).toEqual([]);
  });
});
