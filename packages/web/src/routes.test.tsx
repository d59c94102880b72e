// @vitest-environment jsdom
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, render, screen } from '@testing-library/react';
import { createMemoryRouter, RouterProvider } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { routes } from './routes';
import { json, problem, stubFetch } from './testing/render';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function renderAt(path: string) {
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  render(
    <MantineProvider>
      <QueryClientProvider
        client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}
      >
        <RouterProvider router={router} />
      </QueryClientProvider>
    </MantineProvider>,
  );
  return router;
}

const me = (overrides: Record<string, unknown>) => ({
  id: 'u1',
  username: 'alice',
  roles: ['admin'],
  createdAt: '2026-01-01T00:00:00.000Z',
  disabledAt: null,
  passwordChangeRequired: false,
  ...overrides,
});

describe('routes', () => {
  it('sends a signed-out visitor to /login, remembering where they were going', async () => {
    stubFetch(() => problem(401, { code: 'AUTH_REQUIRED', detail: 'Sign in.' }));
    const router = renderAt('/devices?filter=x');
    expect(await screen.findByRole('button', { name: 'Sign in' })).toBeTruthy();
    expect(router.state.location.pathname).toBe('/login');
    expect(new URLSearchParams(router.state.location.search).get('next')).toBe('/devices?filter=x');
  });

  it('asks for a new password before anything else when the service requires it', async () => {
    stubFetch(() => json(me({ passwordChangeRequired: true })));
    renderAt('/devices');
    expect(await screen.findByRole('heading', { name: 'Change your password' })).toBeTruthy();
    expect(screen.queryByRole('navigation')).toBeNull();
  });

  it('shows the shell with the user, their roles and only the pages their roles may read', async () => {
    stubFetch((request) =>
      new URL(request.url).pathname === '/api/v1/me'
        ? json(me({ roles: ['support'] }))
        : json({ items: [], total: 0, limit: 50, offset: 0 }),
    );
    renderAt('/devices');
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    // support: devices, releases and certificates to read; no campaigns, audit, users or settings.
    expect([...nav.querySelectorAll('a')].map((a) => a.textContent)).toEqual([
      'Overview',
      'Devices',
      'Groups',
      'Releases',
      'Certificates',
    ]);
    expect(screen.getByText('alice')).toBeTruthy();
    expect(screen.getByText('support')).toBeTruthy();
    expect(await screen.findByRole('heading', { name: 'Devices' })).toBeTruthy();
    // Only the current page's link is marked (Mantine colours it by aria-current); the
    // overview link matches its path exactly, not every path below '/'.
    expect([...nav.querySelectorAll('a[aria-current="page"]')].map((a) => a.textContent)).toEqual([
      'Devices',
    ]);
    // theme.css sets the active link's colours on Mantine's static class.
    expect(nav.querySelector('a[aria-current="page"]')?.classList).toContain(
      'mantine-NavLink-root',
    );
  });
});
