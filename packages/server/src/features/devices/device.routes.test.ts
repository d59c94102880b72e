import { afterAll, beforeAll, expect, it } from 'vitest';
import { insertReleaseAndAction } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { setReportedState, touchLastSeen } from './device.repository.js';

describeEachDialect('devices', (dialect) => {
  let server: TestServer;
  let headers: Record<string, string>;
  let classId: string;
  let otherClassId: string;
  beforeAll(async () => {
    server = await createTestServer(dialect);
    headers = await server.adminHeaders();
    const mk = async (name: string) =>
      (
        await server.app.inject({
          method: 'POST',
          url: '/api/v1/device-classes',
          headers,
          payload: { name, vendorName: 'example.com', modelName: name },
        })
      ).json().id;
    classId = await mk('sensor');
    otherClassId = await mk('gateway');
  });
  afterAll(() => server?.close());

  const inject = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, payload?: unknown) =>
    server.app.inject({
      method,
      url: `/api/v1${url}`,
      headers,
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  const authenticate = (token: string) =>
    server.app.updraft.deviceAuth.authenticate({ headers: { authorization: `Bearer ${token}` } });

  it('pre-registers a device and returns a token that authenticates it', async () => {
    const res = await inject('POST', '/devices', {
      name: 'dev-001',
      deviceClassId: classId,
      attributes: { site: 'north', floor: 3 },
      tags: ['pilot'],
    });
    expect(res.statusCode).toBe(201);
    const { device, token } = res.json();
    expect(token).toMatch(/^updraft_device_/);
    expect(device).toMatchObject({
      name: 'dev-001',
      deviceClassId: classId,
      tags: ['pilot'],
      lastSeenAt: null,
    });
    expect(await authenticate(token)).toEqual({
      kind: 'device',
      deviceId: device.id,
      tenantId: 'ten_default',
      deviceClassId: classId,
      credentialId: expect.stringMatching(/^dtk_/),
    });
    expect(await authenticate(`${token}x`)).toBeNull();
    expect(
      (await inject('POST', '/devices', { name: 'dev-001', deviceClassId: classId })).json().code,
    ).toBe('RESOURCE_CONFLICT');
    expect(
      (await inject('POST', '/devices', { name: 'dev-x', deviceClassId: 'cls_nope' })).json().code,
    ).toBe('RESOURCE_NOT_FOUND');
  });

  it('registers in bulk with a status per item', async () => {
    const devices = [
      ...Array.from({ length: 20 }, (_, i) => ({
        name: `bulk-${String(i).padStart(2, '0')}`,
        deviceClassId: i % 2 ? classId : otherClassId,
        tags: i < 5 ? ['canary'] : [],
      })),
      { name: 'dev-001', deviceClassId: classId },
      { name: 'bulk-00', deviceClassId: classId },
      { name: 'bulk-x', deviceClassId: 'cls_missing' },
    ];
    const res = await inject('POST', '/devices/bulk', { devices });
    expect(res.statusCode).toBe(200);
    const items = res.json().items;
    expect(items.filter((i: { ok: boolean }) => i.ok)).toHaveLength(20);
    expect(items.slice(20).map((i: { code: string }) => i.code)).toEqual([
      'RESOURCE_CONFLICT',
      'RESOURCE_CONFLICT',
      'RESOURCE_NOT_FOUND',
    ]);
    expect(new Set(items.slice(0, 20).map((i: { token: string }) => i.token)).size).toBe(20);
  });

  it('lists with pagination and sort', async () => {
    const first = (await inject('GET', '/devices?limit=5&sort=name&order=asc')).json();
    expect(first.total).toBe(21);
    expect(first.items.map((d: { name: string }) => d.name)).toEqual([
      'bulk-00',
      'bulk-01',
      'bulk-02',
      'bulk-03',
      'bulk-04',
    ]);
    const last = (await inject('GET', '/devices?limit=5&offset=20&sort=name&order=asc')).json();
    expect(last.items.map((d: { name: string }) => d.name)).toEqual(['dev-001']);
    const desc = (await inject('GET', '/devices?limit=1&sort=name&order=desc')).json();
    expect(desc.items[0].name).toBe('dev-001');
  });

  it('filters by class, tag, name prefix and attributes (reported and custom)', async () => {
    const names = async (query: string) =>
      (await inject('GET', `/devices?limit=100&${query}`))
        .json()
        .items.map((d: { name: string }) => d.name);
    expect(await names(`deviceClassId=${otherClassId}`)).toHaveLength(10);
    expect(await names('tag=canary')).toEqual([
      'bulk-00',
      'bulk-01',
      'bulk-02',
      'bulk-03',
      'bulk-04',
    ]);
    expect(await names(`tag=canary&deviceClassId=${classId}`)).toEqual(['bulk-01', 'bulk-03']);
    expect(await names('namePrefix=dev-')).toEqual(['dev-001']);
    expect(await names('namePrefix=%25')).toEqual([]);
    expect(await names('attr=site=north')).toEqual(['dev-001']);
    expect(await names('attr=site=north&attr=floor=3')).toEqual(['dev-001']);
    expect(await names('attr=site=south')).toEqual([]);
    const id = (await inject('GET', '/devices?namePrefix=bulk-07')).json().items[0].id;
    await server.app.updraft.db.transaction().execute((trx) =>
      setReportedState(
        trx,
        'ten_default',
        id,
        {
          components: [{ id: '00', version: '1.2.0', sequenceNumber: 12, digest: 'ab'.repeat(32) }],
          attributes: { hwRevision: 'B' },
        },
        new Date().toISOString(),
      ),
    );
    expect(await names('attr=hwRevision=B')).toEqual(['bulk-07']);
    expect((await inject('GET', '/devices?attr=bad name=x')).json().code).toBe(
      'HTTP_VALIDATION_FAILED',
    );
    expect((await inject('GET', '/devices?limit=100000')).json().code).toBe(
      'HTTP_VALIDATION_FAILED',
    );
  });

  it('shows a device with attributes, components and last seen; sorts never-seen devices last', async () => {
    const id = (await inject('GET', '/devices?namePrefix=bulk-07')).json().items[0].id;
    const seen = '2026-01-02T03:04:05.000Z';
    await touchLastSeen(server.app.updraft.db, 'ten_default', [id], seen);
    const device = (await inject('GET', `/devices/${id}`)).json();
    expect(device).toMatchObject({
      lastSeenAt: seen,
      attributes: { reported: { hwRevision: 'B' }, custom: {} },
      components: [{ id: '00', version: '1.2.0', sequenceNumber: 12, digest: 'ab'.repeat(32) }],
    });
    for (const order of ['asc', 'desc']) {
      expect(
        (await inject('GET', `/devices?limit=1&sort=lastSeenAt&order=${order}`)).json().items[0].id,
      ).toBe(id);
    }
  });

  it('shows its recent actions to roles that may read actions, and only to them', async () => {
    const id = (await inject('GET', '/devices?namePrefix=bulk-07')).json().items[0].id;
    const device = (await inject('GET', `/devices/${id}`)).json();
    await insertReleaseAndAction(
      server.app.updraft.db,
      {
        tenantId: 'ten_default',
        deviceClassId: device.deviceClassId,
        deviceId: id,
        releaseId: 'rel_view',
        actionId: 'act_view',
      },
      { state: 'failure', open: false },
    );
    expect((await inject('GET', `/devices/${id}`)).json().actions).toEqual([
      expect.objectContaining({
        id: 'act_view',
        releaseId: 'rel_view',
        state: 'failure',
        open: false,
      }),
    ]);
    for (const [role, sees] of [
      ['support', true],
      ['deployment-admin', false],
    ] as const) {
      const { token } = await server.tokenFor([role]);
      const res = await server.app.inject({
        method: 'GET',
        url: `/api/v1/devices/${id}`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.statusCode).toBe(200);
      expect('actions' in res.json()).toBe(sees);
    }
  });

  it('merges custom attributes and replaces tags', async () => {
    const id = (await inject('GET', '/devices?namePrefix=dev-001')).json().items[0].id;
    const patched = await inject('PATCH', `/devices/${id}/attributes`, {
      floor: null,
      owner: 'ops',
      critical: true,
    });
    expect(patched.json().attributes.custom).toEqual({
      site: 'north',
      owner: 'ops',
      critical: true,
    });
    const tagged = await inject('PUT', `/devices/${id}/tags`, { tags: ['b', 'a', 'a'] });
    expect(tagged.json().tags).toEqual(['a', 'b']);
    expect(
      (await inject('PATCH', `/devices/${id}/attributes`, { 'bad name': 1 })).json().code,
    ).toBe('HTTP_VALIDATION_FAILED');
    expect(
      (await inject('PATCH', `/devices/${id}/attributes`, { nested: { a: 1 } })).json().code,
    ).toBe('HTTP_VALIDATION_FAILED');
    const badCreate = await inject('POST', '/devices', {
      name: 'bad-attr',
      deviceClassId: classId,
      attributes: { 'a b': 1 },
    });
    expect(badCreate.json().code).toBe('HTTP_VALIDATION_FAILED');
  });

  it('rotates a device token: the old one stops working, the new one works', async () => {
    const { device, token } = (
      await inject('POST', '/devices', { name: 'rotating', deviceClassId: classId })
    ).json();
    const res = await inject('POST', `/devices/${device.id}/token`);
    expect(res.statusCode).toBe(200);
    const fresh = res.json().token;
    expect(fresh).toMatch(/^updraft_device_/);
    expect(await authenticate(token)).toBeNull();
    expect((await authenticate(fresh))?.deviceId).toBe(device.id);
  });

  it('decommissions: credentials revoked, history kept, second time a conflict', async () => {
    const res = await inject('POST', '/devices', { name: 'to-retire', deviceClassId: classId });
    const { device, token } = res.json();
    expect(await authenticate(token)).not.toBeNull();
    const done = await inject('POST', `/devices/${device.id}/decommission`);
    expect(done.statusCode).toBe(200);
    expect(done.json().decommissionedAt).not.toBeNull();
    expect(await authenticate(token)).toBeNull();
    expect((await inject('GET', `/devices/${device.id}`)).statusCode).toBe(200);
    expect(
      (await inject('GET', '/devices?state=decommissioned'))
        .json()
        .items.map((d: { id: string }) => d.id),
    ).toEqual([device.id]);
    expect((await inject('POST', `/devices/${device.id}/decommission`)).json().code).toBe(
      'RESOURCE_CONFLICT',
    );
  });

  it('accepts a device name wherever it accepts a device id, an id winning over an equal name', async () => {
    const { device, token } = (
      await inject('POST', '/devices', { name: 'pump-7.north@site:a', deviceClassId: classId })
    ).json();
    const name = encodeURIComponent('pump-7.north@site:a');
    const shown = await inject('GET', `/devices/${name}`);
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toMatchObject({ id: device.id, name: 'pump-7.north@site:a' });
    expect((await inject('GET', `/devices/${name}/actions`)).json()).toEqual({ items: [] });
    const patched = await inject('PATCH', `/devices/${name}/attributes`, { rack: 'r2' });
    expect(patched.json().attributes.custom).toEqual({ rack: 'r2' });
    expect((await inject('PUT', `/devices/${name}/tags`, { tags: ['named'] })).json().tags).toEqual(
      ['named'],
    );
    const rotated = await inject('POST', `/devices/${name}/token`);
    expect(rotated.statusCode).toBe(200);
    expect(await authenticate(token)).toBeNull();
    expect((await authenticate(rotated.json().token))?.deviceId).toBe(device.id);
    // Another device named like the first one's id: the id still addresses the first device.
    const impostor = (
      await inject('POST', '/devices', { name: device.id, deviceClassId: classId })
    ).json().device;
    expect((await inject('GET', `/devices/${device.id}`)).json().name).toBe('pump-7.north@site:a');
    expect(impostor.id).not.toBe(device.id);
    const retired = await inject('POST', `/devices/${name}/decommission`);
    expect(retired.json()).toMatchObject({ id: device.id });
    expect(retired.json().decommissionedAt).not.toBeNull();
    const missing = await inject('GET', '/devices/no-such-device');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('RESOURCE_NOT_FOUND');
  });
});
