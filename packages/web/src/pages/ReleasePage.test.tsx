// @vitest-environment jsdom
import { cleanup, screen, within } from '@testing-library/react';
import { Route, Routes } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { ReleasePage } from './ReleasePage';
import { ReleasesPage } from './ReleasesPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const DIGEST = 'ab'.repeat(32);
const release = {
  id: 'rel_1',
  deviceClassId: 'dc_1',
  version: '2.1.0',
  sequenceNumber: 7,
  manifestDigest: 'cd'.repeat(32),
  signerKids: ['kid-release-1', 'kid-release-2'],
  components: [
    { id: '814100', imageDigest: DIGEST, imageSize: 123456, encrypted: false, integrated: false },
  ],
  text: { updateDescription: 'Fixes the sensor drift' },
  envelopeSize: 412,
  payloads: [
    {
      componentId: '814100',
      sha256: DIGEST,
      sha1: 'x',
      md5: 'y',
      size: 123456,
      fileName: 'sensor-2.0.bin',
    },
  ],
  createdAt: '2026-12-01T10:00:00.000Z',
  createdBy: 'usr_1',
};
const classes = {
  items: [
    {
      id: 'dc_1',
      name: 'sensor-v2',
      vendorId: 'v',
      classId: 'c',
      vendorName: null,
      modelName: null,
      createdAt: '2026-12-01T10:00:00.000Z',
    },
  ],
};

function renderRelease(roles: string[]) {
  return renderWithApp(
    <Routes>
      <Route path="/releases/:id" element={<ReleasePage />} />
    </Routes>,
    { roles, path: '/releases/rel_1' },
  );
}

describe('ReleasePage', () => {
  it('shows signers by kid, components with digests, text, payloads and delta savings', async () => {
    stubFetch((request) => {
      const path = new URL(request.url).pathname;
      if (path === '/api/v1/device-classes') return json(classes);
      if (path === '/api/v1/releases/rel_1/deltas')
        return json({
          releaseId: 'rel_1',
          anyInstalled: false,
          baseReleaseIds: ['rel_0'],
          patches: [
            {
              baseDigest: 'ee'.repeat(32),
              targetDigest: DIGEST,
              state: 'ready',
              targetSize: 123456,
              patchSize: 23456,
              patchDigest: 'ff'.repeat(32),
              errorCode: null,
            },
          ],
          deliveries: 3,
          bytesSaved: 300000,
        });
      if (path === '/api/v1/releases/rel_1')
        return json({ ...release, deltaDeliveries: 3, deltaBytesSaved: 300000 });
      return problem(404, { code: 'RESOURCE_NOT_FOUND' });
    });
    renderRelease(['auditor']);
    await screen.findByRole('heading', { level: 1, name: 'Release 2.1.0' });
    const signers = screen.getByRole('table', { name: 'Signers' });
    expect(within(signers).getByText('kid-release-1')).toBeTruthy();
    expect(within(signers).getByText('kid-release-2')).toBeTruthy();
    const components = screen.getByRole('table', { name: 'Components' });
    expect(within(components).getByText(DIGEST)).toBeTruthy();
    expect(within(components).getByText('123456 B')).toBeTruthy();
    expect(
      within(screen.getByRole('table', { name: 'Manifest text' })).getByText(
        'Fixes the sensor drift',
      ),
    ).toBeTruthy();
    const payloads = screen.getByRole('table', { name: 'Payloads' });
    expect(within(payloads).getByText('120.6 KiB (123456 B)')).toBeTruthy();
    expect(within(payloads).getByText('sensor-2.0.bin')).toBeTruthy();
    expect(screen.getByTestId('delta-savings').textContent).toContain('3 delta deliveries');
    expect(screen.getByTestId('delta-savings').textContent).toContain('300000 B');
    await screen.findByText('Bases: rel_0');
    const patches = screen.getByRole('table', { name: 'Delta patches' });
    expect(within(patches).getByText('97.7 KiB')).toBeTruthy(); // 123456 − 23456 saved per delivery
    expect(screen.getByText('sensor-v2')).toBeTruthy();
    const download = screen.getByRole('link', { name: /Download the signed envelope/ });
    expect(download.getAttribute('href')).toBe('/api/v1/releases/rel_1/envelope');
  });

  it('shows a missing release with its code', async () => {
    stubFetch(() =>
      problem(404, { code: 'RESOURCE_NOT_FOUND', detail: 'release rel_1 not found' }),
    );
    renderRelease(['auditor']);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('RESOURCE_NOT_FOUND');
  });
});

describe('ReleasesPage', () => {
  it('lists releases with class, size and signers; an auditor sees upload disabled with the reason', async () => {
    const seen = stubFetch((request) => {
      const path = new URL(request.url).pathname;
      if (path === '/api/v1/device-classes') return json(classes);
      if (path === '/api/v1/releases') return json({ items: [release] });
      return problem(404, { code: 'RESOURCE_NOT_FOUND' });
    });
    renderWithApp(<ReleasesPage />, { roles: ['auditor'] });
    await screen.findByRole('heading', { level: 1, name: 'Releases' });
    const table = await screen.findByRole('table', { name: 'Releases' });
    const row = within(table).getByRole('link', { name: '2.1.0' }).closest('tr')!;
    expect(row.textContent).toContain('sensor-v2');
    expect(row.textContent).toContain('121.0 KiB'); // 123456 + 412 envelope bytes
    expect(row.textContent).toContain('kid-release-1');
    const upload = screen.getByRole('button', { name: 'Upload release' });
    expect((upload as HTMLButtonElement).disabled).toBe(true);
    const reason = document.getElementById(upload.getAttribute('aria-describedby')!);
    expect(reason?.textContent).toContain('releases:write');
    expect(seen.find((s) => new URL(s.url).pathname === '/api/v1/releases')?.url).toContain(
      'limit=50',
    );
    expect((screen.getByRole('button', { name: 'Next page' }) as HTMLButtonElement).disabled).toBe(
      true,
    );
  });
});
