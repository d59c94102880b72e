// @vitest-environment jsdom
import { act, cleanup, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { CampaignPage } from './CampaignPage';

/** jsdom has no EventSource: a stand-in the test drives (what the page listens to, and when). */
class FakeEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static instances: FakeEventSource[] = [];
  readyState = FakeEventSource.CONNECTING;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  readonly listeners = new Map<string, ((e: MessageEvent) => void)[]>();
  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }
  addEventListener(type: string, listener: (e: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close() {
    this.readyState = FakeEventSource.CLOSED;
  }
  open() {
    this.readyState = FakeEventSource.OPEN;
    this.onopen?.();
  }
  emit(type: string, data: unknown, id?: string) {
    const event = new MessageEvent(type, { data: JSON.stringify(data), lastEventId: id ?? '' });
    for (const l of this.listeners.get(type) ?? []) l(event);
  }
}

beforeEach(() => {
  FakeEventSource.instances = [];
  vi.stubGlobal('EventSource', FakeEventSource);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const ZERO = {
  targets: 0,
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
const counts = (c: Partial<typeof ZERO>) => {
  const all = { ...ZERO, ...c };
  all.targets = Object.entries(all).reduce((n, [k, v]) => (k === 'targets' ? n : n + v), 0);
  return all;
};

function campaign(over: Record<string, unknown> = {}) {
  return {
    id: 'cmp_1',
    name: 'thermo 3.7 EU',
    releaseId: 'rel_1',
    filter: 'device.attributes.region == "eu"',
    type: 'one-shot',
    state: 'running',
    stateReason: null,
    actionType: 'soft',
    forceAfter: null,
    recurringWindow: null,
    successThreshold: 95,
    errorThreshold: { percent: 10 },
    soakSeconds: 0,
    healthTimeoutSeconds: 1800,
    currentPhase: 0,
    phases: [0, 1].map((index) => ({
      index,
      percent: index === 0 ? 10 : 100,
      count: null,
      filter: null,
      successThreshold: 95,
      errorThreshold: { percent: 20 },
      manualGate: false,
      state: index === 0 ? 'running' : 'pending',
      startedAt: null,
      passedAt: null,
    })),
    startAt: null,
    startedAt: '2026-12-01T10:00:00.000Z',
    finishedAt: null,
    review: { decision: 'approved', by: 'u2', at: '2026-12-01T09:00:00.000Z', comment: null },
    revision: 3,
    createdBy: 'u3',
    createdAt: '2026-12-01T08:00:00.000Z',
    updatedAt: '2026-12-01T10:00:00.000Z',
    ...over,
  };
}

function status(over: Record<string, unknown> = {}) {
  return {
    id: 'cmp_1',
    state: 'running',
    stateReason: null,
    currentPhase: 0,
    phases: [
      { index: 0, state: 'running', size: 4, counts: counts({ succeeded: 1, installing: 3 }) },
      { index: 1, state: 'pending', size: 0, counts: counts({}) },
    ],
    totals: counts({ succeeded: 1, installing: 3, scheduled: 36 }),
    failureReasons: [],
    bytesSaved: 0,
    ...over,
  };
}

/** The service as the page sees it; `answers` overrides per "METHOD path". */
function service(
  c: Record<string, unknown>,
  s: Record<string, unknown>,
  answers: Record<string, () => Response> = {},
) {
  return stubFetch((request) => {
    const path = new URL(request.url).pathname;
    const own = answers[`${request.method} ${path}`];
    if (own) return own();
    if (path === '/api/v1/campaigns/cmp_1') return json(c);
    if (path === '/api/v1/campaigns/cmp_1/status') return json(s);
    if (path === '/api/v1/campaigns/cmp_1/timeseries') return json({ items: [] });
    if (path === '/api/v1/campaign-settings') return json({ approvalRequired: true });
    if (path === '/api/v1/releases/rel_1') return json({ id: 'rel_1', version: '3.7.0' });
    return problem(404, { code: 'RESOURCE_NOT_FOUND', detail: `no ${path}` });
  });
}

function renderPage(roles: string[]) {
  return renderWithApp(
    <Routes>
      <Route path="/campaigns/:id" element={<CampaignPage />} />
    </Routes>,
    { roles, path: '/campaigns/cmp_1' },
  );
}

describe('CampaignPage', () => {
  it('shows the campaign, its state, per-phase bars with numbers, and follows the event stream', async () => {
    service(campaign(), status());
    renderPage(['rollout-admin']);
    await screen.findByRole('heading', { level: 1, name: 'thermo 3.7 EU' });
    expect(screen.getByTestId('campaign-state').textContent).toBe('running');
    expect(await screen.findByRole('link', { name: '3.7.0' })).toHaveProperty(
      'href',
      expect.stringMatching(/\/releases\/rel_1$/),
    );
    const total = await screen.findByRole('progressbar', { name: 'All targets' });
    expect(total.getAttribute('aria-valuetext')).toBe(
      '1 of 40 succeeded, 0 failed, 3 in progress, 36 waiting',
    );
    expect(screen.getByTestId('progress-phase-1').textContent).toBe(
      '1 of 4 succeeded, 0 failed, 3 in progress, 0 waiting',
    );
    // One same-origin stream on the campaign's events, no token in the URL.
    expect(FakeEventSource.instances.map((e) => e.url)).toEqual(['/api/v1/campaigns/cmp_1/events']);
    const stream = FakeEventSource.instances[0]!;
    act(() => stream.open());
    await screen.findByText('Live');

    act(() =>
      stream.emit(
        'progress',
        status({
          phases: [
            { index: 0, state: 'passed', size: 4, counts: counts({ succeeded: 4 }) },
            { index: 1, state: 'running', size: 36, counts: counts({ downloading: 36 }) },
          ],
          totals: counts({ succeeded: 4, downloading: 36 }),
        }),
      ),
    );
    // TanStack Query notifies its observers on the next tick.
    await vi.waitFor(() =>
      expect(screen.getByTestId('progress-total').textContent).toBe(
        '4 of 40 succeeded, 0 failed, 36 in progress, 0 waiting',
      ),
    );
    expect(screen.getByRole('progressbar', { name: 'Phase 1 (passed)' })).toBeTruthy();
    expect(screen.getByTestId('progress-phase-2').textContent).toBe(
      '0 of 36 succeeded, 0 failed, 36 in progress, 0 waiting',
    );
  });

  it('reads the campaign again after a state change in the stream (once per burst)', async () => {
    let state = 'running';
    const seen = stubFetch((request) => {
      const path = new URL(request.url).pathname;
      if (path === '/api/v1/campaigns/cmp_1') return json(campaign({ state }));
      if (path === '/api/v1/campaigns/cmp_1/status') return json(status({ state }));
      if (path === '/api/v1/campaign-settings') return json({ approvalRequired: true });
      return json({ items: [] });
    });
    renderPage(['rollout-admin']);
    await screen.findByRole('button', { name: 'Pause' });
    const reads = () => seen.filter((r) => r.url.endsWith('/api/v1/campaigns/cmp_1')).length;
    const before = reads();
    state = 'paused';
    const stream = FakeEventSource.instances[0]!;
    act(() => {
      stream.emit('phase_paused', { phase: 0, reason: 'error-threshold' }, 'cev_1');
      stream.emit('state_changed', { from: 'running', to: 'paused', reason: 'operator' }, 'cev_2');
    });
    await screen.findByRole('button', { name: 'Resume' });
    expect(reads()).toBe(before + 1);
    expect(screen.queryByRole('button', { name: 'Pause' })).toBeNull();
  });

  it('offers what the state allows, disabled with the reason where the roles do not', async () => {
    service(campaign(), status());
    renderPage(['approver']);
    await screen.findByRole('heading', { level: 1, name: 'thermo 3.7 EU' });
    const names = within(screen.getByRole('group', { name: 'Campaign operations' }))
      .getAllByRole('button')
      .map((b) => b.textContent);
    expect(names).toEqual(['Pause', 'Finish', 'Cancel campaign']);
    const pause = screen.getByRole('button', { name: 'Pause' });
    expect(pause).toHaveProperty('disabled', true);
    expect(document.getElementById(pause.getAttribute('aria-describedby')!)?.textContent).toContain(
      'campaigns:write',
    );
  });

  it('lets an approver approve a draft of someone else, and a rollout admin cannot', async () => {
    const draft = campaign({ state: 'draft', review: null, startedAt: null, currentPhase: -1 });
    let current = draft;
    const seen = service(draft, status({ state: 'draft' }), {
      'GET /api/v1/campaigns/cmp_1': () => json(current),
      'POST /api/v1/campaigns/cmp_1/approve': () => {
        current = campaign({
          state: 'approved',
          review: { decision: 'approved', by: 'u1', at: '2026-12-01T09:00:00.000Z', comment: null },
        });
        return json(current);
      },
    });
    renderPage(['approver']);
    const approve = await screen.findByRole('button', { name: 'Approve' });
    expect(approve).toHaveProperty('disabled', false);
    expect(screen.getByRole('button', { name: 'Reject' })).toHaveProperty('disabled', false);
    expect(screen.queryByRole('button', { name: 'Start' })).toBeNull();
    expect(screen.queryByTestId('self-approval-note')).toBeNull();
    await userEvent.click(approve);
    await screen.findByText(/approved by tester \(you\)/);
    const post = seen.find((r) => r.method === 'POST');
    expect(post?.url).toMatch(/\/api\/v1\/campaigns\/cmp_1\/approve$/);
    expect(post?.headers.get('x-updraft-client')).toBe('web');
    cleanup();

    service(draft, status({ state: 'draft' }));
    renderPage(['rollout-admin']);
    const refused = await screen.findByRole('button', { name: 'Approve' });
    expect(refused).toHaveProperty('disabled', true);
    expect(
      document.getElementById(refused.getAttribute('aria-describedby')!)?.textContent,
    ).toContain('campaigns:approve');
  });

  it("says before clicking that its creator cannot approve it, and shows the service's refusal with its code", async () => {
    const own = campaign({ state: 'draft', review: null, createdBy: 'u1', currentPhase: -1 });
    service(own, status({ state: 'draft' }), {
      'POST /api/v1/campaigns/cmp_1/approve': () =>
        problem(403, {
          code: 'CAMPAIGN_SELF_APPROVAL',
          detail: 'the creator of a campaign cannot approve it',
        }),
    });
    renderPage(['admin']);
    await screen.findByText(/Created by tester \(you\)/);
    expect(screen.getByTestId('self-approval-note').textContent).toContain(
      'CAMPAIGN_SELF_APPROVAL',
    );
    await userEvent.click(screen.getByRole('button', { name: 'Approve' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Approve refused');
    expect(alert.textContent).toContain('(CAMPAIGN_SELF_APPROVAL)');
  });

  it('rejects only with a reason', async () => {
    const draft = campaign({ state: 'draft', review: null, currentPhase: -1 });
    const seen = service(draft, status({ state: 'draft' }), {
      'POST /api/v1/campaigns/cmp_1/reject': () => json(draft),
    });
    renderPage(['approver']);
    await userEvent.click(await screen.findByRole('button', { name: 'Reject' }));
    const dialog = await screen.findByRole('dialog', { name: 'Reject the campaign' });
    const confirm = within(dialog).getByRole('button', { name: 'Reject' });
    expect(confirm).toHaveProperty('disabled', true);
    await userEvent.type(within(dialog).getByLabelText(/Reason for rejecting/), 'wrong filter');
    await userEvent.click(confirm);
    await vi.waitFor(() => expect(seen.some((r) => r.method === 'POST')).toBe(true));
    const post = seen.find((r) => r.method === 'POST')!;
    expect(post.url).toMatch(/\/reject$/);
    expect(JSON.parse(post.body)).toEqual({ comment: 'wrong filter' });
  });

  it('cancels only after the confirmation', async () => {
    const seen = service(campaign(), status(), {
      'POST /api/v1/campaigns/cmp_1/cancel': () => json(campaign({ state: 'cancelled' })),
    });
    renderPage(['rollout-admin']);
    await userEvent.click(await screen.findByRole('button', { name: 'Cancel campaign' }));
    const dialog = await screen.findByRole('dialog', { name: 'Cancel the campaign?' });
    expect(seen.some((r) => r.method === 'POST')).toBe(false);
    await userEvent.click(within(dialog).getByRole('button', { name: 'Yes, cancel it' }));
    await vi.waitFor(() =>
      expect(seen.filter((r) => r.method === 'POST').map((r) => new URL(r.url).pathname)).toEqual([
        '/api/v1/campaigns/cmp_1/cancel',
      ]),
    );
  });

  it('explains an automatic pause (which phase, how many failed, the threshold) and lists failure reasons with device links', async () => {
    const paused = status({
      state: 'paused',
      stateReason: 'error-threshold',
      phases: [
        { index: 0, state: 'paused', size: 4, counts: counts({ succeeded: 1, failed: 3 }) },
        { index: 1, state: 'pending', size: 0, counts: counts({}) },
      ],
      totals: counts({ succeeded: 1, failed: 3, scheduled: 36 }),
      failureReasons: [
        {
          code: 'SIM_BOOT_TRIAL_REVERTED',
          count: 3,
          devices: ['sim-0007', 'sim-0031', 'sim-0040'],
          examples: [
            { id: 'dev_7', name: 'sim-0007' },
            { id: 'dev_31', name: 'sim-0031' },
            { id: 'dev_40', name: 'sim-0040' },
          ],
        },
      ],
    });
    service(campaign({ state: 'paused', stateReason: 'error-threshold' }), paused);
    renderPage(['rollout-admin']);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Paused automatically: error threshold exceeded');
    expect(alert.textContent).toContain('Phase 1: 3 of 4 devices failed or were rejected');
    expect(alert.textContent).toContain('more than 20 % failed or rejected');
    const reasons = screen.getByRole('table', { name: 'Failure reasons' });
    expect(within(reasons).getByText('SIM_BOOT_TRIAL_REVERTED')).toBeTruthy();
    expect(within(reasons).getByText('3')).toBeTruthy();
    expect(within(reasons).getByRole('link', { name: 'sim-0031' })).toHaveProperty(
      'href',
      expect.stringMatching(/\/devices\/dev_31$/),
    );
    expect(screen.getByRole('button', { name: 'Resume' })).toHaveProperty('disabled', false);
    expect(screen.queryByRole('button', { name: 'Pause' })).toBeNull();
  });

  it('opens the stream again after the service refused it', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      service(campaign(), status());
      renderPage(['rollout-admin']);
      await screen.findByRole('heading', { level: 1, name: 'thermo 3.7 EU' });
      const first = FakeEventSource.instances[0]!;
      act(() => {
        first.readyState = FakeEventSource.CLOSED;
        first.onerror?.();
      });
      expect(FakeEventSource.instances).toHaveLength(1);
      await act(() => vi.advanceTimersByTimeAsync(1100));
      expect(FakeEventSource.instances).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('plots the progress samples once there are two (the chart loaded on demand)', async () => {
    const sample = (at: string, c: Partial<typeof ZERO>) => ({ at, totals: counts(c) });
    service(campaign(), status(), {
      'GET /api/v1/campaigns/cmp_1/timeseries': () =>
        json({
          items: [
            sample('2026-12-01T10:00:00.000Z', { installing: 4, scheduled: 36 }),
            sample('2026-12-01T10:01:00.000Z', { succeeded: 3, failed: 1, scheduled: 36 }),
          ],
        }),
    });
    renderPage(['rollout-admin']);
    await screen.findByRole('heading', { name: 'Progress over time' });
    await vi.waitFor(
      () => {
        const section = screen.getByRole('region', { name: 'Progress over time' });
        if (!section.querySelector('.mantine-AreaChart-root')) throw new Error(section.innerHTML);
      },
      { timeout: 10_000 },
    );
    expect(screen.queryByText(/sample so far|No samples yet/)).toBeNull();
  });

  it('needs campaigns:read', () => {
    service(campaign(), status());
    renderPage(['repository-admin']);
    expect(screen.getByText(/campaigns:read/)).toBeTruthy();
  });
});
