// @vitest-environment jsdom
import { cleanup, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { SettingsPage } from './SettingsPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const HOOK = {
  id: 'wh_1',
  url: 'https://hooks.example.com/a',
  events: ['action.failed'],
  createdAt: '2026-01-01T00:00:00.000Z',
  createdBy: 'u1',
};

function answer(extra?: (request: Request) => Response | undefined) {
  return (request: Request) => {
    const custom = extra?.(request);
    if (custom) return custom;
    const path = new URL(request.url).pathname;
    if (path === '/api/v1/campaign-settings') return json({ approvalRequired: true });
    if (path === '/api/v1/pki/settings') return json({ bearerTokensAllowed: true });
    if (path === '/api/v1/webhooks/settings') return json({ allowPrivateTargets: false });
    if (path === '/api/v1/webhooks') return json({ items: [HOOK] });
    if (path === '/api/v1/webhooks/wh_1/deliveries') {
      return json({
        items: [
          {
            id: 'whd_1',
            event: 'webhook.test',
            state: 'failed',
            occurredAt: '2026-01-01T00:00:00.000Z',
            attempts: 1,
            nextAttemptAt: null,
            log: [
              {
                attempt: 1,
                at: '2026-01-01T00:00:01.000Z',
                statusCode: 503,
                error: null,
                durationMs: 12,
              },
            ],
          },
        ],
      });
    }
    return json({});
  };
}

describe('SettingsPage', () => {
  it('turns campaign approval off with the exact body', async () => {
    const seen = stubFetch(
      answer((request) =>
        request.method === 'PUT' ? json({ approvalRequired: false }) : undefined,
      ),
    );
    renderWithApp(<SettingsPage />, { roles: ['admin'] });
    const approval = await screen.findByRole('switch', { name: /Approval required/ });
    await vi.waitFor(() => expect(approval).toHaveProperty('checked', true));
    await userEvent.click(approval);
    await vi.waitFor(() => expect(approval).toHaveProperty('checked', false));
    const put = seen.find((s) => s.method === 'PUT');
    expect(put?.url).toMatch(/\/api\/v1\/campaign-settings$/);
    expect(JSON.parse(put?.body ?? '')).toEqual({ approvalRequired: false });
  });

  it('creates a webhook with the exact body, shows its secret once, and a refusal with its code', async () => {
    let refuse = true;
    const seen = stubFetch(
      answer((request) => {
        if (request.method !== 'POST') return undefined;
        if (refuse) {
          return problem(422, {
            code: 'WEBHOOK_TARGET_PRIVATE',
            detail: 'the URL points at a private address',
          });
        }
        return json({ webhook: { ...HOOK, id: 'wh_2' }, secret: 'whsec_once' }, 201);
      }),
    );
    renderWithApp(<SettingsPage />, { roles: ['admin'] });
    await userEvent.click(await screen.findByRole('button', { name: 'New webhook' }));
    const form = screen.getByRole('form', { name: 'New webhook' });
    await userEvent.type(within(form).getByLabelText(/Webhook URL/), 'http://10.0.0.5/hook');
    await userEvent.click(within(form).getByLabelText('campaign.state_changed'));
    await userEvent.click(within(form).getByLabelText('device.registered'));
    await userEvent.click(within(form).getByRole('button', { name: 'Create webhook' }));
    const alert = await within(form).findByRole('alert');
    expect(alert.textContent).toContain('private address');
    expect(alert.textContent).toContain('WEBHOOK_TARGET_PRIVATE');
    expect(JSON.parse(seen.find((s) => s.method === 'POST')?.body ?? '')).toEqual({
      url: 'http://10.0.0.5/hook',
      events: ['campaign.state_changed', 'device.registered'],
    });
    refuse = false;
    await userEvent.click(within(form).getByRole('button', { name: 'Create webhook' }));
    expect((await screen.findByTestId('secret-value')).textContent).toBe('whsec_once');
  });

  it('sends a test delivery, shows deliveries with their status, deletes after a confirmation', async () => {
    const seen = stubFetch(
      answer((request) => {
        if (request.method === 'POST') return json({ deliveryId: 'whd_2' }, 202);
        if (request.method === 'DELETE') return new Response(null, { status: 204 });
        return undefined;
      }),
    );
    renderWithApp(<SettingsPage />, { roles: ['admin'] });
    await userEvent.click(
      await screen.findByRole('button', { name: 'Send test to https://hooks.example.com/a' }),
    );
    await screen.findByText('Test delivery queued.');
    expect(seen.find((s) => s.method === 'POST')?.url).toMatch(/\/api\/v1\/webhooks\/wh_1\/test$/);
    const deliveries = await screen.findByRole('table', { name: 'Recent deliveries' });
    expect(within(deliveries).getByText('failed')).toBeTruthy();
    expect(within(deliveries).getByText('503 in 12 ms')).toBeTruthy();

    await userEvent.click(
      screen.getByRole('button', { name: 'Delete https://hooks.example.com/a' }),
    );
    expect(seen.some((s) => s.method === 'DELETE')).toBe(false);
    await userEvent.click(screen.getByRole('button', { name: 'Delete now' }));
    await vi.waitFor(() =>
      expect(seen.find((s) => s.method === 'DELETE')?.url).toMatch(/\/api\/v1\/webhooks\/wh_1$/),
    );
  });

  it('shows an error changing a setting with its code', async () => {
    stubFetch(
      answer((request) =>
        request.method === 'PUT'
          ? problem(403, { code: 'AUTH_FORBIDDEN', detail: 'needs settings:write' })
          : undefined,
      ),
    );
    renderWithApp(<SettingsPage />, { roles: ['admin'] });
    const bearer = await screen.findByRole('switch', { name: /Bearer device tokens allowed/ });
    await vi.waitFor(() => expect(bearer).toHaveProperty('checked', true));
    await userEvent.click(bearer);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('AUTH_FORBIDDEN');
    expect(alert.textContent).toContain('The PKI settings were not changed');
  });

  it('shows an auditor every setting with changes disabled and the reason', async () => {
    const seen = stubFetch(answer());
    renderWithApp(<SettingsPage />, { roles: ['auditor'] });
    await screen.findByText('https://hooks.example.com/a');
    const reasons: Record<string, string> = {
      'Approval required': 'settings:write',
      'Bearer device tokens allowed': 'settings:write',
      'Allow private targets': 'webhooks:write',
    };
    for (const [name, permission] of Object.entries(reasons)) {
      const control = screen.getByRole('switch', { name: new RegExp(name) });
      await vi.waitFor(() => expect(control).toHaveProperty('disabled', true));
      const ids = (control.getAttribute('aria-describedby') ?? '').split(' ');
      expect(ids.map((id) => document.getElementById(id)?.textContent).join(' ')).toContain(
        permission,
      );
    }
    for (const name of ['New webhook', 'Send test to https://hooks.example.com/a']) {
      const button = screen.getByRole('button', { name });
      expect(button).toHaveProperty('disabled', true);
      const reason = document.getElementById(button.getAttribute('aria-describedby') ?? '');
      expect(reason?.textContent).toContain('webhooks:write');
    }
    expect(screen.queryByRole('button', { name: /^Delete/ })).toBeNull();
    // Deliveries are readable.
    await userEvent.click(
      screen.getByRole('button', { name: 'Show deliveries of https://hooks.example.com/a' }),
    );
    await screen.findByRole('table', { name: 'Recent deliveries' });
    expect(seen.every((s) => s.method === 'GET')).toBe(true);
  });
});
