// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, type Seen, stubFetch } from '../testing/render';
import { NewCampaignPage } from './NewCampaignPage';

// jsdom has no layout; Mantine's combobox scrolls the selected option into view.
Element.prototype.scrollIntoView ??= () => undefined;

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const release = {
  id: 'rel_37',
  version: '3.7.0',
  sequenceNumber: 37,
  deviceClassId: 'cls_thermo',
  components: [],
  createdAt: '2026-12-01T00:00:00.000Z',
  createdBy: null,
  envelopeSize: 100,
  manifestDigest: 'ab',
  payloads: [],
  signerKids: [],
  text: null,
};

/** The service as the wizard sees it; `onCreate` answers the POST. */
function service(onCreate: (request: Request) => Response): Seen[] {
  return stubFetch((request) => {
    const url = new URL(request.url);
    if (url.pathname === '/api/v1/releases') return json({ items: [release] });
    if (url.pathname === '/api/v1/groups') {
      return json({ items: [{ id: 'grp_1', name: 'lab', filter: null, createdAt: '' }] });
    }
    if (url.pathname === '/api/v1/devices/count') return json({ count: 42 });
    if (url.pathname === '/api/v1/campaigns' && request.method === 'POST') return onCreate(request);
    return problem(404, { code: 'NOT_FOUND', detail: url.pathname });
  });
}

function renderWizard() {
  return renderWithApp(
    <Routes>
      <Route path="/campaigns/new" element={<NewCampaignPage />} />
      <Route path="/campaigns/:id" element={<p>campaign page</p>} />
    </Routes>,
    { roles: ['rollout-admin'], path: '/campaigns/new' },
  );
}

const user = () => userEvent.setup({ delay: null });

async function next() {
  await userEvent.click(screen.getByRole('button', { name: 'Next' }));
}

/** Sets a text or number input's value as one change (typing each key is slow in jsdom). */
function setText(input: HTMLElement, value: string) {
  fireEvent.change(input, { target: { value } });
}

// jsdom renders Mantine's dropdown slowly on a busy CI machine: the default 1 s wait for it
// failed once there, with the page behaving correctly.
const DROPDOWN_WAIT = { timeout: 15_000 };

/** Opens a Mantine select and clicks one of its options (mid-transition, so `hidden`). */
async function pick(u: ReturnType<typeof user>, select: string | RegExp, option: string | RegExp) {
  const box = screen.getByRole('combobox', { name: select });
  await u.click(box);
  await waitFor(() => expect(box.getAttribute('aria-controls')).toBeTruthy(), DROPDOWN_WAIT);
  const list = document.getElementById(box.getAttribute('aria-controls')!)!;
  await u.click(
    await within(list).findByRole('option', { name: option, hidden: true }, DROPDOWN_WAIT),
  );
}

/** Steps 1 and 2 filled: name, release 3.7.0, a filter. */
async function fillReleaseAndTargets(u: ReturnType<typeof user>) {
  setText(screen.getByRole('textbox', { name: /^Name/ }), 'thermo 3.7 EU');
  await pick(u, /^Release/, /3\.7\.0/);
  await next();
  await screen.findByRole('heading', { name: /Step 2 of 5: Targets/ });
  fireEvent.change(screen.getByRole('textbox', { name: /^Filter/ }), {
    target: { value: 'device.attributes.region == "eu"' },
  });
  expect((await screen.findByTestId('filter-count')).textContent).toBe('42 matching devices');
  await next();
  const phases = await screen.findByRole('heading', { name: /Step 3 of 5: Phases/ });
  // The page focuses the new step's heading on the next animation frame; a select opened
  // before that focus lands would close again.
  await waitFor(() => expect(document.activeElement).toBe(phases));
}

describe('NewCampaignPage', () => {
  it('keeps the user on a step until its fields are valid, each error next to its field', {
    timeout: 90_000,
  }, async () => {
    service(() => json({}, 500));
    renderWizard();
    const u = user();
    await next();
    expect(screen.getByRole('heading', { name: /Step 1 of 5/ })).toBeTruthy();
    expect(screen.getByText('Give the campaign a name')).toBeTruthy();
    expect(screen.getByText('Choose a release')).toBeTruthy();
    // The message is the name input's description (Mantine's error wiring).
    const name = screen.getByRole('textbox', { name: /^Name/ });
    expect(name.getAttribute('aria-invalid')).toBe('true');
    // The page moves focus to the first invalid field on the next animation frame. Waiting for
    // it matters: a focus that lands after the release select opens closes its dropdown.
    await waitFor(() => expect(document.activeElement).toBe(name));

    setText(name, 'x');
    await pick(u, /^Release/, /3\.7\.0/);
    await next();
    await screen.findByRole('heading', { name: /Step 2 of 5/ });
    await next();
    expect(screen.getByRole('heading', { name: /Step 2 of 5/ })).toBeTruthy();
    expect(screen.getByText(/Enter a filter/)).toBeTruthy();

    fireEvent.change(screen.getByRole('textbox', { name: /^Filter/ }), {
      target: { value: 'true' },
    });
    await next();
    await screen.findByRole('heading', { name: /Step 3 of 5/ });
    // Phase 2 no larger than phase 1: refused with the reason at phase 2's size.
    const size2 = screen.getByRole('textbox', { name: 'Phase 2 size' });
    setText(size2, '1');
    await next();
    expect(screen.getByRole('heading', { name: /Step 3 of 5/ })).toBeTruthy();
    expect(screen.getByText("Must be more than the previous phase's 1 %")).toBeTruthy();
    expect(size2.getAttribute('aria-invalid')).toBe('true');
  });

  // A long walk through every step: jsdom renders Mantine slowly on a busy machine.
  it('posts exactly the campaign the user entered and opens its page', {
    timeout: 90_000,
  }, async () => {
    const seen = service(() => json({ id: 'cmp_new', state: 'draft' }, 201));
    renderWizard();
    const u = user();
    await fillReleaseAndTargets(u);

    // Defaults: 1 % (gated) → 10 % → 100 %. Phase 2 becomes 25 devices with its own error
    // threshold of 3 devices, phase 3 gets its own success threshold and filter; a fourth phase
    // is added and removed again; the soak becomes 15 minutes.
    setText(screen.getByRole('textbox', { name: 'Phase 2 size' }), '25');
    await pick(u, 'Phase 2 size unit', 'devices');
    setText(screen.getByRole('textbox', { name: 'Phase 2 error threshold' }), '3');
    await pick(u, 'Phase 2 error threshold: unit', 'devices');
    setText(screen.getByRole('textbox', { name: 'Phase 3 success threshold (%)' }), '99');
    setText(
      screen.getByRole('textbox', { name: /Phase 3 extra filter/ }),
      '"lab" in device.groups',
    );
    await u.click(screen.getByRole('button', { name: 'Add phase' }));
    expect(screen.getByRole('group', { name: 'Phase 4' })).toBeTruthy();
    await u.click(screen.getByRole('button', { name: 'Remove phase 4' }));
    expect(screen.queryByRole('group', { name: 'Phase 4' })).toBeNull();
    setText(screen.getByRole('textbox', { name: /^Soak/ }), '15');
    await next();

    await screen.findByRole('heading', { name: /Step 4 of 5: Delivery/ });
    await u.click(screen.getByRole('radio', { name: /^Forced/ }));
    await u.click(screen.getByRole('checkbox', { name: /maintenance window/ }));
    setText(screen.getByRole('textbox', { name: /Window time zone/ }), 'Europe/Berlin');
    await next();

    await screen.findByRole('heading', { name: /Step 5 of 5: Review/ });
    expect(screen.getByRole('table', { name: 'Campaign summary' }).textContent).toContain(
      '0 2 * * * for 120 min (Europe/Berlin)',
    );
    await u.click(screen.getByRole('button', { name: 'Create draft' }));
    await screen.findByText('campaign page');

    const post = seen.find((s) => s.method === 'POST')!;
    const posted: unknown = JSON.parse(post.body);
    expect(new URL(post.url).pathname).toBe('/api/v1/campaigns');
    expect(post.headers.get('x-updraft-client')).toBe('web');
    expect(posted).toEqual({
      name: 'thermo 3.7 EU',
      releaseId: 'rel_37',
      filter: 'device.attributes.region == "eu"',
      type: 'one-shot',
      phases: [
        { percent: 1, manualGate: true },
        { count: 25, errorThreshold: { count: 3 }, manualGate: false },
        {
          percent: 100,
          filter: '"lab" in device.groups',
          successThreshold: 99,
          manualGate: false,
        },
      ],
      successThreshold: 95,
      errorThreshold: { percent: 10 },
      soakSeconds: 900,
      healthTimeoutSeconds: 1800,
      actionType: 'forced',
      forceAfter: null,
      recurringWindow: { cron: '0 2 * * *', durationSeconds: 7200, timeZone: 'Europe/Berlin' },
    });
  });

  it('shows the service refusing the draft with its code and field path', async () => {
    service(() =>
      problem(422, {
        code: 'CAMPAIGN_INVALID',
        detail: 'The phases do not fit together.',
        errors: [{ path: '/phases/1', message: 'percent must increase' }],
      }),
    );
    renderWizard();
    const u = user();
    await fillReleaseAndTargets(u);
    await next();
    await screen.findByRole('heading', { name: /Step 4 of 5/ });
    await next();
    await screen.findByRole('heading', { name: /Step 5 of 5/ });
    await u.click(screen.getByRole('button', { name: 'Create draft' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('CAMPAIGN_INVALID');
    expect(alert.textContent).toContain('/phases/1: percent must increase');
    expect(screen.queryByText('campaign page')).toBeNull();
  });

  it('needs a forced-after time for a time-forced action', async () => {
    service(() => json({}, 500));
    renderWizard();
    const u = user();
    await fillReleaseAndTargets(u);
    await next();
    await screen.findByRole('heading', { name: /Step 4 of 5/ });
    await u.click(screen.getByRole('radio', { name: /^Time-forced/ }));
    await next();
    expect(screen.getByText('When must the install be forced?')).toBeTruthy();
    fireEvent.change(screen.getByLabelText(/Force the install after/), {
      target: { value: '2027-01-15T03:00' },
    });
    await next();
    await waitFor(() => expect(screen.getByRole('heading', { name: /Step 5 of 5/ })).toBeTruthy());
    expect(screen.getByRole('table', { name: 'Campaign summary' }).textContent).toContain(
      new Date('2027-01-15T03:00').toISOString(),
    );
  });

  it('tells a user without campaigns:write that the page is not for them', () => {
    service(() => json({}, 500));
    renderWithApp(<NewCampaignPage />, { roles: ['approver'] });
    expect(screen.getByRole('alert').textContent).toContain('campaigns:write');
    expect(screen.queryByRole('button', { name: 'Next' })).toBeNull();
  });
});
