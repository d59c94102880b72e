import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollOverEst } from './est-enrollment.js';
import { type SpawnedService, startService } from './service-fixture.js';
import {
  type Browser,
  browserGate,
  expectAccessible,
  launchBrowser,
  requestsOffOrigin,
  screenshot,
  signIn as signInAt,
  unexpectedConsoleErrors,
} from './web-browser.js';

/**
 * The admin pages in Debian's chromium against a spawned service (issue 12): users, API tokens,
 * tenant settings and webhooks changed in the browser and checked through the API; the audit log
 * lists and filters those changes; and an auditor sees every page and can change nothing.
 */
const gate = browserGate('web admin e2e');

const PASSWORD = 'admin-pages-password-0123';
const NEW_PASSWORD = 'new-operator-password-0123';

describe.skipIf(gate.skip)('the admin pages in chromium', { timeout: 60_000 }, () => {
  let service: SpawnedService;
  let browser: Browser;
  let receiver: Server;
  const received: string[] = [];
  let hookUrl = '';
  let dir = '';

  beforeAll(async () => {
    gate.assertRunnable();
    service = await startService();
    browser = await launchBrowser();
    for (const [username, roles] of [
      ['boss', ['admin']],
      ['auditor1', ['auditor']],
    ] as const) {
      await service.api('POST', '/api/v1/users', {
        username,
        password: PASSWORD,
        roles,
        mustChangePassword: false,
      });
    }
    // What the auditor must see on the fleet pages: devices, a group with members, and a
    // device certificate (a-0001 enrolled over EST with a one-time token and openssl's CSR).
    dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-admin-'));
    const cls = await service.api<{ id: string }>('POST', '/api/v1/device-classes', {
      name: 'valve',
      vendorName: 'acme',
      modelName: 'valve',
    });
    await service.api('POST', '/api/v1/devices/bulk', {
      devices: ['a-0000', 'a-0001', 'a-0002'].map((name) => ({
        name,
        deviceClassId: cls.id,
        attributes: { site: 'north' },
      })),
    });
    await service.api('POST', '/api/v1/groups', {
      name: 'north-pilot',
      devices: ['a-0000', 'a-0002'],
    });
    await enrollOverEst(service, 'a-0001', dir);
    // The webhook's target: a receiver on loopback (allowed by the tenant setting in the test).
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (c: Buffer) => {
        body += c.toString();
      });
      request.on('end', () => {
        received.push(body);
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    if (receiver) await new Promise((resolve) => receiver.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function signIn(page: Page, username: string, password: string): Promise<void> {
    await signInAt(page, service.base, username, password);
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
  }

  /** The reason text of a control disabled by the roles (PermittedButton or a setting). */
  async function reasonOf(page: Page, control: ReturnType<Page['getByRole']>): Promise<string> {
    const ids = (await control.getAttribute('aria-describedby'))?.split(' ') ?? [];
    const texts = await Promise.all(
      ids.map(async (id) => (await page.locator(`[id="${id}"]`).textContent()) ?? ''),
    );
    return texts.join(' ');
  }

  it('creates a user who can then sign in', async () => {
    const page = await browser.newPage();
    await signIn(page, 'boss', PASSWORD);
    await page.goto(`${service.base}/users`);
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.getByRole('button', { name: 'Create user' }).click();
    const form = page.getByRole('form', { name: 'New user' });
    await form.getByLabel('Username').fill('newop');
    await form.getByLabel('Initial password').fill(NEW_PASSWORD);
    await form.getByLabel('support', { exact: true }).check();
    await form.getByLabel('Must change the password at first sign-in').uncheck();
    await form.getByRole('button', { name: 'Create' }).click();
    const row = page.getByRole('table', { name: 'Users' }).getByRole('row', { name: /newop/ });
    await row.waitFor();
    expect(await row.textContent()).toContain('support');
    const users = await service.api<{ items: { username: string; roles: string[] }[] }>(
      'GET',
      '/api/v1/users',
    );
    expect(users.items.find((u) => u.username === 'newop')?.roles).toEqual(['support']);

    await signIn(page, 'newop', NEW_PASSWORD);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    expect(await page.getByLabel('Signed in as').textContent()).toContain('newop');
    await page.close();
  });

  it('creates an API token whose secret is shown once and works as a bearer token', async () => {
    const page = await browser.newPage();
    await signIn(page, 'boss', PASSWORD);
    await page.goto(`${service.base}/users`);
    const form = page.getByRole('form', { name: 'New API token' });
    await form.getByLabel('Token name').fill('deploy-script');
    await form.getByRole('button', { name: 'Create token' }).click();
    const secret = ((await page.getByTestId('secret-value').textContent()) ?? '').trim();
    expect(secret.length).toBeGreaterThan(20);
    expect(await page.getByTestId('secret-once').textContent()).toContain('shown only this once');
    await page
      .getByRole('table', { name: 'API tokens' })
      .getByRole('row', { name: /deploy-script/ })
      .waitFor();
    await expectAccessible(page, 'users');

    const me = await fetch(`${service.base}/api/v1/me`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { username: string }).username).toBe('boss');

    // Shown once: after a reload the secret is nowhere on the page.
    await page.reload();
    await page.getByRole('table', { name: 'API tokens' }).getByText('deploy-script').waitFor();
    expect(await page.getByTestId('secret-value').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    await page.close();
  });

  it('turns campaign approval off (it sticks) and creates a webhook that gets a test delivery', async () => {
    const page = await browser.newPage();
    await signIn(page, 'boss', PASSWORD);
    await page.goto(`${service.base}/settings`);
    await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
    const approval = page.getByRole('switch', { name: /Approval required/ });
    await expect.poll(() => approval.isChecked()).toBe(true);
    await approval.click();
    await expect.poll(() => approval.isChecked()).toBe(false);
    await expect
      .poll(() => service.api<{ approvalRequired: boolean }>('GET', '/api/v1/campaign-settings'))
      .toEqual({ approvalRequired: false });
    await page.reload();
    await expect
      .poll(() => page.getByRole('switch', { name: /Approval required/ }).isChecked())
      .toBe(false);

    // Loopback targets are refused until the tenant allows them: first the refusal, in words.
    await page.getByRole('button', { name: 'New webhook' }).click();
    const form = page.getByRole('form', { name: 'New webhook' });
    await form.getByLabel('Webhook URL').fill(hookUrl);
    await form.getByLabel('action.failed').check();
    await form.getByRole('button', { name: 'Create webhook' }).click();
    expect(await form.getByRole('alert').textContent()).toContain('WEBHOOK_TARGET_PRIVATE');

    await page.getByRole('switch', { name: /Allow private targets/ }).click();
    await expect
      .poll(() => service.api('GET', '/api/v1/webhooks/settings'))
      .toEqual({ allowPrivateTargets: true });
    await form.getByRole('button', { name: 'Create webhook' }).click();
    await page.getByTestId('secret-value').waitFor();
    const table = page.getByRole('table', { name: 'Webhooks' });
    await table.getByText(hookUrl).waitFor();
    const hooks = await service.api<{ items: { url: string; events: string[] }[] }>(
      'GET',
      '/api/v1/webhooks',
    );
    expect(hooks.items).toMatchObject([{ url: hookUrl, events: ['action.failed'] }]);

    await page.getByRole('button', { name: `Send test to ${hookUrl}` }).click();
    await page.getByText('Test delivery queued.').waitFor();
    const deliveries = page.getByRole('table', { name: 'Recent deliveries' });
    await deliveries.getByRole('cell', { name: 'delivered' }).waitFor({ timeout: 20_000 });
    expect(await deliveries.textContent()).toContain('webhook.test');
    expect(received.some((body) => body.includes('webhook.test'))).toBe(true);
    await expectAccessible(page, 'settings');
    await page.close();
  });

  it('lists these changes in the audit log and filters them', async () => {
    const page = await browser.newPage();
    await signIn(page, 'boss', PASSWORD);
    await page.goto(`${service.base}/audit`);
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    const table = page.getByRole('table', { name: 'Audit entries' });
    for (const action of [
      'user.create',
      'token.create',
      'campaign.settings',
      'webhook.settings',
      'webhook.create',
      'webhook.test',
    ]) {
      await table.getByText(action, { exact: true }).first().waitFor();
    }

    await page.getByLabel('Actor').selectOption({ label: 'boss' });
    await page.getByLabel('Action').fill('user.create');
    await page
      .getByText('1 entry', { exact: true })
      .waitFor()
      .catch(async (error: unknown) => {
        console.log(page.url(), await page.getByTestId('audit-table').textContent());
        throw error;
      });
    const url = new URL(page.url());
    expect(url.searchParams.get('action')).toBe('user.create');
    expect(url.searchParams.get('actor')).toMatch(/.+/);
    const rows = table.locator('tbody tr');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('boss');
    await rows.first().getByRole('button', { name: /Show/ }).click();
    expect(await table.textContent()).toContain('newop');

    // The filters live in the URL: a reload (or a shared link) shows the same entries.
    await page.reload();
    await page.getByText('1 entry', { exact: true }).waitFor();
    expect(await page.getByLabel('Action').inputValue()).toBe('user.create');
    await expectAccessible(page, 'audit');
    await page.close();
  });

  it('an auditor sees everything and can change nothing', async () => {
    const page = await browser.newPage();
    // Every unsafe request the auditor's browser sends, but signing in and out and its own
    // API tokens (which an auditor may manage).
    const unsafe: string[] = [];
    page.on('request', (request) => {
      if (['GET', 'HEAD'].includes(request.method())) return;
      const path = new URL(request.url()).pathname;
      if (['/api/v1/auth/login', '/api/v1/auth/logout'].includes(path)) return;
      if (path.startsWith('/api/v1/tokens')) return;
      unsafe.push(`${request.method()} ${path}`);
    });
    await signIn(page, 'auditor1', PASSWORD);
    const nav = page.getByRole('navigation', { name: 'Main' });
    const open = async (link: string, heading = link) => {
      await nav.getByRole('link', { name: link, exact: true }).click();
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
    };
    /** A control the auditor's roles refuse: disabled, the reason names the permission. */
    const expectRefused = async (
      control: ReturnType<Page['getByRole']>,
      permission: string,
    ): Promise<void> => {
      await control.first().waitFor();
      for (const one of await control.all()) {
        expect(await one.isDisabled()).toBe(true);
        expect(await reasonOf(page, one)).toContain(permission);
        await one.click({ force: true });
      }
    };
    const checked = async (name: string) => {
      // The pointer off the link it clicked: axe judges the page, not a hover state.
      await page.mouse.move(1200, 780);
      await expectAccessible(page, name, false);
    };

    // Overview: the fleet's numbers.
    await open('Overview');
    await page
      .locator('.mantine-Card-root', { has: page.getByText('Devices', { exact: true }) })
      .getByText('3', { exact: true })
      .waitFor();
    await checked('auditor-overview');

    // Devices: listed; a selection shows the bulk actions, every one refused.
    await open('Devices');
    for (const name of ['a-0000', 'a-0001', 'a-0002'])
      await page.getByRole('link', { name }).waitFor();
    await page.getByRole('checkbox', { name: 'Select a-0000' }).check();
    await page.getByTestId('bulk-count').getByText('1 device selected').waitFor();
    for (const name of ['Add tags', 'Remove tags', 'Add to group', 'Decommission'])
      await expectRefused(page.getByRole('button', { name, exact: true }), 'devices:write');
    expect(await page.getByRole('dialog').count()).toBe(0);
    await checked('auditor-devices');

    // A device: its certificate shown, Decommission and Revoke refused.
    await page.getByRole('link', { name: 'a-0001' }).click();
    await page.getByRole('heading', { level: 1, name: 'a-0001' }).waitFor();
    await page.getByRole('table', { name: 'Device certificates' }).getByText('CN=a-0001').waitFor();
    await expectRefused(page.getByRole('button', { name: 'Decommission' }), 'devices:write');
    await expectRefused(page.getByRole('button', { name: 'Revoke' }), 'pki:write');
    expect(await page.getByRole('dialog').count()).toBe(0);
    await checked('auditor-device');

    // Groups: the group with its members; New group and Delete refused.
    await open('Groups');
    await page.getByTestId('group-count-north-pilot').getByText('2', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Show north-pilot' }).click();
    await page.getByTestId('group-members').getByText('a-0000, a-0002').waitFor();
    await expectRefused(page.getByRole('button', { name: 'New group' }), 'devices:write');
    await expectRefused(page.getByRole('button', { name: 'Delete' }), 'devices:write');
    expect(await page.getByRole('dialog').count()).toBe(0);
    expect(await page.getByRole('form').count()).toBe(0);
    await checked('auditor-groups');

    // Releases and campaigns (empty here; web-campaign-live.test.ts shows an auditor seeded
    // ones): the creating buttons refused.
    await open('Releases');
    await expectRefused(page.getByRole('button', { name: 'Upload release' }), 'releases:write');
    await checked('auditor-releases');
    await open('Campaigns');
    await expectRefused(page.getByRole('button', { name: 'New campaign' }), 'campaigns:write');
    expect(new URL(page.url()).pathname).toBe('/campaigns');
    await checked('auditor-campaigns');

    // Certificates: the inventory; Revoke, the enrollment token and the CA import refused.
    await open('Certificates');
    await page
      .getByRole('table', { name: 'Certificates', exact: true })
      .getByText('CN=a-0001')
      .waitFor();
    await expectRefused(page.getByRole('button', { name: 'Revoke' }), 'pki:write');
    await expectRefused(page.getByRole('button', { name: 'Create enrollment token' }), 'pki:write');
    await expectRefused(
      page.getByRole('button', { name: 'Register a manufacturing CA' }),
      'settings:write',
    );
    expect(await page.getByRole('dialog').count()).toBe(0);
    await checked('auditor-certificates');
    await screenshot(page, 'auditor-certificates');

    for (const [link, heading] of [
      ['Audit log', 'Audit log'],
      ['Users', 'Users'],
      ['Settings', 'Settings'],
    ] as const) {
      await open(link, heading);
      await checked(`auditor-${link.toLowerCase().replace(' ', '-')}`);
    }

    // Audit log: read-only by nature (no route changes it); entries are shown.
    await nav.getByRole('link', { name: 'Audit log' }).click();
    await page
      .getByRole('table', { name: 'Audit entries' })
      .getByText('user.create')
      .first()
      .waitFor();

    // Users: every change disabled with the reason; forcing a click opens nothing.
    await nav.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('table', { name: 'Users' }).getByText('newop').waitFor();
    const create = page.getByRole('button', { name: 'Create user' });
    expect(await create.isDisabled()).toBe(true);
    expect(await reasonOf(page, create)).toContain('users:write');
    const edits = page.getByRole('button', { name: /^Edit / });
    // One per account (the service's first admin, boss, auditor1, newop).
    expect(await edits.count()).toBe(
      await page.getByRole('table', { name: 'Users' }).locator('tbody tr').count(),
    );
    expect(await edits.count()).toBe(4);
    for (const edit of await edits.all()) {
      expect(await edit.isDisabled()).toBe(true);
      expect(await reasonOf(page, edit)).toContain('users:write');
    }
    await create.click({ force: true });
    await edits.first().click({ force: true });
    expect(await page.getByRole('form', { name: 'New user' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Save roles' }).count()).toBe(0);
    await screenshot(page, 'auditor-users');

    // Settings: every switch and button disabled with the reason, no delete at all.
    await nav.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('table', { name: 'Webhooks' }).getByText(hookUrl).waitFor();
    for (const [name, permission] of [
      [/Approval required/, 'settings:write'],
      [/Bearer device tokens allowed/, 'settings:write'],
      [/Allow private targets/, 'webhooks:write'],
    ] as const) {
      const control = page.getByRole('switch', { name });
      await expect.poll(() => control.isDisabled()).toBe(true);
      expect(await reasonOf(page, control)).toContain(permission);
    }
    for (const name of ['New webhook', `Send test to ${hookUrl}`]) {
      const button = page.getByRole('button', { name });
      expect(await button.isDisabled()).toBe(true);
      expect(await reasonOf(page, button)).toContain('webhooks:write');
      await button.click({ force: true });
    }
    expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
    await page.getByRole('switch', { name: /Approval required/ }).click({ force: true });
    expect(await page.getByRole('switch', { name: /Approval required/ }).isChecked()).toBe(false);
    expect(await page.getByRole('form', { name: 'New webhook' }).count()).toBe(0);
    await page.getByRole('button', { name: `Show deliveries of ${hookUrl}` }).click();
    await page
      .getByRole('table', { name: 'Recent deliveries' })
      .getByText('webhook.test')
      .waitFor();
    await screenshot(page, 'auditor-settings');

    // Nothing the page did tried a change…
    expect(unsafe).toEqual([]);
    // …and the service refuses one made by hand from the page, with its code.
    const refused = await page.evaluate(async () => {
      const response = await fetch('/api/v1/campaign-settings', {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'x-updraft-client': 'web' },
        body: JSON.stringify({ approvalRequired: true }),
      });
      return { status: response.status, body: await response.text() };
    });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(/"code":"[A-Z_]+"/);
    expect(await service.api('GET', '/api/v1/campaign-settings')).toEqual({
      approvalRequired: false,
    });
    await page.close();
  });

  it('sent no request off the origin and logged no browser errors', () => {
    expect(requestsOffOrigin(browser, service.base)).toEqual([]);
    expect(unexpectedConsoleErrors(browser, /status of 4(00|01|03|22)/)).toEqual([]);
  });
});
