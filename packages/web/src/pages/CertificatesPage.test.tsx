// @vitest-environment jsdom
import { cleanup, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { CertificatesPage } from './CertificatesPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const cert = (n: number, state = 'active') => ({
  id: `crt_${n}`,
  deviceId: `dev_${n}`,
  serial: `0${n}ab`,
  fingerprint: 'f0'.repeat(32),
  spkiFingerprint: 'e1'.repeat(32),
  subject: `CN=d-${n}`,
  notBefore: '2026-11-01T00:00:00.000Z',
  notAfter: '2026-12-20T00:00:00.000Z',
  issuedAt: '2026-11-01T00:00:00.000Z',
  issuedVia: 'enrollment-token',
  state,
  supersededAt: null,
  revokedAt: null,
  revocationReason: null,
  certificatePem: '',
});

function service() {
  return stubFetch(async (request) => {
    const url = new URL(request.url);
    switch (url.pathname) {
      case '/api/v1/pki/ca':
        return json({
          certificatePem: '',
          chainPem: '',
          fingerprint: 'ab'.repeat(32),
          source: 'generated',
          notAfter: '2036-01-01T00:00:00.000Z',
          subject: 'CN=Updraft issuing CA',
        });
      case '/api/v1/pki/certificates':
        if (url.searchParams.get('cursor') === 'c2')
          return json({ items: [cert(3, 'superseded')], nextCursor: null });
        if (url.searchParams.get('state') === 'revoked')
          return json({ items: [cert(9, 'revoked')], nextCursor: null });
        return json({ items: [cert(1), cert(2)], nextCursor: 'c2' });
      case '/api/v1/pki/expiry-report':
        return json({ days: 30, items: [cert(1)] });
      case '/api/v1/pki/manufacturing-cas':
        return json({ items: [] });
      case '/api/v1/pki/enrollment-tokens': {
        const body = JSON.parse(await request.clone().text());
        if (body.device === 'ghost')
          return problem(404, { code: 'RESOURCE_NOT_FOUND', detail: 'no device ghost' });
        return json(
          { token: 'updraft_enroll_secret', expiresAt: '2026-12-04T00:00:00Z', deviceId: 'dev_1' },
          201,
        );
      }
      case '/api/v1/pki/certificates/crt_1/revoke':
        return json(cert(1, 'revoked'));
    }
    return problem(404, { code: 'HTTP_ROUTE_NOT_FOUND' });
  });
}

describe('CertificatesPage', () => {
  it('shows the CA fingerprint, pages and filters the inventory, and the expiry report', async () => {
    const seen = service();
    renderWithApp(<CertificatesPage />, { roles: ['support'], path: '/certificates' });
    expect(screen.getByRole('heading', { level: 1, name: 'Certificates' })).toBeTruthy();
    expect((await screen.findByTestId('ca-fingerprint')).textContent).toBe('ab'.repeat(32));
    const inventory = await screen.findByRole('table', { name: 'Certificates' });
    expect(within(inventory).getByText('CN=d-2')).toBeTruthy();
    const expiring = await screen.findByRole('table', { name: 'Expiring certificates' });
    expect(within(expiring).getByText('CN=d-1')).toBeTruthy();
    // support reads the PKI but may not revoke or create tokens.
    expect(within(inventory).getAllByRole('button', { name: 'Revoke' })[0]).toHaveProperty(
      'disabled',
      true,
    );
    await userEvent.click(screen.getByRole('button', { name: 'Next page' }));
    expect(await screen.findByText('CN=d-3')).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Previous page' }));
    expect(await screen.findByText('CN=d-2')).toBeTruthy();
    await userEvent.click(screen.getByPlaceholderText('Any state'));
    await userEvent.click(await screen.findByRole('option', { name: 'revoked', hidden: true }));
    expect(await screen.findByText('CN=d-9')).toBeTruthy();
    expect(seen.some((r) => new URL(r.url).searchParams.get('state') === 'revoked')).toBe(true);
    expect(screen.getByRole('button', { name: 'Create enrollment token' })).toHaveProperty(
      'disabled',
      true,
    );
  });

  it('creates an enrollment token shown once, shows errors with their code, and revokes', async () => {
    const seen = service();
    renderWithApp(<CertificatesPage />, { roles: ['deployment-admin'], path: '/certificates' });
    const device = await screen.findByRole('textbox', { name: /Device to enroll/ });
    await userEvent.type(device, 'ghost');
    await userEvent.click(screen.getByRole('button', { name: 'Create enrollment token' }));
    expect(await screen.findByText('(RESOURCE_NOT_FOUND)')).toBeTruthy();
    await userEvent.clear(device);
    await userEvent.type(device, 'd-1');
    await userEvent.click(screen.getByRole('button', { name: 'Create enrollment token' }));
    expect((await screen.findByTestId('enrollment-token')).textContent).toBe(
      'updraft_enroll_secret',
    );
    const inventory = await screen.findByRole('table', { name: 'Certificates' });
    await userEvent.click(within(inventory).getAllByRole('button', { name: 'Revoke' })[0]!);
    await userEvent.click(await screen.findByRole('button', { name: 'Revoke certificate' }));
    await vi.waitFor(() =>
      expect(seen.some((r) => r.url.endsWith('/pki/certificates/crt_1/revoke'))).toBe(true),
    );
    const tokenRequest = seen.filter((r) => r.url.endsWith('/pki/enrollment-tokens')).at(-1);
    expect(JSON.parse(tokenRequest?.body ?? '{}')).toEqual({
      device: 'd-1',
      expiresInSeconds: 86_400,
    });
  });
});
