import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

describeEachDialect('device bulk actions', (dialect) => {
  let server: TestServer;
  let headers: Record<string, string>;
  let tokens: Record<string, string>;
  let ids: Record<string, string>;
  beforeAll(async () => {
    server = await createTestServer(dialect);
    headers = await server.adminHeaders();
    const classId = (
      await server.app.inject({
        method: 'POST',
        url: '/api/v1/device-classes',
        headers,
        payload: { name: 'sensor', vendorName: 'example.com', modelName: 'sensor' },
      })
    ).json().id;
    const devices = Array.from({ length: 12 }, (_, i) => ({
      name: `b-${String(i).padStart(2, '0')}`,
      deviceClassId: classId,
      attributes: { region: i < 8 ? 'eu' : 'us' },
      tags: i < 2 ? ['old'] : [],
    }));
    const items = (
      await server.app.inject({
        method: 'POST',
        url: '/api/v1/devices/bulk',
        headers,
        payload: { devices },
      })
    ).json().items as { name: string; token: string; device: { id: string } }[];
    tokens = Object.fromEntries(items.map((i) => [i.name, i.token]));
    ids = Object.fromEntries(items.map((i) => [i.name, i.device.id]));
  });
  afterAll(() => server?.close());

  const bulk = (payload: object) =>
    server.app.inject({
      method: 'POST',
      url: '/api/v1/devices/bulk-actions',
      headers,
      payload,
    });
  const tagsOf = async () =>
    Object.fromEntries(
      (await server.app.inject({ method: 'GET', url: '/api/v1/devices?limit=100', headers }))
        .json()
        .items.map((d: { name: string; tags: string[] }) => [d.name, d.tags]),
    );
  const audits = (action: string) =>
    server.app.updraft.db
      .selectFrom('audit_log')
      .select(['change', 'resource_type'])
      .where('action', '=', action)
      .execute();

  it('adds tags to every device a filter matches, once, with one audit entry', async () => {
    const res = await bulk({
      action: 'add-tags',
      filter: 'device.attributes.region == "eu"',
      tags: ['beta', 'old'],
    });
    expect(res.statusCode).toBe(200);
    // 8 devices × 2 tags, minus the 2 that already had `old`.
    expect(res.json()).toEqual({ action: 'add-tags', matched: 8, changed: 14 });
    const tags = await tagsOf();
    for (let i = 0; i < 12; i++) {
      const name = `b-${String(i).padStart(2, '0')}`;
      expect(tags[name]).toEqual(i < 8 ? ['beta', 'old'] : []);
    }
    const entries = await audits('device.bulk-action');
    expect(entries).toHaveLength(1);
    expect(JSON.parse(entries[0]?.change ?? '{}')).toMatchObject({
      action: 'add-tags',
      matched: 8,
      changed: 14,
    });
  });

  it('removes a tag from devices by id', async () => {
    const res = await bulk({
      action: 'remove-tags',
      deviceIds: [ids['b-00'], ids['b-01'], ids['b-09']],
      tags: ['beta'],
    });
    expect(res.json()).toEqual({ action: 'remove-tags', matched: 3, changed: 2 });
    const tags = await tagsOf();
    expect(tags['b-00']).toEqual(['old']);
    expect(tags['b-02']).toEqual(['beta', 'old']);
  });

  it('adds devices to a static group and refuses a dynamic one', async () => {
    const group = (
      await server.app.inject({
        method: 'POST',
        url: '/api/v1/groups',
        headers,
        payload: { name: 'pilot', devices: [ids['b-00']] },
      })
    ).json();
    const res = await bulk({
      action: 'add-to-group',
      filter: '"beta" in device.tags',
      group: 'pilot',
    });
    expect(res.json()).toEqual({ action: 'add-to-group', matched: 6, changed: 6 });
    const view = (
      await server.app.inject({ method: 'GET', url: `/api/v1/groups/${group.id}`, headers })
    ).json();
    expect(view.deviceCount).toBe(7);
    await server.app.inject({
      method: 'POST',
      url: '/api/v1/groups',
      headers,
      payload: { name: 'us', filter: 'device.attributes.region == "us"' },
    });
    const dynamic = await bulk({ action: 'add-to-group', deviceIds: [ids['b-00']], group: 'us' });
    expect(dynamic.statusCode).toBe(409);
    expect(dynamic.json().code).toBe('RESOURCE_CONFLICT');
    const missing = await bulk({ action: 'add-to-group', deviceIds: [ids['b-00']], group: 'nope' });
    expect(missing.json().code).toBe('RESOURCE_NOT_FOUND');
  });

  it('decommissions many devices, revoking their tokens, and skips those already done', async () => {
    const res = await bulk({ action: 'decommission', deviceIds: [ids['b-10'], ids['b-11']] });
    expect(res.json()).toEqual({ action: 'decommission', matched: 2, changed: 2 });
    const auth = (token: string | undefined) =>
      server.app.updraft.deviceAuth.authenticate({
        headers: { authorization: `Bearer ${token}` },
      });
    expect(await auth(tokens['b-10'])).toBeNull();
    expect(await auth(tokens['b-11'])).toBeNull();
    expect(await auth(tokens['b-09'])).not.toBeNull();
    const again = await bulk({
      action: 'decommission',
      filter: 'device.attributes.region == "us"',
    });
    expect(again.json()).toEqual({ action: 'decommission', matched: 4, changed: 2 });
    expect(await auth(tokens['b-09'])).toBeNull();
  });

  it('refuses unknown ids, both or neither target, and missing arguments, changing nothing', async () => {
    const before = await tagsOf();
    const unknown = await bulk({
      action: 'add-tags',
      deviceIds: [ids['b-03'], 'dev_nope'],
      tags: ['x'],
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('RESOURCE_NOT_FOUND');
    expect((await bulk({ action: 'add-tags', tags: ['x'] })).json().code).toBe('RESOURCE_INVALID');
    expect(
      (
        await bulk({ action: 'add-tags', deviceIds: [ids['b-03']], filter: 'true', tags: ['x'] })
      ).json().code,
    ).toBe('RESOURCE_INVALID');
    expect((await bulk({ action: 'add-tags', filter: 'true' })).json().code).toBe(
      'RESOURCE_INVALID',
    );
    expect(
      (await bulk({ action: 'add-tags', filter: 'device.nope ==', tags: ['x'] })).json().code,
    ).toBe('FILTER_INVALID');
    expect(await tagsOf()).toEqual(before);
  });

  it('refuses a filter matching more than the limit (DEVICE_BULK_TOO_MANY), changing nothing', async () => {
    const { BULK_ACTION_MAX } = await import('./device.service.js');
    const classId = (
      await server.app.inject({ method: 'GET', url: '/api/v1/device-classes', headers })
    ).json().items[0].id;
    const names = Array.from({ length: BULK_ACTION_MAX }, (_, i) => `m-${i}`);
    for (let i = 0; i < names.length; i += 1000) {
      const res = await server.app.inject({
        method: 'POST',
        url: '/api/v1/devices/bulk',
        headers,
        payload: {
          devices: names.slice(i, i + 1000).map((name) => ({ name, deviceClassId: classId })),
        },
      });
      expect(res.statusCode).toBe(200);
    }
    const res = await bulk({
      action: 'add-tags',
      filter: 'device.name.startsWith("")',
      tags: ['x'],
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().code).toBe('DEVICE_BULK_TOO_MANY');
    const count = (
      await server.app.inject({
        method: 'GET',
        url: `/api/v1/devices/count?filter=${encodeURIComponent('"x" in device.tags')}`,
        headers,
      })
    ).json().count;
    expect(count).toBe(0);
  }, 120_000);
});
