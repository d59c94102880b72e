// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { OVERVIEW_REFRESH_MS, OverviewPage } from './OverviewPage';

afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const zero = {
  scheduled: 0,
  pending: 0,
  downloading: 0,
  installing: 0,
  confirming: 0,
  succeeded: 0,
  failed: 0,
  rejected: 0,
  cancelled: 0,
  skipped: 0,
};

const overview = {
  at: '2026-12-03T16:00:05.000Z',
  devices: {
    total: 1200,
    onlineLastHour: 300,
    onlineLastDay: 900,
    byClass: [
      {
        deviceClassId: 'cls_1',
        name: 'thermo-v2',
        devices: 1000,
        onlineLastHour: 250,
        onlineLastDay: 800,
      },
      {
        deviceClassId: 'cls_2',
        name: 'lock-v1',
        devices: 200,
        onlineLastHour: 50,
        onlineLastDay: 100,
      },
    ],
    byVersion: {
      items: [
        { deviceClassId: 'cls_1', className: 'thermo-v2', version: '3.7.0', devices: 700 },
        { deviceClassId: 'cls_1', className: 'thermo-v2', version: '3.6.2', devices: 250 },
      ],
      other: 40,
      unreported: 210,
    },
  },
  campaigns: {
    total: 1,
    items: [
      {
        id: 'cmp_1',
        name: 'thermo 3.7 EU',
        state: 'paused',
        stateReason: 'error-threshold',
        releaseId: 'rel_1',
        releaseVersion: '3.7.0',
        totals: { ...zero, targets: 10, succeeded: 5, downloading: 2, failed: 2, rejected: 1 },
      },
    ],
  },
  failures: {
    since: '2026-12-02T16:00:05.000Z',
    total: 4,
    items: [
      { code: 'AGENT_HEALTH_CHECK_FAILED', count: 3, exampleMessage: 'watchdog' },
      { code: 'VENDOR_SPECIFIC', count: 1, exampleMessage: 'sensor calibration lost' },
    ],
  },
  deltas: { downloads: 12, bytesSaved: 3_500_000_000 },
};

describe('OverviewPage', () => {
  it('shows the fleet numbers, the charts as tables, campaign progress and failures in words', async () => {
    const seen = stubFetch(() => json(overview));
    renderWithApp(<OverviewPage />, { roles: ['admin'] });
    expect(await screen.findByRole('heading', { level: 1, name: 'Overview' })).toBeTruthy();
    expect(await screen.findByText('1,200')).toBeTruthy();
    expect(screen.getByText('300')).toBeTruthy();
    expect(screen.getByText('25 % of the fleet')).toBeTruthy();
    expect(screen.getByText('900')).toBeTruthy();
    expect(screen.getByText('3.26 GiB')).toBeTruthy();
    expect(screen.getByText('12 delta downloads')).toBeTruthy();
    expect(seen[0]?.url).toMatch(/\/api\/v1\/overview$/);

    // The charts' text alternative: a table per chart with every number.
    const versions = screen.getByRole('table', { name: 'Devices by installed version' });
    const versionRows = within(versions)
      .getAllByRole('row')
      .map((r) => r.textContent);
    expect(versionRows).toEqual([
      'Class and versionDevices',
      'thermo-v2 3.7.0700',
      'thermo-v2 3.6.2250',
      'other versions40',
      'no version reported210',
    ]);
    const classes = screen.getByRole('table', { name: 'Devices by class' });
    expect(
      within(classes)
        .getAllByRole('row')
        .map((r) => r.textContent),
    ).toEqual(['Device classDevices', 'thermo-v21000', 'lock-v1200']);

    const link = screen.getByRole('link', { name: 'thermo 3.7 EU' });
    expect(link.getAttribute('href')).toBe('/campaigns/cmp_1');
    expect(screen.getByText('paused (error-threshold)')).toBeTruthy();
    const done = screen.getByRole('progressbar', { name: 'thermo 3.7 EU: succeeded' });
    expect(done.getAttribute('aria-valuenow')).toBe('50');
    const bad = screen.getByRole('progressbar', { name: 'thermo 3.7 EU: failed or rejected' });
    expect(bad.getAttribute('aria-valuenow')).toBe('30');
    expect(
      screen.getByText('Release 3.7.0: 5 of 10 succeeded, 2 in progress, 3 failed'),
    ).toBeTruthy();

    const failures = screen.getByRole('table', { name: 'Failures in the last 24 h by reason' });
    const failureRows = within(failures)
      .getAllByRole('row')
      .map((r) => r.textContent);
    expect(failureRows).toEqual([
      'CodeReasonCount',
      'AGENT_HEALTH_CHECK_FAILEDThe new image booted but failed its health check; reverted.3',
      'VENDOR_SPECIFICsensor calibration lost1',
      'All failures4',
    ]);
  });

  it('says which permission a part needs when the roles leave it out', async () => {
    stubFetch(() => json({ ...overview, campaigns: null, failures: null, deltas: null }));
    renderWithApp(<OverviewPage />, { roles: ['deployment-admin'] });
    expect(await screen.findByText('1,200')).toBeTruthy();
    expect(screen.getByText('campaigns:read')).toBeTruthy();
    expect(screen.getByText('actions:read')).toBeTruthy();
    expect(screen.getByText('needs releases:read')).toBeTruthy();
    expect(screen.queryByRole('link', { name: 'thermo 3.7 EU' })).toBeNull();
  });

  it('shows an API error with its code', async () => {
    stubFetch(() => problem(503, { code: 'SERVICE_UNAVAILABLE', title: 'Database unavailable' }));
    renderWithApp(<OverviewPage />, { roles: ['admin'] });
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Database unavailable');
    expect(alert.textContent).toContain('(SERVICE_UNAVAILABLE)');
  });

  it('asks again every 15 s', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let online = 300;
    const seen = stubFetch(() =>
      json({ ...overview, devices: { ...overview.devices, onlineLastHour: online } }),
    );
    renderWithApp(<OverviewPage />, { roles: ['admin'] });
    expect(await screen.findByText('300')).toBeTruthy();
    online = 301;
    await vi.advanceTimersByTimeAsync(OVERVIEW_REFRESH_MS);
    await waitFor(() => expect(seen.length).toBe(2));
    expect(await screen.findByText('301')).toBeTruthy();
  });
});
