import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

describeEachDialect('groups and filtered device lists', (dialect) => {
  let server: TestServer;
  let headers: Record<string, string>;
  beforeAll(async () => {
    server = await createTestServer(dialect);
    headers = await server.adminHeaders();
    const cls = await inject('POST', '/device-classes', {
      name: 'thermo-v2',
      vendorName: 'example.com',
      modelName: 'thermo',
    });
    const devices = ['a-1', 'a-2', 'a-3', 'b-1'].map((name, i) => ({
      name,
      deviceClassId: cls.json().id,
      attributes: { region: i % 2 ? 'us' : 'eu' },
      tags: i < 3 ? ['beta'] : [],
    }));
    expect((await inject('POST', '/devices/bulk', { devices })).statusCode).toBe(200);
  });
  afterAll(() => server?.close());

  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
    server.app.inject({
      method,
      url: `/api/v1${url}`,
      headers,
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  const q = encodeURIComponent;

  it('counts and lists devices matching a filter', async () => {
    const filter = 'device.attributes.region == "eu" && "beta" in device.tags';
    expect((await inject('GET', `/devices/count?filter=${q(filter)}`)).json()).toEqual({
      count: 2,
    });
    const list = (await inject('GET', `/devices?filter=${q(filter)}`)).json();
    expect(list.items.map((d: { name: string }) => d.name)).toEqual(['a-1', 'a-3']);
    expect(list.total).toBe(2);
  });

  it('answers a bad filter with a typed problem pointing at the position', async () => {
    const res = await inject(
      'GET',
      `/devices/count?filter=${q('device.name ==\n  size(device.tags)')}`,
    );
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({
      code: 'FILTER_UNSUPPORTED',
      position: { offset: 17, line: 2, column: 3 },
    });
    const syntax = await inject('GET', `/devices?filter=${q('device.name == "x" &&')}`);
    expect(syntax.statusCode).toBe(400);
    expect(syntax.json()).toMatchObject({ code: 'FILTER_INVALID', position: { column: 22 } });
  });

  it('creates static and dynamic groups that filters can name', async () => {
    const pilot = await inject('POST', '/groups', { name: 'pilot', devices: ['a-1', 'b-1'] });
    expect(pilot.statusCode).toBe(201);
    expect(pilot.json()).toMatchObject({ name: 'pilot', kind: 'static', filter: null });
    const eu = await inject('POST', '/groups', {
      name: 'eu',
      filter: 'device.attributes.region == "eu"',
    });
    expect(eu.json()).toMatchObject({ kind: 'dynamic' });
    expect((await inject('GET', '/groups/pilot')).json()).toMatchObject({
      deviceCount: 2,
      members: ['a-1', 'b-1'],
    });
    expect((await inject('GET', '/groups/eu')).json()).toMatchObject({ deviceCount: 2 });
    const both = q('"pilot" in device.groups && "eu" in device.groups');
    expect((await inject('GET', `/devices/count?filter=${both}`)).json()).toEqual({ count: 1 });
    await inject('POST', '/groups/pilot/devices', { add: ['a-3'], remove: ['b-1'] });
    expect((await inject('GET', `/devices/count?filter=${both}`)).json()).toEqual({ count: 2 });
    expect(
      (await inject('GET', '/groups')).json().items.map((g: { name: string }) => g.name),
    ).toEqual(['eu', 'pilot']);
  });

  it('refuses bad groups and changes nothing', async () => {
    const bad = await inject('POST', '/groups', { name: 'x', filter: '"nope" in device.groups' });
    expect(bad.json()).toMatchObject({ code: 'FILTER_INVALID', position: { offset: 0 } });
    expect((await inject('POST', '/groups', { name: 'y', devices: ['missing'] })).json().code).toBe(
      'RESOURCE_NOT_FOUND',
    );
    expect((await inject('POST', '/groups', { name: 'eu', devices: [] })).json().code).toBe(
      'RESOURCE_CONFLICT',
    );
    expect((await inject('POST', '/groups/eu/devices', { add: ['a-1'] })).json().code).toBe(
      'RESOURCE_CONFLICT',
    );
    expect((await inject('GET', '/groups')).json().items).toHaveLength(2);
    // A group another dynamic group's filter names cannot be deleted from under it.
    await inject('POST', '/groups', {
      name: 'eu-pilot',
      filter: '"eu" in device.groups && "pilot" in device.groups',
    });
    expect((await inject('DELETE', '/groups/eu')).json().code).toBe('RESOURCE_CONFLICT');
    expect((await inject('DELETE', '/groups/eu-pilot')).statusCode).toBe(204);
    expect((await inject('DELETE', '/groups/pilot')).statusCode).toBe(204);
    expect((await inject('GET', '/groups/pilot')).statusCode).toBe(404);
  });
});
