// @vitest-environment jsdom
import { cleanup, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { GroupsPage } from './GroupsPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const groups = [
  { id: 'grp_1', name: 'pilot', kind: 'static', filter: null, createdAt: '2026-11-01T00:00:00Z' },
  {
    id: 'grp_2',
    name: 'eu',
    kind: 'dynamic',
    filter: 'device.attributes.region == "eu"',
    createdAt: '2026-11-02T00:00:00Z',
  },
];

function service() {
  return stubFetch(async (request) => {
    const url = new URL(request.url);
    if (url.pathname === '/api/v1/groups' && request.method === 'GET')
      return json({ items: groups });
    if (url.pathname === '/api/v1/groups' && request.method === 'POST') {
      const body = JSON.parse(await request.clone().text());
      if (body.name === 'pilot')
        return problem(409, { code: 'RESOURCE_CONFLICT', detail: 'group pilot exists' });
      return json({ id: 'grp_3', kind: 'dynamic', createdAt: '2026-12-01', ...body }, 201);
    }
    if (url.pathname === '/api/v1/groups/grp_1')
      return json({ ...groups[0], deviceCount: 2, members: ['d-1', 'd-2'] });
    if (url.pathname === '/api/v1/groups/grp_2') return json({ ...groups[1], deviceCount: 40 });
    if (url.pathname === '/api/v1/devices/count') return json({ count: 17 });
    return problem(404, { code: 'HTTP_ROUTE_NOT_FOUND' });
  });
}

describe('GroupsPage', () => {
  it('lists groups with their counts and opens a group’s members', async () => {
    service();
    renderWithApp(<GroupsPage />, { roles: ['support'], path: '/groups' });
    expect(screen.getByRole('heading', { level: 1, name: 'Groups' })).toBeTruthy();
    expect((await screen.findByTestId('group-count-pilot')).textContent).toBe('2');
    expect((await screen.findByTestId('group-count-eu')).textContent).toBe('40');
    await userEvent.click(screen.getByRole('button', { name: 'Show pilot' }));
    expect((await screen.findByTestId('group-members')).textContent).toBe('d-1, d-2');
    await userEvent.click(screen.getByRole('button', { name: 'Show eu' }));
    const link = await screen.findByRole('link', { name: /Open the 40 devices/ });
    expect(decodeURIComponent(link.getAttribute('href') ?? '')).toBe(
      '/devices?filter=device.attributes.region == "eu"',
    );
    // support reads but cannot create or delete.
    expect(screen.getByRole('button', { name: 'New group' })).toHaveProperty('disabled', true);
  });

  it('creates a dynamic group with a live count, and shows a refusal with its code', async () => {
    const seen = service();
    renderWithApp(<GroupsPage />, { roles: ['deployment-admin'], path: '/groups' });
    await userEvent.click(await screen.findByRole('button', { name: 'New group' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.type(within(dialog).getByRole('textbox', { name: /Name/ }), 'pilot');
    await userEvent.click(within(dialog).getByText('Dynamic (a filter)'));
    await userEvent.type(within(dialog).getByRole('textbox', { name: /Filter/ }), 'true');
    expect(await within(dialog).findByText('17 matching devices')).toBeTruthy();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create group' }));
    expect(await within(dialog).findByText('(RESOURCE_CONFLICT)')).toBeTruthy();
    const sent = seen.filter((r) => r.method === 'POST' && r.url.endsWith('/api/v1/groups'));
    expect(JSON.parse(sent[0]?.body ?? '{}')).toEqual({ name: 'pilot', filter: 'true' });
  });
});
