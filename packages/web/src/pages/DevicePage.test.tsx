// @vitest-environment jsdom
import { cleanup, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, renderWithApp, stubFetch } from '../testing/render';
import { DevicePage } from './DevicePage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const action = {
  id: 'act_1',
  deviceId: 'dev_1',
  releaseId: 'rel_1',
  state: 'failure',
  cancelRequested: false,
  type: 'forced',
  downloadOnly: false,
  forceAfter: null,
  maintenanceWindow: null,
  recurringWindow: null,
  open: false,
  createdAt: '2026-12-01T10:00:00.000Z',
  createdBy: null,
  updatedAt: '2026-12-01T10:05:00.000Z',
};

const certificate = {
  id: 'crt_1',
  deviceId: 'dev_1',
  serial: '0a1b2c',
  fingerprint: 'f0'.repeat(32),
  spkiFingerprint: 'e1'.repeat(32),
  subject: 'CN=thermo-1',
  notBefore: '2026-11-01T00:00:00.000Z',
  notAfter: '2027-11-01T00:00:00.000Z',
  issuedAt: '2026-11-01T00:00:00.000Z',
  issuedVia: 'enrollment-token',
  state: 'active',
  supersededAt: null,
  revokedAt: null,
  revocationReason: null,
  certificatePem: '-----BEGIN CERTIFICATE-----',
};
let certificates: unknown[] = [];

describe('DevicePage', () => {
  it('shows attributes, components and each action report with its error code', async () => {
    const seen = stubFetch((request) => {
      const path = new URL(request.url).pathname;
      if (path === '/api/v1/actions/act_1') {
        return json({
          ...action,
          events: [
            {
              at: '2026-12-01T10:01:00.000Z',
              source: 'device',
              status: 'downloading',
              progress: 40,
              code: null,
              message: null,
            },
            {
              at: '2026-12-01T10:05:00.000Z',
              source: 'device',
              status: 'failure',
              progress: null,
              code: 'AGENT_DIGEST_MISMATCH',
              message: 'payload digest differs',
            },
          ],
        });
      }
      if (path === '/api/v1/pki/certificates')
        return json({ items: certificates, nextCursor: null });
      return json({
        id: 'dev_1',
        name: 'thermo-1',
        deviceClassId: 'cls_1',
        createdAt: '2026-11-01T00:00:00.000Z',
        lastSeenAt: null,
        decommissionedAt: null,
        tags: ['beta'],
        attributes: { reported: { fw: '1.2.0' }, custom: { region: 'eu' } },
        components: [
          {
            id: 'app',
            version: '1.2.0',
            sequenceNumber: 7,
            digest: 'ab'.repeat(32),
            updatedAt: '2026-11-02T00:00:00.000Z',
          },
        ],
        actions: [action],
      });
    });
    renderWithApp(
      <Routes>
        <Route path="/devices/:id" element={<DevicePage />} />
      </Routes>,
      { roles: ['support'], path: '/devices/dev_1' },
    );
    expect(await screen.findByRole('heading', { name: 'thermo-1' })).toBeTruthy();
    expect(
      within(screen.getByRole('table', { name: 'Reported attributes' })).getByText('fw'),
    ).toBeTruthy();
    expect(
      within(screen.getByRole('table', { name: 'Components' })).getByText('1.2.0'),
    ).toBeTruthy();
    expect(new URL(seen[0]!.url).pathname).toBe('/api/v1/devices/dev_1');

    await userEvent.click(screen.getByRole('button', { name: 'Show reports' }));
    const reports = await screen.findByRole('table', { name: 'Reports of action act_1' });
    expect(within(reports).getByText('AGENT_DIGEST_MISMATCH')).toBeTruthy();
    expect(within(reports).getByText('40%')).toBeTruthy();
    // support may read but not change: the decommission button says why it is disabled.
    expect(screen.getByRole('button', { name: 'Decommission' })).toHaveProperty('disabled', true);
    // The timeline shows the release, its final state and the failing report's code.
    const timeline = screen.getByRole('list', { name: 'Reports on release rel_1' });
    expect(within(timeline).getByText('AGENT_DIGEST_MISMATCH')).toBeTruthy();
    expect(screen.getByText('Release rel_1')).toBeTruthy();
    expect(screen.getByText('No certificate issued', { exact: false })).toBeTruthy();
  });

  it('shows the certificate and revokes it after a confirmation (pki:write)', async () => {
    certificates = [certificate];
    const seen = stubFetch((request) => {
      const path = new URL(request.url).pathname;
      if (path === '/api/v1/pki/certificates')
        return json({ items: certificates, nextCursor: null });
      if (path === '/api/v1/pki/certificates/crt_1/revoke') {
        certificates = [{ ...certificate, state: 'revoked', revocationReason: 'unspecified' }];
        return json(certificates[0]);
      }
      return json({
        id: 'dev_1',
        name: 'thermo-1',
        deviceClassId: 'cls_1',
        createdAt: '2026-11-01T00:00:00.000Z',
        lastSeenAt: null,
        decommissionedAt: null,
        tags: [],
        attributes: { reported: {}, custom: {} },
        components: [],
        actions: [],
      });
    });
    renderWithApp(
      <Routes>
        <Route path="/devices/:id" element={<DevicePage />} />
      </Routes>,
      { roles: ['deployment-admin'], path: '/devices/dev_1' },
    );
    const table = await screen.findByRole('table', { name: 'Device certificates' });
    expect(within(table).getByText('0a1b2c')).toBeTruthy();
    expect(within(table).getByText('CN=thermo-1')).toBeTruthy();
    expect(within(table).getByText('2027-11-01')).toBeTruthy();
    await userEvent.click(within(table).getByRole('button', { name: 'Revoke' }));
    await userEvent.click(await screen.findByRole('button', { name: 'Revoke certificate' }));
    expect(await within(table).findByText('revoked')).toBeTruthy();
    expect(
      seen.some((r) => r.method === 'POST' && r.url.endsWith('/pki/certificates/crt_1/revoke')),
    ).toBe(true);
    expect(
      new URL(seen.find((r) => r.url.includes('/pki/certificates?'))!.url).searchParams.get(
        'device',
      ),
    ).toBe('dev_1');
  });
});
