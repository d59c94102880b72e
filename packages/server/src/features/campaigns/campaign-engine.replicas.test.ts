import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../db/create-database.js';
import { insertCampaign, insertCampaignRelease } from '../../testing/campaign-rows.js';
import { seedFleet } from '../../testing/release-fixtures.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { ActionService } from '../actions/action.service.js';
import { DeviceFilterService } from '../filters/device-filter.service.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.js';
import { CampaignEngine, type StepOutcome } from './campaign-engine.js';

const TENANT = 'ten_default';

// Two engines (on PostgreSQL: two replicas, each its own connection pool over the same schema)
// step one campaign concurrently, over and over, while its devices report: every device gets
// exactly one action and every phase transition is made once. SQLite is one process by design,
// so there both engines share the one connection.
describeEachDialect('campaign engine across replicas', (dialect) => {
  let tdb: TestDatabase;
  let second: DatabaseHandle | undefined;
  beforeAll(async () => {
    tdb = await openTestDatabase(dialect);
    if (dialect === 'postgres') second = await createDatabase(tdb.config);
  });
  afterAll(async () => {
    await second?.close();
    await tdb?.dispose();
  });

  it('concurrent steps give each device one action and advance each phase once', async () => {
    const now = () => new Date();
    const engineOn = (handle: DatabaseHandle) =>
      new CampaignEngine({
        db: handle.db,
        support: handle.support,
        now,
        logger: pino({ level: 'silent' }),
        events: new WebhookOutbox(now),
        filters: new DeviceFilterService(handle.db, now),
        tickSeconds: 3600,
      });
    const engines = [engineOn(tdb.handle), engineOn(second ?? tdb.handle)];
    const db = tdb.handle.db;
    const fleet = await seedFleet(db, { deviceCount: 40 });
    const releaseId = await insertCampaignRelease(db, TENANT, fleet.deviceClassId, 5);
    const id = await insertCampaign(db, {
      tenantId: TENANT,
      releaseId,
      phases: [{ percent: 10 }, { percent: 50 }, { count: 5 }, { percent: 100 }],
    });
    const actions = new ActionService(db, now, tdb.handle.deviceChanges, new WebhookOutbox(now));
    const outcomes: StepOutcome[] = [];

    for (let round = 0; round < 30; round++) {
      outcomes.push(
        ...(await Promise.all(Array.from({ length: 6 }, (_, i) => engines[i % 2]!.step(id)))),
      );
      const state = await db
        .selectFrom('campaigns')
        .select('state')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      if (state.state === 'finished') break;
      // Every open action of the campaign succeeds, in parallel with the next round's steps.
      const open = await db
        .selectFrom('actions')
        .select(['id', 'device_id'])
        .where('campaign_id', '=', id)
        .where('open_key', 'is not', null)
        .execute();
      const reports = open.map(async (a) => {
        for (const status of ['downloaded', 'installing', 'success'] as const)
          await actions.report({ tenantId: TENANT, deviceId: a.device_id }, a.id, {
            reportId: randomUUID(),
            status,
            progress: null,
            code: null,
            message: null,
          });
      });
      outcomes.push(
        ...(await Promise.all([
          ...Array.from({ length: 4 }, (_, i) => engines[i % 2]!.step(id)),
          ...reports.map((r) => r.then(() => 'idle' as const)),
        ])),
      );
    }

    const campaign = await db
      .selectFrom('campaigns')
      .select(['state', 'state_reason'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(campaign).toEqual({ state: 'finished', state_reason: 'completed' });
    const made = await db
      .selectFrom('actions')
      .select(['device_id'])
      .where('campaign_id', '=', id)
      .execute();
    expect(made).toHaveLength(40);
    expect(new Set(made.map((a) => a.device_id)).size).toBe(40);
    const assigned = await db
      .selectFrom('action_events as e')
      .innerJoin('actions as a', 'a.id', 'e.action_id')
      .select('e.action_id')
      .where('a.campaign_id', '=', id)
      .where('e.status', '=', 'assigned')
      .execute();
    expect(assigned).toHaveLength(40);
    const events = await db
      .selectFrom('campaign_events')
      .select(['type', 'data'])
      .where('campaign_id', '=', id)
      .orderBy('id')
      .execute();
    expect(events.map((e) => `${e.type} ${e.data}`)).toEqual([
      'phase_started {"phase":0}',
      'phase_advanced {"phase":0,"next":1}',
      'phase_advanced {"phase":1,"next":2}',
      'phase_advanced {"phase":2,"next":3}',
      'state_changed {"from":"running","to":"finished","reason":"completed"}',
    ]);
    const phases = await db
      .selectFrom('campaign_phases')
      .select(['idx', 'state'])
      .where('campaign_id', '=', id)
      .orderBy('idx')
      .execute();
    expect(phases.map((p) => p.state)).toEqual(['passed', 'passed', 'passed', 'passed']);
    if (dialect === 'postgres') expect(outcomes).toContain('locked');
    for (const engine of engines) await engine.close();
  });
});
