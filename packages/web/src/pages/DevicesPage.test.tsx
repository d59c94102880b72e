// @vitest-environment jsdom
import { cleanup, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { DevicesPage } from './DevicesPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const device = (i: number) => ({
  id: `dev_${i}`,
  name: `d-${i}`,
  deviceClassId: 'cls_1',
  createdAt: '2026-11-01T00:00:00.000Z',
  lastSeenAt: null,
  decommissionedAt: null,
  tags: [],
});

function fleet(total: number) {
  return stubFetch(async (request) => {
    const url = new URL(request.url);
    if (url.pathname === '/api/v1/devices/count') return json({ count: total });
    if (url.pathname === '/api/v1/groups')
      return json({
        items: [
          { id: 'grp_1', name: 'pilot', kind: 'static', filter: null, createdAt: '2026-11-01' },
          { id: 'grp_2', name: 'eu', kind: 'dynamic', filter: 'true', createdAt: '2026-11-01' },
        ],
      });
    if (url.pathname === '/api/v1/devices/bulk-actions') {
      const body = JSON.parse(await request.clone().text());
      if (body.action === 'decommission')
        return problem(409, { code: 'RESOURCE_CONFLICT', detail: 'already decommissioned' });
      return json({ action: body.action, matched: body.deviceIds?.length ?? total, changed: 3 });
    }
    const items = Array.from({ length: Math.min(50, total) }, (_, i) => device(i));
    return json({ items, total });
  });
}

describe('DevicesPage bulk actions', () => {
  it('tags the chosen rows by id', async () => {
    const seen = fleet(3);
    renderWithApp(<DevicesPage />, { roles: ['deployment-admin'], path: '/devices' });
    await userEvent.click(await screen.findByRole('checkbox', { name: 'Select d-0' }));
    await userEvent.click(screen.getByRole('checkbox', { name: 'Select d-2' }));
    expect(screen.getByTestId('bulk-count').textContent).toContain('2 devices selected');
    await userEvent.type(screen.getByRole('textbox', { name: /Tags/ }), 'beta, eu');
    await userEvent.click(screen.getByRole('button', { name: 'Add tags' }));
    expect(await screen.findByText('3 changed of 2 devices addressed.')).toBeTruthy();
    const sent = seen.find((r) => r.url.endsWith('/bulk-actions'));
    expect(JSON.parse(sent?.body ?? '{}')).toEqual({
      action: 'add-tags',
      tags: ['beta', 'eu'],
      deviceIds: ['dev_0', 'dev_2'],
    });
  });

  it('selects all matching the filter and decommissions after a confirmation with the count; errors show their code', async () => {
    const seen = fleet(120);
    renderWithApp(<DevicesPage />, {
      roles: ['deployment-admin'],
      path: '/devices?filter=%22beta%22%20in%20device.tags',
    });
    await userEvent.click(
      await screen.findByRole('checkbox', { name: 'Select every device on this page' }),
    );
    expect(screen.getByTestId('bulk-count').textContent).toContain('50 devices selected');
    await userEvent.click(
      screen.getByRole('button', { name: 'Select all 120 matching the filter' }),
    );
    expect(screen.getByTestId('bulk-count').textContent).toContain('120 devices selected');
    await userEvent.click(screen.getByRole('button', { name: 'Decommission' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Decommission 120 devices' }));
    expect(await within(dialog).findByText('(RESOURCE_CONFLICT)')).toBeTruthy();
    const sent = seen.find((r) => r.url.endsWith('/bulk-actions'));
    expect(JSON.parse(sent?.body ?? '{}')).toEqual({
      action: 'decommission',
      filter: '"beta" in device.tags',
    });
  });

  it('offers only static groups, and disables actions the roles do not allow', async () => {
    fleet(2);
    renderWithApp(<DevicesPage />, { roles: ['support'], path: '/devices' });
    await userEvent.click(await screen.findByRole('checkbox', { name: 'Select d-1' }));
    expect(screen.getByRole('button', { name: 'Decommission' })).toHaveProperty('disabled', true);
    expect(screen.getByRole('button', { name: 'Add to group' })).toHaveProperty('disabled', true);
    await userEvent.click(screen.getByPlaceholderText('Choose a group'));
    expect(await screen.findByRole('option', { name: 'pilot', hidden: true })).toBeTruthy();
    expect(screen.queryByRole('option', { name: 'eu', hidden: true })).toBeNull();
  });
});
