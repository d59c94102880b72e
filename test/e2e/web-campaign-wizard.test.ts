import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CampaignWorld } from './campaign-fixture.js';
import {
  type Browser,
  browserGate,
  expectAccessible,
  launchBrowser,
  requestsOffOrigin,
  signIn as signInAt,
} from './web-browser.js';

/**
 * Issue 12, "create a campaign as one user" in Debian's chromium: a rollout admin walks the
 * campaign wizard (release, a filter with its live count, phases with thresholds and soak, a
 * time-forced action in a maintenance window) to a draft, which the API then shows exactly as
 * entered; an approver sees "New campaign" disabled with the reason. The service is the
 * campaign fixture's (a device class `sensor`, its signed release 1.1.0) with registered devices.
 */
const gate = browserGate('web campaign wizard e2e');

const PASSWORD = 'wizard-password-0123456789';

interface CampaignDoc {
  id: string;
  name: string;
  state: string;
  releaseId: string;
  filter: string;
  type: string;
  actionType: string;
  forceAfter: string | null;
  recurringWindow: { cron: string; durationSeconds: number; timeZone: string } | null;
  successThreshold: number;
  errorThreshold: unknown;
  soakSeconds: number;
  healthTimeoutSeconds: number;
  createdBy: string | null;
  phases: {
    percent: number | null;
    count: number | null;
    filter: string | null;
    successThreshold: number;
    errorThreshold: unknown;
    manualGate: boolean;
  }[];
}

describe.skipIf(gate.skip)('the campaign wizard in chromium', { timeout: 120_000 }, () => {
  let world: CampaignWorld;
  let browser: Browser;
  let base: string;
  const userIds: Record<string, string> = {};
  /** The draft the rollout admin made in the wizard (the next test approves it). */
  let draftId = '';

  beforeAll(async () => {
    gate.assertRunnable();
    world = await CampaignWorld.start({ dialect: 'sqlite' });
    base = world.url;
    browser = await launchBrowser();
    await world.addDevices(5, { region: 'eu' }, 'eu.txt');
    await world.addDevices(3, { region: 'us' }, 'us.txt');
    for (const [username, roles] of [
      ['rollout1', ['rollout-admin']],
      ['approver1', ['approver']],
    ] as const) {
      const user = await world.api<{ id: string }>('POST', '/api/v1/users', {
        username,
        password: PASSWORD,
        roles,
        mustChangePassword: false,
      });
      userIds[username] = user.id;
    }
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  async function signIn(page: Page, username: string): Promise<void> {
    await signInAt(page, base, username, PASSWORD);
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
  }

  async function step(page: Page, n: number, title: string): Promise<void> {
    await page.getByRole('heading', { name: `Step ${n} of 5: ${title}` }).waitFor();
  }

  it('a rollout admin creates a draft through every step of the wizard', async () => {
    const page = await browser.newPage();
    await signIn(page, 'rollout1');
    await page.goto(`${base}/campaigns`);
    await page.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
    await page.getByText('No campaigns yet.').waitFor();
    await page.getByRole('button', { name: 'New campaign' }).click();
    await page.waitForURL(`${base}/campaigns/new`);
    await step(page, 1, 'Release');

    // Step 1: nothing entered → labelled errors, the step stays.
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('Give the campaign a name').waitFor();
    await page.getByText('Choose a release').waitFor();
    await expectAccessible(page, 'wizard step 1 with errors', false);
    await page.getByRole('textbox', { name: 'Name' }).fill('sensor 1.1.0 EU');
    // The release by keyboard: type part of the version, pick the option.
    const release = page.getByRole('combobox', { name: 'Release' });
    await release.focus();
    await page.keyboard.type('1.1');
    await page.getByRole('option', { name: /^1\.1\.0/ }).waitFor();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    expect(await release.inputValue()).toMatch(/^1\.1\.0 \(sequence 2/);
    await expectAccessible(page, 'wizard step 1', 'campaign-new');
    await page.getByRole('button', { name: 'Next' }).click();

    // Step 2: the filter with its live count (5 of 8 devices are in the EU).
    await step(page, 2, 'Targets');
    const filter = page.getByRole('textbox', { name: 'Filter' });
    await filter.fill('device.attributes.region == ');
    await page.locator('#filter-error').waitFor();
    expect(await page.locator('#filter-error').textContent()).toMatch(/FILTER_[A-Z_]+/);
    await filter.fill('device.attributes.region == "eu"');
    await page.getByTestId('filter-count').getByText('5 matching devices').waitFor();
    await expectAccessible(page, 'wizard step 2', 'campaign-new-targets');
    await page.getByRole('button', { name: 'Next' }).click();

    // Step 3: from the default 1 % → 10 % → 100 % to a gated canary of 2 devices, then
    // everyone with its own error threshold of 1 device; success 90 %, soak 5 minutes.
    await step(page, 3, 'Phases');
    await page.getByRole('button', { name: 'Remove phase 2' }).click();
    const unit1 = page.getByRole('combobox', { name: 'Phase 1 size unit' });
    await unit1.click();
    await page.getByRole('option', { name: 'devices' }).click();
    await page.getByRole('textbox', { name: 'Phase 1 size', exact: true }).fill('2');
    await page.getByRole('textbox', { name: 'Phase 2 error threshold', exact: true }).fill('1');
    await page.getByRole('combobox', { name: 'Phase 2 error threshold: unit' }).click();
    await page.getByRole('option', { name: 'devices' }).click();
    await page.getByRole('textbox', { name: /^Success threshold/ }).fill('90');
    await page.getByRole('textbox', { name: /^Soak/ }).fill('5');
    expect(await page.getByRole('checkbox', { name: /Phase 1: wait/ }).isChecked()).toBe(true);
    await expectAccessible(page, 'wizard step 3', 'campaign-new-phases');
    await page.getByRole('button', { name: 'Next' }).click();

    // Step 4: time-forced (by keyboard through the radio group) in a weekday night window.
    await step(page, 4, 'Delivery');
    await page.getByRole('radio', { name: /^Soft/ }).focus();
    await page.keyboard.press('ArrowDown'); // download-only
    await page.keyboard.press('ArrowDown'); // time-forced
    expect(await page.getByRole('radio', { name: /^Time-forced/ }).isChecked()).toBe(true);
    await page.getByLabel(/Force the install after/).fill('2027-03-01T02:00');
    const forceAfter = await page.evaluate(() => new Date('2027-03-01T02:00').toISOString());
    await page.getByRole('checkbox', { name: /maintenance window/ }).check();
    await page.getByRole('textbox', { name: /Window opens/ }).fill('30 1 * * 1-5');
    await page.getByRole('textbox', { name: /Window length/ }).fill('90');
    await page.getByRole('textbox', { name: /Window time zone/ }).fill('Europe/Berlin');
    await expectAccessible(page, 'wizard step 4', 'campaign-new-delivery');
    await page.getByRole('button', { name: 'Next' }).click();

    // Step 5: the summary, then the draft.
    await step(page, 5, 'Review');
    const summary = page.getByRole('table', { name: 'Phases summary' });
    expect(await summary.textContent()).toContain('+2 devices');
    expect(await summary.textContent()).toContain('at least 1 failed device');
    await expectAccessible(page, 'wizard step 5', 'campaign-new-review');
    await page.getByRole('button', { name: 'Create draft' }).click();
    await page.waitForURL(/\/campaigns\/cmp_[A-Za-z0-9_-]+$/);
    const id = new URL(page.url()).pathname.split('/').at(-1)!;
    draftId = id;

    const made = await world.api<CampaignDoc>('GET', `/api/v1/campaigns/${id}`);
    expect(made).toMatchObject({
      name: 'sensor 1.1.0 EU',
      state: 'draft',
      releaseId: world.releaseId,
      filter: 'device.attributes.region == "eu"',
      type: 'one-shot',
      actionType: 'time-forced',
      forceAfter,
      recurringWindow: { cron: '30 1 * * 1-5', durationSeconds: 5400, timeZone: 'Europe/Berlin' },
      successThreshold: 90,
      errorThreshold: { percent: 10 },
      soakSeconds: 300,
      healthTimeoutSeconds: 1800,
      createdBy: userIds.rollout1,
    });
    expect(
      made.phases.map(
        ({ percent, count, filter, successThreshold, errorThreshold, manualGate }) => ({
          percent,
          count,
          filter,
          successThreshold,
          errorThreshold,
          manualGate,
        }),
      ),
    ).toEqual([
      {
        percent: null,
        count: 2,
        filter: null,
        successThreshold: 90,
        errorThreshold: { percent: 10 },
        manualGate: true,
      },
      {
        percent: 100,
        count: null,
        filter: null,
        successThreshold: 90,
        errorThreshold: { count: 1 },
        manualGate: false,
      },
    ]);

    // The list shows the draft with a link to it.
    await page.goto(`${base}/campaigns`);
    const row = page.getByRole('row').filter({ hasText: 'sensor 1.1.0 EU' });
    await row.getByText('draft').waitFor();
    expect(await row.getByRole('link').getAttribute('href')).toBe(`/campaigns/${id}`);
    expect(await row.textContent()).toContain('1.1.0');
    await expectAccessible(page, 'campaigns', 'campaigns');
    expect(requestsOffOrigin(browser, base)).toEqual([]);
    await page.close();
  });

  it('the draft made in the wizard is approved in the browser by another user, not its creator', async () => {
    expect(draftId).toMatch(/^cmp_/);
    const page = await browser.newPage();
    // The creator (a rollout admin, no campaigns:approve) sees Approve disabled with the reason.
    await signIn(page, 'rollout1');
    await page.goto(`${base}/campaigns/${draftId}`);
    await page.getByRole('heading', { level: 1, name: 'sensor 1.1.0 EU' }).waitFor();
    await page.getByTestId('campaign-state').getByText('draft', { exact: true }).waitFor();
    const byCreator = page.getByRole('button', { name: 'Approve' });
    expect(await byCreator.isDisabled()).toBe(true);
    const reasonId = await byCreator.getAttribute('aria-describedby');
    expect(await page.locator(`[id="${reasonId}"]`).textContent()).toContain('campaigns:approve');
    await byCreator.click({ force: true });
    expect((await world.api<CampaignDoc>('GET', `/api/v1/campaigns/${draftId}`)).state).toBe(
      'draft',
    );

    // The approver signs in, opens the same campaign and approves it.
    await signIn(page, 'approver1');
    await page.goto(`${base}/campaigns/${draftId}`);
    await page.getByRole('heading', { level: 1, name: 'sensor 1.1.0 EU' }).waitFor();
    // (An approver may not list users: the creator is shown by name or by id.)
    await page.getByText(new RegExp(`Created by (rollout1|${userIds.rollout1}) at`)).waitFor();
    await expectAccessible(page, 'campaign page (draft, approver)', 'campaign-draft');
    const approve = page.getByRole('button', { name: 'Approve' });
    expect(await approve.isEnabled()).toBe(true);
    await approve.click();
    await page.getByTestId('campaign-state').getByText('approved', { exact: true }).waitFor();
    await page.getByText(/approved by approver1 \(you\)/).waitFor();
    // Approval done, the button is gone; the approver may not start it.
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Start' }).isDisabled()).toBe(true);

    const approved = await world.api<
      CampaignDoc & { review: { decision: string; by: string } | null }
    >('GET', `/api/v1/campaigns/${draftId}`);
    expect(approved.state).toBe('approved');
    expect(approved.createdBy).toBe(userIds.rollout1);
    expect(approved.review).toMatchObject({ decision: 'approved', by: userIds.approver1 });
    await page.close();
  });

  it('an approver sees "New campaign" disabled with the reason, and the wizard refused', async () => {
    const page = await browser.newPage();
    await signIn(page, 'approver1');
    await page.goto(`${base}/campaigns`);
    await page.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
    const button = page.getByRole('button', { name: 'New campaign' });
    expect(await button.isDisabled()).toBe(true);
    const reasonId = await button.getAttribute('aria-describedby');
    expect(await page.locator(`[id="${reasonId}"]`).textContent()).toContain('campaigns:write');
    await expectAccessible(page, 'campaigns as approver', false);
    await page.goto(`${base}/campaigns/new`);
    await page.getByRole('alert').getByText('campaigns:write').waitFor();
    expect(await page.getByRole('button', { name: 'Next' }).count()).toBe(0);
    await page.close();
  });
});
