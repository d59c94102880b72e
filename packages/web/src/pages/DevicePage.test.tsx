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
  state: 'failed',
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
              status: 'failed',
              progress: null,
              code: 'AGENT_DIGEST_MISMATCH',
              message: 'payload digest differs',
            },
          ],
        });
      }
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
  });
});
