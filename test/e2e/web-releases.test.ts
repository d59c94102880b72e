import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentIdFromHex, createEnvelope, createKeySigner, signEnvelope } from '@updraft/core';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpawnedService, startService } from './service-fixture.js';
import {
  type Browser,
  browserGate,
  expectAccessible,
  launchBrowser,
  requestsOffOrigin,
  signIn as signInAt,
} from './web-browser.js';

/**
 * The releases pages in chromium against a spawned service (issue 12): a REAL signed SUIT
 * envelope and a 8 MiB payload uploaded through the browser's file inputs (resumable chunked
 * upload, progress observed mid-way), the release page with the signer's kid, the component
 * digest and the payload; an auditor sees "Upload release" disabled with the reason.
 */
const gate = browserGate('web releases e2e');

const PASSWORD = 'releases-password-0123456789';
const MAIN = '814100';
const PAYLOAD_BYTES = 8 * 1024 * 1024;

describe.skipIf(gate.skip)('the releases pages in chromium', { timeout: 180_000 }, () => {
  let service: SpawnedService;
  let browser: Browser;
  let dir: string;
  let kid: string;
  let digest: string;
  const vendorId = randomUUID();
  const classId = randomUUID();
  const releaseKey = generateKeyPairSync('ed25519');

  beforeAll(async () => {
    gate.assertRunnable();
    dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-web-releases-'));
    service = await startService();
    browser = await launchBrowser();
    const cls = await service.api<{ id: string }>('POST', '/api/v1/device-classes', {
      name: 'sensor-v2',
      vendorId,
      classId,
    });
    kid = (
      await service.api<{ kid: string }>('POST', `/api/v1/device-classes/${cls.id}/keys`, {
        format: 'pem',
        key: releaseKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      })
    ).kid;

    // A real release: the payload, and an envelope built and signed with core.
    const image = randomBytes(PAYLOAD_BYTES);
    digest = createHash('sha256').update(image).digest('hex');
    const unsigned = createEnvelope({
      vendorId,
      classId,
      sequenceNumber: 3,
      components: [
        {
          id: MAIN,
          digest: new Uint8Array(Buffer.from(digest, 'hex')),
          size: image.length,
          uri: 'https://fw.example/main-3.0.0.bin',
        },
      ],
      text: {
        en: {
          fields: { updateDescription: 'browser-uploaded release' },
          components: [{ id: componentIdFromHex(MAIN), fields: { componentVersion: '3.0.0' } }],
        },
      },
    });
    const envelope = await signEnvelope(unsigned, createKeySigner(releaseKey.privateKey));
    await writeFile(join(dir, 'release.suit'), envelope);
    await writeFile(join(dir, 'main.bin'), image);

    for (const [username, roles] of [
      ['releaser', ['admin']],
      ['auditor1', ['auditor']],
    ] as const) {
      await service.api('POST', '/api/v1/users', {
        username,
        password: PASSWORD,
        roles,
        mustChangePassword: false,
      });
    }
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function signIn(page: Page, username: string): Promise<void> {
    await signInAt(page, service.base, username, PASSWORD, '/releases');
    await page.getByRole('heading', { level: 1, name: 'Releases' }).waitFor();
  }

  async function choose(page: Page, label: string, file: string): Promise<void> {
    const chooser = page.waitForEvent('filechooser');
    await page.getByRole('button', { name: label }).click();
    await (await chooser).setFiles(join(dir, file));
  }

  it('uploads a release with progress', async () => {
    const page = await browser.newPage();
    await signIn(page, 'releaser');
    await page.getByText('No releases.').waitFor();
    await page.getByRole('button', { name: 'Upload release' }).click();
    await page.getByRole('combobox', { name: 'Device class' }).selectOption({
      label: 'sensor-v2',
    });
    await choose(page, 'Signed envelope (SUIT)', 'release.suit');
    await choose(page, 'Payloads', 'main.bin');
    const bar = page.getByRole('progressbar', { name: 'Upload of main.bin' });
    await bar.waitFor({ state: 'attached' }); // 0%: a zero-width section
    // Every value the bar takes, recorded in the page as it changes (no sampling gaps).
    await bar.evaluate((el) => {
      const values: string[] = [];
      (globalThis as unknown as { seenProgress: string[] }).seenProgress = values;
      new MutationObserver(() => values.push(el.getAttribute('aria-valuenow') ?? '')).observe(el, {
        attributes: true,
        attributeFilter: ['aria-valuenow'],
      });
    });
    // Optionally slow the uplink (THROTTLE=<MiB/s>) to watch the bar on a slow link.
    const cdp = process.env.THROTTLE ? await browser.context.newCDPSession(page) : undefined;
    await cdp?.send('Network.enable');
    await cdp?.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: Number(process.env.THROTTLE) * 1024 * 1024,
    });
    const t0 = Date.now();
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    // Mid-way: the bar and the byte count show a value strictly between 0 and 100.
    await page.waitForFunction(
      () => {
        const el = document.querySelector('[role=progressbar][aria-label="Upload of main.bin"]');
        const v = Number(el?.getAttribute('aria-valuenow'));
        return v > 0 && v < 100;
      },
      undefined,
      { polling: 'raf', timeout: 60_000 },
    );
    const midwayMs = Date.now() - t0;
    const midway = Number(await bar.getAttribute('aria-valuenow'));
    expect(midway).toBeGreaterThan(0);
    expect(midway).toBeLessThan(100);

    await page.getByRole('heading', { level: 1, name: 'Release 3.0.0' }).waitFor({
      timeout: 150_000,
    });
    console.log(
      `browser upload of ${PAYLOAD_BYTES} B: mid-way after ${midwayMs} ms, release page after ${Date.now() - t0} ms`,
    );
    await cdp?.detach();
    const seen = (await page.evaluate(
      () => (globalThis as unknown as { seenProgress: string[] }).seenProgress,
    )) as string[];
    const values = seen.map(Number);
    expect(
      values.some((v) => v > 0 && v < 100),
      `progress values ${seen}`,
    ).toBe(true);
    expect(values.at(-1)).toBe(100);
    expect(values).toEqual([...values].sort((a, b) => a - b));

    // The release page: the signer's kid, the component digest, the payload.
    await page.getByRole('table', { name: 'Signers' }).getByText(kid).waitFor();
    await page.getByRole('table', { name: 'Components' }).getByText(digest).waitFor();
    const payloads = page.getByRole('table', { name: 'Payloads' });
    await payloads.getByText(digest).waitFor();
    await payloads.getByText(`(${PAYLOAD_BYTES} B)`).waitFor();
    await page
      .getByRole('table', { name: 'Manifest text' })
      .getByText('browser-uploaded release')
      .waitFor();
    await expectAccessible(page, 'the release page', 'release');

    // What the service stored is what the browser sent.
    const releaseId = new URL(page.url()).pathname.split('/').at(-1)!;
    const stored = await service.api<{ payloads: { sha256: string; size: number }[] }>(
      'GET',
      `/api/v1/releases/${releaseId}`,
    );
    expect(stored.payloads).toMatchObject([{ sha256: digest, size: PAYLOAD_BYTES }]);

    await page.getByRole('link', { name: '← Releases' }).click();
    const row = page.getByRole('table', { name: 'Releases' }).getByRole('row', { name: /3\.0\.0/ });
    await row.waitFor();
    expect(await row.textContent()).toContain('sensor-v2');
    expect(await row.textContent()).toContain(kid);
    await expectAccessible(page, 'the releases page', 'releases');
    expect(requestsOffOrigin(browser, service.base)).toEqual([]);
    await page.close();
  });

  it('shows an auditor the releases with "Upload release" disabled and the reason', async () => {
    const page = await browser.newPage();
    await signIn(page, 'auditor1');
    await page.getByRole('table', { name: 'Releases' }).getByText('3.0.0').waitFor();
    const upload = page.getByRole('button', { name: 'Upload release' });
    expect(await upload.isDisabled()).toBe(true);
    const reason = await upload.getAttribute('aria-describedby');
    expect(await page.locator(`[id="${reason}"]`).textContent()).toContain('releases:write');
    await page.getByRole('link', { name: '3.0.0' }).click();
    await page.getByRole('table', { name: 'Signers' }).getByText(kid).waitFor();
    await expectAccessible(page, 'the auditor release page', false);
    await page.close();
  });
});
