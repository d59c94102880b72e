// @vitest-environment jsdom
import { cleanup, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { AuditPage } from './AuditPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function entry(n: number, overrides: Record<string, unknown> = {}) {
  return {
    id: `aud_${String(n).padStart(4, '0')}`,
    at: '2026-12-01T10:00:00.000Z',
    tenantId: 't1',
    actorType: 'user',
    actorId: 'u_admin',
    action: 'user.create',
    resourceType: 'user',
    resourceId: `u_${n}`,
    change: { username: `user${n}` },
    ip: '10.0.0.1',
    outcome: 'success',
    status: 201,
    requestId: `req-${n}`,
    ...overrides,
  };
}

const USERS = {
  items: [
    {
      id: 'u_admin',
      username: 'alice',
      roles: ['admin'],
      createdAt: '2026-01-01T00:00:00.000Z',
      disabledAt: null,
    },
  ],
};

describe('AuditPage', () => {
  it('sends the filters in the URL to the API and shows entries with actor names and details', async () => {
    const seen = stubFetch((request) => {
      const url = new URL(request.url);
      if (url.pathname === '/api/v1/users') return json(USERS);
      return json({
        items: [entry(1), entry(2, { actorId: null, actorType: 'system', change: null })],
      });
    });
    renderWithApp(<AuditPage />, {
      roles: ['admin'],
      path: '/audit?action=user.create&from=2026-12-01T00:00:00.000Z&type=user',
    });
    const table = await screen.findByRole('table', { name: 'Audit entries' });
    await within(table).findByText('alice');
    expect(within(table).getByText('(system)')).toBeTruthy();
    const audit = seen.filter((s) => new URL(s.url).pathname === '/api/v1/audit');
    const query = new URL(audit.at(-1)?.url ?? '').searchParams;
    expect(query.get('action')).toBe('user.create');
    expect(query.get('from')).toBe('2026-12-01T00:00:00.000Z');
    expect(query.get('resourceType')).toBe('user');
    expect(query.get('limit')).toBe('51');
    expect(query.has('before')).toBe(false);

    const show = within(table).getAllByRole('button', { name: /Show/ })[0];
    await userEvent.click(show!);
    expect(show?.getAttribute('aria-expanded')).toBe('true');
    expect(within(table).getByText(/"username": "user1"/)).toBeTruthy();
    expect(within(table).getByText('req-1')).toBeTruthy();
  });

  it('pages on the server with the id of the last entry shown', async () => {
    const seen = stubFetch((request) => {
      const url = new URL(request.url);
      if (url.pathname === '/api/v1/users') return json(USERS);
      const before = url.searchParams.get('before');
      if (before) return json({ items: [entry(1)] });
      return json({ items: Array.from({ length: 51 }, (_, i) => entry(100 - i)) });
    });
    renderWithApp(<AuditPage />, { roles: ['auditor'], path: '/audit' });
    await screen.findByText('50 entries, older ones on the next page');
    expect(screen.getAllByRole('row')).toHaveLength(51);
    await userEvent.click(screen.getByRole('button', { name: 'Older entries' }));
    await screen.findByText('1 entry');
    const last = new URL(seen.at(-1)?.url ?? '');
    // Entry 51 of the first answer was only the look-ahead: the cursor is the 50th shown.
    expect(last.searchParams.get('before')).toBe('aud_0051');
    expect(screen.getByRole('button', { name: 'Older entries' })).toHaveProperty('disabled', true);
    await userEvent.click(screen.getByRole('button', { name: 'Newer entries' }));
    await screen.findByText('50 entries, older ones on the next page');
  });

  it('shows an API error in words with its code', async () => {
    stubFetch((request) =>
      new URL(request.url).pathname === '/api/v1/users'
        ? json(USERS)
        : problem(400, { code: 'HTTP_VALIDATION_FAILED', detail: 'to is not a real date' }),
    );
    renderWithApp(<AuditPage />, { roles: ['admin'], path: '/audit?to=2026-02-30T00:00:00.000Z' });
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('to is not a real date');
    expect(alert.textContent).toContain('HTTP_VALIDATION_FAILED');
  });

  it('says which permission is missing to a role without audit:read', () => {
    stubFetch(() => json({ items: [] }));
    renderWithApp(<AuditPage />, { roles: ['support'], path: '/audit' });
    expect(screen.getByRole('alert').textContent).toContain('audit:read');
  });
});
