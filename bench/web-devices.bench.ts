// The devices page with 100,000 registered devices: time from navigation to the first page of 50 rows rendered in chromium (issue 12: under 1 s); writes bench/results/web-devices.json.
import { writeFile } from 'node:fs/promises';
import { startService } from '../test/e2e/service-fixture.ts';
import { browserTestsUnavailable, launchBrowser } from '../test/e2e/web-browser.ts';

const DEVICES = Number(process.env.DEVICES ?? 100_000);
const RUNS = 5;
const BATCH = 1000;

const unavailable = browserTestsUnavailable();
if (unavailable) throw new Error(unavailable);
const service = await startService();
const browser = await launchBrowser();
try {
  const cls = await service.api<{ id: string }>('POST', '/api/v1/device-classes', {
    name: 'bench',
    vendorName: 'acme',
    modelName: 'bench',
  });
  const seedStart = performance.now();
  for (let start = 0; start < DEVICES; start += BATCH) {
    await service.api('POST', '/api/v1/devices/bulk', {
      devices: Array.from({ length: Math.min(BATCH, DEVICES - start) }, (_, i) => ({
        name: `dev-${String(start + i).padStart(6, '0')}`,
        deviceClassId: cls.id,
        attributes: { region: (start + i) % 3 === 0 ? 'eu' : 'us' },
      })),
    });
  }
  const seedMs = performance.now() - seedStart;
  const password = 'bench-password-0123456789';
  await service.api('POST', '/api/v1/users', { username: 'bench', password, roles: ['admin'] });

  const page = await browser.newPage();
  await page.goto(`${service.base}/login`);
  await page.getByLabel('Username').fill('bench');
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Signing in lands on the overview.
  await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();

  const rows = page.locator('[data-testid=devices-table] tbody tr');
  const samples: { sort: string; ms: number }[] = [];
  for (const sort of ['name', 'lastSeenAt', 'createdAt']) {
    for (let run = 0; run < RUNS; run++) {
      // A full load each time (new document, no cached answers): what an operator opening the page sees.
      const t0 = performance.now();
      await page.goto(`${service.base}/devices?sort=${sort}&order=desc&page=${run + 100}`);
      await page.getByText(`${DEVICES.toLocaleString('en')} devices, page`).waitFor();
      await rows.nth(49).waitFor();
      samples.push({ sort, ms: Math.round(performance.now() - t0) });
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const result = {
    devices: DEVICES,
    seedSeconds: Math.round(seedMs / 100) / 10,
    firstPageRenderedMs: {
      median: median(samples.map((s) => s.ms)),
      max: Math.max(...samples.map((s) => s.ms)),
    },
    samples,
    note: 'navigation (full document load, bundle from the service, GET /api/v1/me, GET /api/v1/devices) to 50 rows in the DOM; chromium headless on this machine, SQLite',
  };
  console.log(JSON.stringify(result, null, 2));
  await writeFile(
    new URL('./results/web-devices.json', import.meta.url),
    `${JSON.stringify(result, null, 2)}\n`,
  );
} finally {
  await browser.close();
  await service.close();
}
