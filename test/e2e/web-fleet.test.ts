import { mkdtemp, rm } from 'node:fs/promises';
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
  signIn as signInAt,
} from './web-browser.js';

/**
 * The fleet pages of the dashboard in Debian's chromium against a spawned service (issue 12):
 * bulk actions on the device list (a filter's every match, a selection), groups, a device's
 * certificate (enrolled over EST with a one-time token) and its revocation on /certificates.
 */
const gate = browserGate('web fleet e2e');

const DEVICES = 120;
const PASSWORD = 'fleet-password-0123456789';

describe.skipIf(gate.skip)('the fleet pages in chromium', { timeout: 60_000 }, () => {
  let service: SpawnedService;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    gate.assertRunnable();
    dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-fleet-'));
    service = await startService();
    browser = await launchBrowser();
    const cls = await service.api<{ id: string }>('POST', '/api/v1/device-classes', {
      name: 'meter',
      vendorName: 'acme',
      modelName: 'meter',
    });
    await service.api('POST', '/api/v1/devices/bulk', {
      devices: Array.from({ length: DEVICES }, (_, n) => ({
        name: `m-${String(n).padStart(4, '0')}`,
        deviceClassId: cls.id,
        attributes: { region: n % 2 === 0 ? 'eu' : 'us' },
      })),
    });
    await service.api('POST', '/api/v1/groups', { name: 'pilot', devices: [] });
    await service.api('POST', '/api/v1/users', {
      username: 'fleetop',
      password: PASSWORD,
      roles: ['admin'],
      mustChangePassword: false,
    });
    // m-0001 enrolls over EST with a one-time token: a CSR made by openssl.
    await enrollOverEst(service, 'm-0001', dir);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function signIn(page: Page): Promise<void> {
    await signInAt(page, service.base, 'fleetop', PASSWORD);
    await page.getByRole('button', { name: 'Log out' }).waitFor();
    await page.goto(`${service.base}/devices`);
    await page.getByRole('heading', { name: 'Devices' }).waitFor();
  }

  const devices = async (filter: string) =>
    (
      await service.api<{
        items: { name: string; tags: string[]; decommissionedAt: string | null }[];
      }>('GET', `/api/v1/devices?limit=500&filter=${encodeURIComponent(filter)}`)
    ).items;

  it('tags every device matching a filter, across pages', async () => {
    const page = await browser.newPage();
    await signIn(page);
    await page.getByRole('textbox', { name: 'Filter' }).fill('device.attributes.region == "eu"');
    await page.getByText('60 devices, page 1 of 2').waitFor();
    await page.getByRole('checkbox', { name: 'Select every device on this page' }).check();
    await page.getByRole('button', { name: 'Select all 60 matching the filter' }).click();
    await page.getByTestId('bulk-count').getByText('60 devices selected').waitFor();
    await page.getByRole('textbox', { name: 'Tags' }).fill('beta');
    await page.getByRole('button', { name: 'Add tags' }).click();
    await page.getByText('60 changed of 60 devices addressed.').waitFor();
    await expectAccessible(page, 'devices-bulk');
    const tagged = await devices('"beta" in device.tags');
    expect(tagged).toHaveLength(60);
    expect(tagged.every((d) => Number(d.name.slice(2)) % 2 === 0)).toBe(true);
    await page.close();
  });

  it('adds a selection to a group, whose page shows the count, and decommissions two after a confirmation', async () => {
    const page = await browser.newPage();
    await signIn(page);
    for (const name of ['m-0003', 'm-0005', 'm-0007'])
      await page.getByRole('checkbox', { name: `Select ${name}` }).check();
    await page.getByTestId('bulk-count').getByText('3 devices selected').waitFor();
    await page.getByPlaceholder('Choose a group').click();
    await page.getByRole('option', { name: 'pilot' }).click();
    await page.getByRole('button', { name: 'Add to group' }).click();
    await page.getByText('3 changed of 3 devices addressed.').waitFor();

    await page.getByRole('button', { name: 'Clear selection' }).click();
    for (const name of ['m-0010', 'm-0011'])
      await page.getByRole('checkbox', { name: `Select ${name}` }).check();
    await page.getByRole('button', { name: 'Decommission' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Decommissioning 2 devices revokes').waitFor();
    await dialog.getByRole('button', { name: 'Decommission 2 devices' }).click();
    await page.getByText('2 changed of 2 devices addressed.').waitFor();
    const gone = await devices('device.name.startsWith("m-001")');
    expect(gone.filter((d) => d.decommissionedAt !== null).map((d) => d.name)).toEqual([
      'm-0010',
      'm-0011',
    ]);

    await page.goto(`${service.base}/groups`);
    await page.getByRole('heading', { name: 'Groups', level: 1 }).waitFor();
    await page.getByTestId('group-count-pilot').getByText('3', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Show pilot' }).click();
    await page.getByTestId('group-members').getByText('m-0003, m-0005, m-0007').waitFor();
    await expectAccessible(page, 'groups');
    await page.close();
  });

  it('shows a device’s certificate on its page, and revokes it on /certificates', async () => {
    const page = await browser.newPage();
    await signIn(page);
    await page.goto(`${service.base}/devices/m-0001`);
    await page.getByRole('heading', { name: 'm-0001' }).waitFor();
    const certs = page.getByRole('table', { name: 'Device certificates' });
    await certs.getByText('active').waitFor();
    expect(await certs.textContent()).toContain('CN=m-0001');
    // (The update timeline with a real update: web-campaign-live.test.ts, screenshot device-timeline.)
    await expectAccessible(page, 'the device page', false);

    await page.goto(`${service.base}/certificates`);
    await page.getByRole('heading', { name: 'Certificates', level: 1 }).waitFor();
    const inventory = page.getByRole('table', { name: 'Certificates', exact: true });
    await inventory.getByText('CN=m-0001').waitFor();
    expect(await page.getByTestId('ca-fingerprint').textContent()).toMatch(/^[0-9a-f:]{64,}$/i);
    await expectAccessible(page, 'certificates');
    await inventory.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke certificate' }).click();
    await inventory.getByText('revoked').waitFor();
    const listed = await service.api<{ items: { state: string }[] }>(
      'GET',
      '/api/v1/pki/certificates?device=m-0001&limit=10',
    );
    expect(listed.items.map((c) => c.state)).toEqual(['revoked']);
    await page.close();
  });
});
