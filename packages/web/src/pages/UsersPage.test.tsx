// @vitest-environment jsdom
import { cleanup, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { UsersPage } from './UsersPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const USERS = {
  items: [
    {
      id: 'u1',
      username: 'alice',
      roles: ['admin'],
      createdAt: '2026-01-01T00:00:00.000Z',
      disabledAt: null,
    },
    {
      id: 'u2',
      username: 'bob',
      roles: ['auditor'],
      createdAt: '2026-01-02T00:00:00.000Z',
      disabledAt: null,
    },
  ],
};
const TOKEN = {
  id: 'tok_1',
  kind: 'api',
  name: 'ci',
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: null,
  revokedAt: null,
};

function answer(extra?: (request: Request) => Response | undefined) {
  return (request: Request) => {
    const custom = extra?.(request);
    if (custom) return custom;
    const path = new URL(request.url).pathname;
    if (path === '/api/v1/users') return json(USERS);
    if (path === '/api/v1/tokens')
      return json({ items: [TOKEN, { ...TOKEN, id: 'tok_s', kind: 'session', name: 'login' }] });
    return json({});
  };
}

describe('UsersPage', () => {
  it('lists users with their roles and the role table', async () => {
    stubFetch(answer());
    renderWithApp(<UsersPage />, { roles: ['admin'] });
    expect(screen.getByRole('heading', { level: 1, name: 'Users' })).toBeTruthy();
    const users = await screen.findByRole('table', { name: 'Users' });
    await within(users).findByText('alice');
    expect(within(within(users).getByText('bob').closest('tr')!).getByText('auditor')).toBeTruthy();
    const roles = screen.getByRole('table', { name: 'Roles' });
    const approver = within(roles).getByText('approver').closest('tr')!;
    expect(approver.textContent).toContain('campaigns:approve');
    expect(approver.textContent).not.toContain('campaigns:write');
    // Login sessions are not API tokens: only the API token is listed.
    const tokens = await screen.findByRole('table', { name: 'API tokens' });
    await within(tokens).findByText('ci');
    expect(within(tokens).queryByText('login')).toBeNull();
  });

  it('creates a user with the exact body and shows a refusal with its code', async () => {
    let refuse = true;
    const seen = stubFetch(
      answer((request) => {
        if (request.method !== 'POST') return undefined;
        if (refuse) return problem(409, { code: 'USER_EXISTS', detail: 'carol exists already' });
        return json({ ...USERS.items[1], id: 'u3', username: 'carol' }, 201);
      }),
    );
    renderWithApp(<UsersPage />, { roles: ['admin'] });
    await userEvent.click(await screen.findByRole('button', { name: 'Create user' }));
    const form = screen.getByRole('form', { name: 'New user' });
    await userEvent.type(within(form).getByLabelText(/Username/), 'carol');
    await userEvent.type(within(form).getByLabelText(/Initial password/), 'initial-password-123');
    await userEvent.click(within(form).getByLabelText('rollout-admin'));
    await userEvent.click(within(form).getByLabelText('approver'));
    await userEvent.click(within(form).getByRole('button', { name: 'Create' }));
    const alert = await within(form).findByRole('alert');
    expect(alert.textContent).toContain('carol exists already');
    expect(alert.textContent).toContain('USER_EXISTS');
    const post = seen.find((s) => s.method === 'POST');
    expect(post?.url).toMatch(/\/api\/v1\/users$/);
    expect(JSON.parse(post?.body ?? '')).toEqual({
      username: 'carol',
      password: 'initial-password-123',
      roles: ['rollout-admin', 'approver'],
      mustChangePassword: true,
    });
    refuse = false;
    await userEvent.click(within(form).getByRole('button', { name: 'Create' }));
    await vi.waitFor(() => expect(screen.queryByRole('form', { name: 'New user' })).toBeNull());
  });

  it('changes roles and resets a password', async () => {
    const seen = stubFetch(
      answer((request) =>
        request.method === 'PUT' && request.url.endsWith('/password')
          ? new Response(null, { status: 204 })
          : request.method === 'PUT'
            ? json({ ...USERS.items[1], roles: ['auditor', 'support'] })
            : undefined,
      ),
    );
    renderWithApp(<UsersPage />, { roles: ['admin'] });
    await userEvent.click(await screen.findByRole('button', { name: 'Edit bob' }));
    const card = screen.getByRole('region', { name: 'Edit bob' });
    await userEvent.click(within(card).getByLabelText('support'));
    await userEvent.click(within(card).getByRole('button', { name: 'Save roles' }));
    await within(card).findByText('Roles saved.');
    const roles = seen.find((s) => s.method === 'PUT');
    expect(roles?.url).toMatch(/\/api\/v1\/users\/u2\/roles$/);
    expect(JSON.parse(roles?.body ?? '')).toEqual({ roles: ['auditor', 'support'] });
    await userEvent.type(within(card).getByLabelText('New password'), 'reset-password-0123');
    await userEvent.click(within(card).getByRole('button', { name: 'Reset password' }));
    await within(card).findByText(/must change it at the next sign-in/);
    const reset = seen.filter((s) => s.method === 'PUT').at(-1);
    expect(reset?.url).toMatch(/\/api\/v1\/users\/u2\/password$/);
    expect(JSON.parse(reset?.body ?? '')).toEqual({ newPassword: 'reset-password-0123' });
  });

  it('creates an API token, shows its secret once, and revokes after a confirmation', async () => {
    const seen = stubFetch(
      answer((request) => {
        if (request.method === 'POST') {
          return json(
            { token: 'upd_secret_value', info: { ...TOKEN, id: 'tok_2', name: 'deploy' } },
            201,
          );
        }
        if (request.method === 'DELETE') return new Response(null, { status: 204 });
        return undefined;
      }),
    );
    renderWithApp(<UsersPage />, { roles: ['auditor'] });
    const form = screen.getByRole('form', { name: 'New API token' });
    await userEvent.type(within(form).getByLabelText(/Token name/), 'deploy');
    await userEvent.click(within(form).getByRole('button', { name: 'Create token' }));
    expect((await screen.findByTestId('secret-value')).textContent).toBe('upd_secret_value');
    expect(screen.getByTestId('secret-once').textContent).toContain('shown only this once');
    const post = seen.find((s) => s.method === 'POST');
    expect(JSON.parse(post?.body ?? '')).toEqual({ name: 'deploy', expiresInDays: 90 });
    await userEvent.click(screen.getByRole('button', { name: 'I have stored it' }));
    expect(screen.queryByTestId('secret-value')).toBeNull();

    await userEvent.click(await screen.findByRole('button', { name: 'Revoke ci' }));
    expect(seen.some((s) => s.method === 'DELETE')).toBe(false);
    await userEvent.click(screen.getByRole('button', { name: 'Revoke ci now' }));
    await vi.waitFor(() => expect(seen.some((s) => s.method === 'DELETE')).toBe(true));
    expect(seen.find((s) => s.method === 'DELETE')?.url).toMatch(/\/api\/v1\/tokens\/tok_1$/);
  });

  it('shows an auditor the users with every change disabled and the reason', async () => {
    const seen = stubFetch(answer());
    renderWithApp(<UsersPage />, { roles: ['auditor'] });
    await screen.findByText('alice');
    for (const name of ['Create user', 'Edit alice', 'Edit bob']) {
      const button = screen.getByRole('button', { name });
      expect(button).toHaveProperty('disabled', true);
      const reason = document.getElementById(button.getAttribute('aria-describedby') ?? '');
      expect(reason?.textContent).toContain('users:write');
    }
    expect(screen.queryByRole('form', { name: 'New user' })).toBeNull();
    expect(seen.every((s) => s.method === 'GET')).toBe(true);
  });
});
