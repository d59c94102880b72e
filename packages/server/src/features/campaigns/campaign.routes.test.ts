import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CampaignKit, campaignKit } from '../../testing/campaign-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

// The API's own rules, without the engine stepping in between (its wiring: campaign-engine tests).
const IDLE_ENGINE = { start() {}, poke() {}, close: async () => {} };

describeEachDialect('campaign API: drafts, review and state changes', (dialect) => {
  let server: TestServer;
  let kit: CampaignKit;
  beforeAll(async () => {
    server = await createTestServer(dialect, {}, { campaignEngine: IDLE_ENGINE });
    kit = await campaignKit(server);
  });
  afterAll(() => server?.close());

  const draft = (extra: Record<string, unknown> = {}) => ({
    name: 'thermo 3.7 EU',
    releaseId: kit.releaseId,
    filter: 'device.name != ""',
    ...extra,
  });
  const create = async (
    extra: Record<string, unknown> = {},
    who: 'rollout-admin' | 'admin' = 'rollout-admin',
  ) => {
    const res = await kit.call(who, 'POST', '/campaigns', draft(extra));
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { id: string; state: string; revision: number };
  };
  const audit = async (resourceId: string) =>
    (await kit.call('admin', 'GET', `/audit?resourceType=campaign&limit=1000`))
      .json()
      .items.filter((e: { resourceId: string }) => e.resourceId === resourceId);

  describe('create', () => {
    it('creates a draft with the defaults of the design', async () => {
      const res = await kit.call('rollout-admin', 'POST', '/campaigns', draft());
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({
        name: 'thermo 3.7 EU',
        releaseId: kit.releaseId,
        type: 'one-shot',
        state: 'draft',
        stateReason: null,
        actionType: 'soft',
        forceAfter: null,
        recurringWindow: null,
        successThreshold: 95,
        errorThreshold: { percent: 10 },
        soakSeconds: 0,
        healthTimeoutSeconds: 1800,
        currentPhase: -1,
        review: null,
        revision: 1,
        createdBy: kit.userIds['rollout-admin'],
        phases: [
          {
            index: 0,
            percent: 100,
            count: null,
            filter: null,
            successThreshold: 95,
            errorThreshold: { percent: 10 },
            manualGate: false,
            state: 'pending',
          },
        ],
      });
      const got = await kit.call('support', 'GET', `/campaigns/${res.json().id}`);
      expect(got.statusCode).toBe(403);
      expect((await kit.call('approver', 'GET', `/campaigns/${res.json().id}`)).json()).toEqual(
        res.json(),
      );
    });

    it('takes phases, thresholds, soak, action type and window, phases inheriting the defaults', async () => {
      const res = await kit.call(
        'rollout-admin',
        'POST',
        '/campaigns',
        draft({
          type: 'continuous',
          phases: [
            { percent: 10, manualGate: true },
            { count: 25, errorThreshold: { count: 3 } },
            { percent: 100, filter: 'device.attributes.region == "eu"', successThreshold: 80 },
          ],
          successThreshold: 90,
          errorThreshold: { percent: 5 },
          soakSeconds: 600,
          healthTimeoutSeconds: 900,
          actionType: 'time-forced',
          forceAfter: '2030-01-01T00:00:00Z',
          recurringWindow: { cron: '0 2 * * *', durationSeconds: 7200, timeZone: 'Europe/Berlin' },
        }),
      );
      expect(res.statusCode, res.body).toBe(201);
      const c = res.json();
      expect(c).toMatchObject({
        type: 'continuous',
        successThreshold: 90,
        errorThreshold: { percent: 5 },
        soakSeconds: 600,
        healthTimeoutSeconds: 900,
        actionType: 'time-forced',
        forceAfter: '2030-01-01T00:00:00Z',
        recurringWindow: { cron: '0 2 * * *', durationSeconds: 7200, timeZone: 'Europe/Berlin' },
      });
      expect(
        c.phases.map((p: Record<string, unknown>) => [
          p.percent,
          p.count,
          p.filter,
          p.successThreshold,
          p.errorThreshold,
          p.manualGate,
        ]),
      ).toEqual([
        [10, null, null, 90, { percent: 5 }, true],
        [null, 25, null, 90, { count: 3 }, false],
        [100, null, 'device.attributes.region == "eu"', 80, { percent: 5 }, false],
      ]);
    });

    it('refuses a bad filter with FILTER_INVALID and its position, in the campaign or a phase', async () => {
      const bad = await kit.call(
        'rollout-admin',
        'POST',
        '/campaigns',
        draft({ filter: 'device.name == "x" &&' }),
      );
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'FILTER_INVALID', position: { column: 22 } });
      const phase = await kit.call(
        'rollout-admin',
        'POST',
        '/campaigns',
        draft({ phases: [{ percent: 100, filter: '"nope" in device.groups' }] }),
      );
      expect(phase.json()).toMatchObject({ code: 'FILTER_INVALID', position: { offset: 0 } });
    });

    it('refuses bad phases, limits, releases and schedules, creating nothing', async () => {
      const before = (await kit.call('admin', 'GET', '/campaigns?limit=200')).json().items.length;
      const cases: [Record<string, unknown>, number, string][] = [
        [{ phases: [] }, 400, 'HTTP_VALIDATION_FAILED'],
        [
          { phases: Array.from({ length: 21 }, (_, i) => ({ count: i + 1 })) },
          400,
          'HTTP_VALIDATION_FAILED',
        ],
        [{ phases: [{ percent: 0 }] }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ phases: [{ percent: 101 }] }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ phases: [{ count: 0 }] }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ phases: [{ count: 10_000_001 }] }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ phases: [{ percent: 10, count: 5 }] }, 422, 'CAMPAIGN_INVALID'],
        [{ phases: [{ manualGate: true }] }, 422, 'CAMPAIGN_INVALID'],
        [{ phases: [{ percent: 50 }, { percent: 50 }] }, 422, 'CAMPAIGN_INVALID'],
        [{ name: '' }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ name: 'x'.repeat(129) }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ successThreshold: 101 }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ errorThreshold: { count: 0 } }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ errorThreshold: { percent: 5, count: 2 } }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ soakSeconds: 30 * 86400 + 1 }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ healthTimeoutSeconds: 59 }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ type: 'forever' }, 400, 'HTTP_VALIDATION_FAILED'],
        [{ releaseId: 'rel_missing' }, 422, 'CAMPAIGN_INVALID'],
        [{ actionType: 'time-forced' }, 422, 'ACTION_TYPE_INVALID'],
        [
          { recurringWindow: { cron: '99 * * * *', durationSeconds: 600, timeZone: 'UTC' } },
          422,
          'ACTION_WINDOW_INVALID',
        ],
        [{ unknown: 1 }, 400, 'HTTP_VALIDATION_FAILED'],
      ];
      const wrong: string[] = [];
      for (const [extra, status, code] of cases) {
        const res = await kit.call('rollout-admin', 'POST', '/campaigns', draft(extra));
        if (res.statusCode !== status || res.json().code !== code)
          wrong.push(`${JSON.stringify(extra).slice(0, 60)}: ${res.statusCode} ${res.json().code}`);
      }
      expect(wrong).toEqual([]);
      expect((await kit.call('admin', 'GET', '/campaigns?limit=200')).json().items.length).toBe(
        before,
      );
    });
  });

  describe('review (four-eyes)', () => {
    it('lets another approver approve, not the creator, not a rollout-admin', async () => {
      const own = await create({}, 'admin');
      const self = await kit.call('admin', 'POST', `/campaigns/${own.id}/approve`, {});
      expect(self.statusCode).toBe(403);
      expect(self.json().code).toBe('CAMPAIGN_SELF_APPROVAL');
      const c = await create();
      const rollout = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/approve`, {});
      expect(rollout.statusCode).toBe(403);
      expect(rollout.json().code).toBe('AUTH_FORBIDDEN');
      const ok = await kit.call('approver', 'POST', `/campaigns/${c.id}/approve`, {
        comment: 'canary first, please',
      });
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json()).toMatchObject({
        state: 'approved',
        review: { decision: 'approved', by: kit.userIds.approver, comment: 'canary first, please' },
        revision: 2,
      });
      const again = await kit.call('approver', 'POST', `/campaigns/${c.id}/approve`, {});
      expect(again.statusCode).toBe(409);
      expect(again.json()).toMatchObject({ code: 'CAMPAIGN_STATE_INVALID', state: 'approved' });
      expect(await audit(c.id)).toContainEqual(
        expect.objectContaining({
          action: 'campaign.approve',
          actorId: kit.userIds.approver,
          change: { comment: 'canary first, please' },
        }),
      );
    });

    it('rejects with a required comment: back to draft, review recorded and audited', async () => {
      const c = await create();
      await kit.call('approver', 'POST', `/campaigns/${c.id}/approve`, {});
      const noComment = await kit.call('approver', 'POST', `/campaigns/${c.id}/reject`, {});
      expect(noComment.statusCode).toBe(400);
      const res = await kit.call('approver', 'POST', `/campaigns/${c.id}/reject`, {
        comment: 'wrong release',
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        state: 'draft',
        review: { decision: 'rejected', by: kit.userIds.approver, comment: 'wrong release' },
      });
      expect(await audit(c.id)).toContainEqual(
        expect.objectContaining({
          action: 'campaign.reject',
          change: { comment: 'wrong release' },
        }),
      );
    });

    it('voids an approval when the campaign is edited', async () => {
      const c = await create();
      await kit.call('approver', 'POST', `/campaigns/${c.id}/approve`, {});
      const noop = await kit.call('rollout-admin', 'PATCH', `/campaigns/${c.id}`, {});
      expect(noop.json()).toMatchObject({ state: 'approved', revision: 2 });
      const res = await kit.call('rollout-admin', 'PATCH', `/campaigns/${c.id}`, {
        name: 'renamed',
        phases: [{ percent: 20 }, { percent: 100 }],
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ name: 'renamed', state: 'draft', review: null });
      expect(res.json().phases.map((p: { percent: number }) => p.percent)).toEqual([20, 100]);
      const actions = (await audit(c.id)).map((e: { action: string }) => e.action);
      expect(actions).toEqual(
        expect.arrayContaining(['campaign.update', 'campaign.approval_voided']),
      );
      // Not approved any more: starting needs a new approval.
      const start = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/start`, {});
      expect(start.json().code).toBe('CAMPAIGN_APPROVAL_REQUIRED');
      const badEdit = await kit.call('rollout-admin', 'PATCH', `/campaigns/${c.id}`, {
        filter: 'device.name ==',
      });
      expect(badEdit.json().code).toBe('FILTER_INVALID');
      expect((await kit.call('admin', 'GET', `/campaigns/${c.id}`)).json().name).toBe('renamed');
    });
  });

  describe('state changes', () => {
    it('starts an approved campaign, pauses, resumes and finishes it; refuses illegal moves', async () => {
      const c = await create();
      const early = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/pause`, {});
      expect(early.statusCode).toBe(409);
      expect(early.json()).toMatchObject({ code: 'CAMPAIGN_STATE_INVALID', state: 'draft' });
      await kit.call('approver', 'POST', `/campaigns/${c.id}/approve`, {});
      const support = await kit.call('support', 'POST', `/campaigns/${c.id}/start`, {});
      expect(support.statusCode).toBe(403);
      const start = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/start`, {});
      expect(start.statusCode, start.body).toBe(200);
      expect(start.json()).toMatchObject({ state: 'running', stateReason: null });
      expect(start.json().startedAt).not.toBeNull();
      const edit = await kit.call('rollout-admin', 'PATCH', `/campaigns/${c.id}`, { name: 'x' });
      expect(edit.json()).toMatchObject({ code: 'CAMPAIGN_STATE_INVALID', state: 'running' });
      const pause = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/pause`, {
        comment: 'night',
      });
      expect(pause.json()).toMatchObject({ state: 'paused', stateReason: 'operator' });
      expect(
        (await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/pause`, {})).statusCode,
      ).toBe(409);
      const resume = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/resume`);
      expect(resume.json()).toMatchObject({ state: 'running', stateReason: null });
      const finish = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/finish`);
      expect(finish.json()).toMatchObject({ state: 'finished', stateReason: 'operator' });
      expect(finish.json().finishedAt).not.toBeNull();
      for (const op of ['start', 'resume', 'cancel', 'finish', 'pause']) {
        const res = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/${op}`, {});
        expect([res.statusCode, res.json().code, res.json().state]).toEqual([
          409,
          'CAMPAIGN_STATE_INVALID',
          'finished',
        ]);
      }
      const log = await server.app.updraft.db
        .selectFrom('campaign_events')
        .select(['type', 'data'])
        .where('campaign_id', '=', c.id)
        .orderBy('id')
        .execute();
      expect(log.map((e) => JSON.parse(e.data))).toEqual([
        { from: 'draft', to: 'approved', reason: 'approved' },
        { from: 'approved', to: 'running', reason: 'operator' },
        { from: 'running', to: 'paused', reason: 'operator' },
        { from: 'paused', to: 'running', reason: 'operator' },
        { from: 'running', to: 'finished', reason: 'operator' },
      ]);
      expect(log.every((e) => e.type === 'state_changed')).toBe(true);
    });

    it('schedules a campaign started with a future time, and starts one with a past time now', async () => {
      const c = await create();
      await kit.call('approver', 'POST', `/campaigns/${c.id}/approve`, {});
      const at = new Date(Date.now() + 3600_000).toISOString();
      const res = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/start`, { at });
      expect(res.json()).toMatchObject({ state: 'scheduled', startAt: at, startedAt: null });
      const d = await create();
      await kit.call('approver', 'POST', `/campaigns/${d.id}/approve`, {});
      const past = await kit.call('rollout-admin', 'POST', `/campaigns/${d.id}/start`, {
        at: '2020-01-01T00:00:00Z',
      });
      expect(past.json()).toMatchObject({ state: 'running', startAt: null });
    });

    it('starts a draft only when the tenant does not require approval', async () => {
      expect((await kit.call('rollout-admin', 'GET', '/campaign-settings')).json()).toEqual({
        approvalRequired: true,
      });
      const c = await create();
      const refused = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/start`, {});
      expect(refused.statusCode).toBe(409);
      expect(refused.json().code).toBe('CAMPAIGN_APPROVAL_REQUIRED');
      const denied = await kit.call('rollout-admin', 'PUT', '/campaign-settings', {
        approvalRequired: false,
      });
      expect(denied.statusCode).toBe(403);
      const off = await kit.call('admin', 'PUT', '/campaign-settings', { approvalRequired: false });
      expect(off.json()).toEqual({ approvalRequired: false });
      try {
        const started = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/start`, {});
        expect(started.json()).toMatchObject({ state: 'running' });
      } finally {
        await kit.call('admin', 'PUT', '/campaign-settings', { approvalRequired: true });
      }
      expect((await kit.call('approver', 'GET', '/campaign-settings')).json()).toEqual({
        approvalRequired: true,
      });
    });

    it('pokes the engine after a start and a resume commit (not after a pause)', async () => {
      const poke = vi.spyOn(server.app.wiring.campaigns.engine, 'poke');
      try {
        const c = await create();
        await kit.call('approver', 'POST', `/campaigns/${c.id}/approve`, {});
        expect(poke).not.toHaveBeenCalled();
        await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/start`, {});
        expect(poke).toHaveBeenLastCalledWith(kit.fleet.tenantId, c.id);
        await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/pause`, {});
        expect(poke).toHaveBeenCalledTimes(1);
        await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/resume`);
        expect(poke).toHaveBeenCalledTimes(2);
        // A refused start pokes nothing.
        await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/start`, {});
        expect(poke).toHaveBeenCalledTimes(2);
      } finally {
        poke.mockRestore();
      }
    });

    it('resolves the filters again at start: a group deleted since the save refuses it', async () => {
      expect(
        (await kit.call('admin', 'POST', '/groups', { name: 'pilot', devices: [] })).statusCode,
      ).toBe(201);
      const c = await create({ phases: [{ percent: 100, filter: '"pilot" in device.groups' }] });
      await kit.call('approver', 'POST', `/campaigns/${c.id}/approve`, {});
      expect((await kit.call('admin', 'DELETE', '/groups/pilot')).statusCode).toBe(204);
      const res = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/start`, {});
      expect(res.json()).toMatchObject({ code: 'FILTER_INVALID', position: { offset: 0 } });
      expect((await kit.call('admin', 'GET', `/campaigns/${c.id}`)).json().state).toBe('approved');
    });

    it('applies two concurrent state changes one after the other, never one over the other', async () => {
      const c = await create();
      await kit.call('approver', 'POST', `/campaigns/${c.id}/approve`, {});
      await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/start`, {});
      const [a, b] = await Promise.all([
        kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/pause`, {}),
        kit.call('admin', 'POST', `/campaigns/${c.id}/finish`),
      ]);
      // Pause then finish: both apply. Finish then pause: the pause is refused for the state it
      // finds, not for a lost write (a lost write is retried on the fresh row).
      for (const r of [a, b]) {
        if (r.statusCode !== 200)
          expect(r.json()).toMatchObject({ code: 'CAMPAIGN_STATE_INVALID' });
      }
      const log = (
        await server.app.updraft.db
          .selectFrom('campaign_events')
          .select(['data', 'id'])
          .where('campaign_id', '=', c.id)
          .where('type', '=', 'state_changed')
          .orderBy('id')
          .execute()
      ).map((e) => JSON.parse(e.data) as { from: string; to: string });
      const applied = [a, b].filter((r) => r.statusCode === 200).length;
      // approved, running, then one entry per applied change, each starting where the last ended.
      expect(log).toHaveLength(2 + applied);
      for (let i = 1; i < log.length; i++) expect(log[i]?.from).toBe(log[i - 1]?.to);
      const final = (await kit.call('admin', 'GET', `/campaigns/${c.id}`)).json();
      expect(final.state).toBe('finished');
      expect(final.state).toBe(log.at(-1)?.to);
      expect(final.revision).toBe(3 + applied);
    });

    it('retries an operator state change that lost its write to the engine', async () => {
      const c = await create();
      await kit.call('approver', 'POST', `/campaigns/${c.id}/approve`, {});
      await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/start`, {});
      // Stand in for an engine that keeps writing the campaign row while the operator pauses.
      const db = server.app.updraft.db;
      let bumping = true;
      const bumper = (async () => {
        while (bumping) {
          await db
            .updateTable('campaigns')
            .set((eb) => ({ revision: eb('revision', '+', 1) }))
            .where('id', '=', c.id)
            .execute();
          await new Promise((r) => setTimeout(r, 3));
        }
      })();
      try {
        const results = [];
        for (let i = 0; i < 5; i++) {
          results.push(await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/pause`, {}));
          results.push(await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/resume`));
        }
        expect(results.map((r) => r.statusCode)).toEqual(Array(10).fill(200));
      } finally {
        bumping = false;
        await bumper;
      }
    });

    it('cancels from any state but the final ones', async () => {
      const c = await create();
      const res = await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/cancel`);
      expect(res.json()).toMatchObject({ state: 'cancelled', stateReason: 'operator' });
      expect(
        (await kit.call('rollout-admin', 'POST', `/campaigns/${c.id}/cancel`)).json(),
      ).toMatchObject({
        code: 'CAMPAIGN_STATE_INVALID',
        state: 'cancelled',
      });
    });
  });

  it('documents every campaign route in OpenAPI under the campaigns tag', async () => {
    const doc = (await server.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    const campaignPaths = Object.entries(
      doc.paths as Record<string, Record<string, { tags?: string[] }>>,
    ).filter(([path]) => path.startsWith('/api/v1/campaign'));
    const operations = campaignPaths.flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op.tags]),
    );
    expect(operations.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'POST /api/v1/campaigns',
        'GET /api/v1/campaigns',
        'GET /api/v1/campaigns/{id}',
        'PATCH /api/v1/campaigns/{id}',
        'POST /api/v1/campaigns/{id}/approve',
        'POST /api/v1/campaigns/{id}/reject',
        'POST /api/v1/campaigns/{id}/start',
        'POST /api/v1/campaigns/{id}/pause',
        'POST /api/v1/campaigns/{id}/resume',
        'POST /api/v1/campaigns/{id}/cancel',
        'POST /api/v1/campaigns/{id}/finish',
        'GET /api/v1/campaigns/{id}/status',
        'GET /api/v1/campaigns/{id}/timeseries',
        'GET /api/v1/campaigns/{id}/targets',
        'GET /api/v1/campaigns/{id}/events',
        'GET /api/v1/campaign-settings',
        'PUT /api/v1/campaign-settings',
      ]),
    );
    expect(
      operations.filter(([, tags]) => !(tags as string[] | undefined)?.includes('campaigns')),
    ).toEqual([]);
  });

  describe('listing and isolation', () => {
    it('lists newest first, by state, keyset paged', async () => {
      const all = (await kit.call('admin', 'GET', '/campaigns?limit=200')).json().items as {
        id: string;
        createdAt: string;
        state: string;
      }[];
      expect(all.length).toBeGreaterThan(5);
      const sorted = [...all].sort((a, b) =>
        a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1,
      );
      expect(all.map((c) => c.id)).toEqual(sorted.map((c) => c.id));
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: { id: string }[]; nextCursor: string | null } = (
          await kit.call('admin', 'GET', `/campaigns?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        ).json();
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((c: { id: string }) => c.id));
        cursor = page.nextCursor;
      } while (cursor !== null);
      expect(seen).toEqual(all.map((c) => c.id));
      const drafts = (await kit.call('admin', 'GET', '/campaigns?state=draft&limit=200')).json()
        .items;
      expect(drafts.map((c: { id: string }) => c.id)).toEqual(
        all.filter((c) => c.state === 'draft').map((c) => c.id),
      );
    });

    it("does not show or change another tenant's campaign", async () => {
      const c = await create();
      const other = await server.tokenFor(['admin'], 'ten_other');
      const headers = { authorization: `Bearer ${other.token}` };
      for (const [method, url] of [
        ['GET', `/campaigns/${c.id}`],
        ['GET', `/campaigns/${c.id}/status`],
        ['GET', `/campaigns/${c.id}/targets`],
        ['GET', `/campaigns/${c.id}/events`],
        ['PATCH', `/campaigns/${c.id}`],
        ['POST', `/campaigns/${c.id}/cancel`],
      ] as const) {
        const res = await server.app.inject({
          method,
          url: `/api/v1${url}`,
          headers,
          ...(method === 'PATCH' ? { payload: { name: 'mine' } } : {}),
        });
        expect([url, res.statusCode, res.json().code]).toEqual([url, 404, 'RESOURCE_NOT_FOUND']);
      }
      expect(
        (await server.app.inject({ method: 'GET', url: '/api/v1/campaigns', headers })).json()
          .items,
      ).toEqual([]);
      // Nor use its release.
      const theirs = await server.app.inject({
        method: 'POST',
        url: '/api/v1/campaigns',
        headers,
        payload: draft(),
      });
      expect(theirs.json().code).toBe('CAMPAIGN_INVALID');
      expect((await kit.call('admin', 'GET', `/campaigns/${c.id}`)).json().state).toBe('draft');
    });
  });
});
