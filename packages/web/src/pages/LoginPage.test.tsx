// @vitest-environment jsdom
import { cleanup, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { problem, renderWithApp, stubFetch } from '../testing/render';
import { LoginPage } from './LoginPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('LoginPage', () => {
  it('posts the credentials same-origin with the web client header and shows the error code in words', async () => {
    const seen = stubFetch(() =>
      problem(401, { code: 'AUTH_INVALID_CREDENTIALS', detail: 'Wrong username or password.' }),
    );
    renderWithApp(<LoginPage />);
    await userEvent.type(screen.getByLabelText('Username'), 'alice');
    await userEvent.type(screen.getByLabelText('Password'), 'not-her-password');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Wrong username or password.');
    expect(alert.textContent).toContain('AUTH_INVALID_CREDENTIALS');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe('POST');
    expect(new URL(seen[0]!.url).pathname).toBe('/api/v1/auth/login');
    expect(seen[0]!.headers.get('x-updraft-client')).toBe('web');
    expect(seen[0]!.credentials).toBe('same-origin');
    expect(JSON.parse(seen[0]!.body)).toEqual({ username: 'alice', password: 'not-her-password' });
  });

  it('says what went wrong when the answer is not a problem document', async () => {
    stubFetch(() => new Response('bad gateway', { status: 502 }));
    renderWithApp(<LoginPage />);
    await userEvent.type(screen.getByLabelText('Username'), 'alice');
    await userEvent.type(screen.getByLabelText('Password'), 'pw');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByRole('alert')).textContent).toContain('HTTP_502');
  });
});
