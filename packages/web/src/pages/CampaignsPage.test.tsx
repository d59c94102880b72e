// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { CampaignsPage } from './CampaignsPage';

Element.prototype.scrollIntoView ??= () => undefined;

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function campaign(id: string, name: string, state: string, currentPhase = -1) {
  return {
    id,
    name,
    releaseId: 'rel_37',
    filter: 'true',
    type: 'one-shot',
    state,
    stateReason: state === 'paused' ? 'error-threshold' : null,
    actionType: 'soft',
    forceAfter: null,
    recurringWindow: null,
    successThreshold: 95,
    errorThreshold: { percent: 10 },
    soakSeconds: 0,
    healthTimeoutSeconds: 1800,
    currentPhase,
    phases: [0, 1, 2].map((index) => ({
      index,
      percent: [1, 10, 100][index],
      count: null,
      filter: null,
      successThreshold: 95,
      errorThreshold: { percent: 10 },
      manualGate: false,
      state: index < currentPhase ? 'passed' : index === currentPhase ? 'running' : 'pending',
      startedAt: null,
      passedAt: null,
    })),
    startAt: null,
    startedAt: null,
    finishedAt: null,
    review: null,
    revision: 1,
    createdBy: 'usr_alice',
    createdAt: '2026-12-01T10:00:00.000Z',
    updatedAt: '2026-12-01T10:00:00.000Z',
  };
}

function renderList(roles: string[]) {
  return renderWithApp(
    <Routes>
      <Route path="/campaigns" element={<CampaignsPage />} />
      <Route path="/campaigns/new" element={<p>wizard</p>} />
    </Routes>,
    { roles, path: '/campaigns' },
  );
}

describe('CampaignsPage', () => {
  it('lists campaigns with release version, state, progress and a link, paged by cursor', async () => {
    const seen = stubFetch((request) => {
      const url = new URL(request.url);
      if (url.pathname === '/api/v1/releases') {
        return json({ items: [{ id: 'rel_37', version: '3.7.0' }] });
      }
      if (url.searchParams.get('cursor') === 'cmp_b') {
        return json({ items: [campaign('cmp_c', 'older', 'finished')], nextCursor: null });
      }
      return json({
        items: [campaign('cmp_a', 'thermo EU', 'running', 1), campaign('cmp_b', 'new', 'draft')],
        nextCursor: 'cmp_b',
      });
    });
    renderList(['rollout-admin']);
    const table = await screen.findByRole('table', { name: 'Campaigns' });
    const link = await within(table).findByRole('link', { name: 'thermo EU' });
    expect(link.getAttribute('href')).toBe('/campaigns/cmp_a');
    const row = link.closest('tr')!;
    await waitFor(() => expect(row.textContent).toContain('3.7.0'));
    expect(row.textContent).toContain('running');
    expect(row.textContent).toContain('phase 2 of 3, 1 passed');
    expect(row.textContent).toContain('usr_alice');
    expect(within(table).getByRole('link', { name: 'new' }).closest('tr')!.textContent).toContain(
      '3 phases, not started',
    );
    const list = seen.find((s) => new URL(s.url).pathname === '/api/v1/campaigns')!;
    expect(new URL(list.url).searchParams.get('limit')).toBe('50');

    await userEvent.click(screen.getByRole('button', { name: 'Next page' }));
    expect(await within(table).findByRole('link', { name: 'older' })).toBeTruthy();
    expect(screen.getByTestId('campaigns-page').textContent).toBe('Page 2, 1 campaigns');
    expect(screen.getByRole('button', { name: 'Next page' })).toHaveProperty('disabled', true);
    await userEvent.click(screen.getByRole('button', { name: 'Previous page' }));
    expect(await within(table).findByRole('link', { name: 'thermo EU' })).toBeTruthy();
  });

  it('asks the service for the chosen state only', async () => {
    const seen = stubFetch((request) => {
      const url = new URL(request.url);
      if (url.pathname === '/api/v1/releases') return json({ items: [] });
      const state = url.searchParams.get('state');
      return json({
        items: state === 'paused' ? [campaign('cmp_p', 'held', 'paused', 0)] : [],
        nextCursor: null,
      });
    });
    renderList(['rollout-admin']);
    await screen.findByText('No campaigns yet.');
    await userEvent.click(screen.getByRole('combobox', { name: 'State' }));
    const box = screen.getByRole('combobox', { name: 'State' });
    const options = document.getElementById(box.getAttribute('aria-controls')!)!;
    await userEvent.click(within(options).getByRole('option', { name: 'paused', hidden: true }));
    const row = (await screen.findByRole('link', { name: 'held' })).closest('tr')!;
    expect(row.textContent).toContain('paused · error-threshold');
    const last = seen.filter((s) => new URL(s.url).pathname === '/api/v1/campaigns').at(-1)!;
    expect(new URL(last.url).searchParams.get('state')).toBe('paused');
  });

  it('opens the wizard from "New campaign" for a rollout admin', async () => {
    stubFetch(() => json({ items: [], nextCursor: null }));
    renderList(['rollout-admin']);
    await userEvent.click(screen.getByRole('button', { name: 'New campaign' }));
    expect(await screen.findByText('wizard')).toBeTruthy();
  });

  it('disables "New campaign" with the reason for an approver', async () => {
    stubFetch(() => json({ items: [], nextCursor: null }));
    renderList(['approver']);
    const button = screen.getByRole('button', { name: 'New campaign' });
    expect(button).toHaveProperty('disabled', true);
    const reason = document.getElementById(button.getAttribute('aria-describedby')!);
    expect(reason?.textContent).toContain('campaigns:write');
  });

  it('shows a failed list with its code', async () => {
    stubFetch(() => problem(503, { code: 'SERVICE_UNAVAILABLE', detail: 'Database down.' }));
    renderList(['auditor']);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('SERVICE_UNAVAILABLE');
  });
});
