import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { insertCampaign, insertCampaignRelease } from '../../testing/campaign-rows.js';
import { seedFleet } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

const TENANT = 'ten_default';

// The engine as the server runs it: started with the app, poked by the device API's reports
// (with a tick far too slow to be what moved the campaign), closed with the app.
describeEachDialect('campaign engine in the server', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(dialect, { campaigns: { tickSeconds: 3600 } });
  });
  afterAll(() => server?.close());

  it('a device report over the device API advances the phase at once (poke, not tick)', async () => {
    const { db } = server.app.updraft;
    const engine = server.app.wiring.campaigns.engine;
    const fleet = await seedFleet(db, { deviceCount: 3 });
    const releaseId = await insertCampaignRelease(db, TENANT, fleet.deviceClassId, 5);
    const id = await insertCampaign(db, {
      tenantId: TENANT,
      releaseId,
      phases: [{ count: 1 }, { percent: 100 }],
    });
    engine.poke(TENANT, id);
    const campaignActions = () =>
      db.selectFrom('actions').selectAll().where('campaign_id', '=', id).execute();
    await expect.poll(async () => (await campaignActions()).length).toBe(1);

    const [action] = await campaignActions();
    const device = fleet.devices.find((d) => d.id === action!.device_id)!;
    for (const status of ['downloaded', 'installing', 'success']) {
      const res = await server.app.inject({
        method: 'POST',
        url: `/api/device/v1/actions/${action!.id}/feedback`,
        headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
        payload: { reportId: randomUUID(), status },
      });
      expect(res.statusCode).toBe(200);
    }
    await expect.poll(async () => (await campaignActions()).length, { timeout: 3000 }).toBe(3);
    // The other devices see their campaign action at their next check-in.
    const other = fleet.devices.find((d) => d.id !== device.id)!;
    const checkIn = await server.app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: { authorization: `Bearer ${other.token}`, 'content-type': 'application/json' },
      payload: {},
    });
    expect(checkIn.json().action.id).toMatch(/^act_[A-Za-z0-9_-]{16}_dev_[A-Za-z0-9_-]{16}$/);
  });
});
