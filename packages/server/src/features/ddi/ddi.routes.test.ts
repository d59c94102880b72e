import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ddiFeedback, targetTokenHeaders } from '../../testing/client-protocols.js';
import { type Fleet, seedFleet, signedEnvelope } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { eventsOfAction } from '../actions/action.service.js';

// Every DDI route through the real app: authentication (TargetToken, GatewayToken incl. another
// tenant's and a revoked one), another controller's action, bad input, and the feedback walk.
describeEachDialect('hawkBit DDI API', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let fleet: Fleet;
  let other: Fleet;
  let releaseId: string;
  const payload = randomBytes(70_000);

  const ctl = (i = 0) => fleet.devices[i]!;
  const target = (i = 0) => targetTokenHeaders(ctl(i).token);
  const root = (i = 0, tenant = 'DEFAULT') => `/${tenant}/controller/v1/${ctl(i).id}`;
  const inject = (o: {
    method?: string;
    url: string;
    headers?: Record<string, string>;
    payload?: unknown;
  }) =>
    server.app.inject({
      method: (o.method ?? 'GET') as 'GET',
      url: o.url,
      headers: o.headers ?? {},
      ...(o.payload !== undefined ? { payload: o.payload as object } : {}),
    });

  const assign = async (deviceId: string, extra: Record<string, unknown> = {}) => {
    const res = await inject({
      method: 'POST',
      url: '/api/v1/actions',
      headers: admin,
      payload: { deviceId, releaseId, ...extra },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().id as string;
  };
  const poll = async (i = 0) => {
    const res = await inject({ url: root(i), headers: target(i) });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as {
      config: { polling: { sleep: string } };
      _links: Record<string, { href: string }>;
    };
  };
  const numberOf = (href: string) => Number(href.split('/').at(-1));
  const feedback = ddiFeedback;
  const gatewayToken = async (headers: Record<string, string>, body: object = { name: 'gw' }) => {
    const res = await inject({
      method: 'POST',
      url: '/api/v1/ddi/gateway-tokens',
      headers,
      payload: body,
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { token: string; info: { id: string } };
  };

  beforeAll(async () => {
    server = await createTestServer(dialect);
    admin = { ...(await server.adminHeaders()), 'content-type': 'application/json' };
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 5 });
    other = await seedFleet(server.app.updraft.db, { tenantId: 'ten_other', deviceCount: 1 });
    const envelope = await signedEnvelope(fleet, fleet.key, 5, [payload], '2.0.0');
    const res = await inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: admin,
      payload: {
        deviceClassId: fleet.deviceClassId,
        envelope: Buffer.from(envelope).toString('base64'),
        payloads: [{ data: payload.toString('base64'), fileName: 'update.swu' }],
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    releaseId = res.json().id;
  });
  afterAll(async () => {
    if (process.env.DDI_DEBUG)
      console.log(
        server.logs
          .filter((l) => l.includes('"level":50'))
          .join('\n')
          .slice(0, 3000),
      );
    await server?.close();
  });

  it('answers the root poll with the polling sleep and absolute links, and no deploymentBase when idle', async () => {
    const body = await poll(0);
    expect(body.config.polling.sleep).toBe('00:05:00');
    expect(body._links.deploymentBase).toBeUndefined();
    expect(body._links.configData?.href).toBe(`http://localhost:80${root(0)}/configData`);
  });

  it('refuses a missing, wrong or other-controller TargetToken, an unknown tenant and a malformed header with 401', async () => {
    const cases: Array<[string, Record<string, string>]> = [
      [root(0), {}],
      [root(0), { authorization: `TargetToken updraft_device_${'x'.repeat(43)}` }],
      [root(0), target(1)],
      [root(0, 'nosuchtenant'), target(0)],
      [root(0), { authorization: `Bearer ${ctl(0).token}` }],
      [root(0), { authorization: 'TargetToken' }],
    ];
    for (const [url, headers] of cases) {
      const res = await inject({ url, headers });
      expect(res.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().code).toBe('AUTH_UNAUTHENTICATED');
    }
  });

  it('rejects bad path segments and bad feedback bodies with 400, changing nothing', async () => {
    const actionId = await assign(ctl(2).id);
    const n = numberOf((await poll(2))._links.deploymentBase!.href);
    const url = `${root(2)}/deploymentBase/${n}/feedback`;
    const bad: unknown[] = [
      {},
      { status: { execution: 'exploded', result: { finished: 'none' } } },
      { status: { execution: 'closed', result: { finished: 'maybe' } } },
      {
        status: {
          execution: 'proceeding',
          result: { finished: 'none' },
          details: Array(65).fill('x'),
        },
      },
      {
        status: {
          execution: 'proceeding',
          result: { finished: 'none' },
          details: ['x'.repeat(2049)],
        },
      },
      { status: { execution: 'proceeding', result: { finished: 'none', progress: { cnt: -1 } } } },
    ];
    for (const body of bad) {
      const res = await inject({
        method: 'POST',
        url,
        headers: { ...target(2), 'content-type': 'application/json' },
        payload: body,
      });
      expect(res.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json().code).toBe('HTTP_VALIDATION_FAILED');
    }
    const huge = await inject({
      method: 'POST',
      url,
      headers: { ...target(2), 'content-type': 'application/json' },
      payload: JSON.stringify({ ...feedback('proceeding', 'none'), pad: 'x'.repeat(140_000) }),
    });
    expect(huge.statusCode).toBe(413);
    for (const path of [
      `${root(2)}/deploymentBase/abc`,
      `${root(2)}/deploymentBase/12345678901`,
      '/DEF$AULT/controller/v1/x',
    ]) {
      const res = await inject({ url: path, headers: target(2) });
      expect(res.statusCode, path).toBe(400);
    }
    const events = await eventsOfAction(server.app.updraft.db, fleet.tenantId, actionId);
    expect(events.map((e) => e.status)).toEqual(['assigned']);
    await inject({
      method: 'POST',
      url: `/api/v1/actions/${actionId}/cancel`,
      headers: admin,
      payload: {},
    });
  });

  it('serves deploymentBase with chunks, artifacts, hashes and links, and downloads with Range, HEAD, 416 and .MD5SUM', async () => {
    const actionId = await assign(ctl(0).id, { type: 'forced' });
    const links = (await poll(0))._links;
    const n = numberOf(links.deploymentBase!.href);
    expect(Number.isInteger(n)).toBe(true);
    const res = await inject({ url: `${root(0)}/deploymentBase/${n}`, headers: target(0) });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.id).toBe(String(n));
    expect(body.deployment).toMatchObject({ download: 'forced', update: 'forced' });
    expect(body.deployment.maintenanceWindow).toBeUndefined();
    const [chunk] = body.deployment.chunks;
    expect(chunk).toMatchObject({ part: 'os', version: '2.0.0' });
    const [artifact] = chunk.artifacts;
    expect(artifact).toMatchObject({
      filename: 'update.swu',
      size: payload.length,
      hashes: {
        sha1: createHash('sha1').update(payload).digest('hex'),
        md5: createHash('md5').update(payload).digest('hex'),
        sha256: createHash('sha256').update(payload).digest('hex'),
      },
    });
    const href = new URL(artifact._links['download-http'].href);
    expect(href.pathname).toBe(`${root(0)}/softwaremodules/${releaseId}/artifacts/update.swu`);
    const path = `${href.pathname}${href.search}`;
    // The signed link needs no token (SWUpdate downloads without one).
    const full = await inject({ url: path });
    expect(full.statusCode).toBe(200);
    expect(Buffer.compare(full.rawPayload, payload)).toBe(0);
    const ranged = await inject({ url: path, headers: { range: 'bytes=1000-' } });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.headers['content-range']).toBe(
      `bytes 1000-${payload.length - 1}/${payload.length}`,
    );
    expect(Buffer.compare(ranged.rawPayload, payload.subarray(1000))).toBe(0);
    const past = await inject({ url: path, headers: { range: `bytes=${payload.length}-` } });
    expect(past.statusCode).toBe(416);
    const head = await inject({ method: 'HEAD', url: path });
    expect(head.statusCode).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(payload.length);
    const md5 = new URL(artifact._links['md5sum-http'].href);
    const sum = await inject({ url: `${md5.pathname}${md5.search}` });
    expect(sum.body).toBe(`${createHash('md5').update(payload).digest('hex')}  update.swu\n`);
    // With the device's own token instead of a signature; another controller's token gets 401.
    const own = await inject({ url: href.pathname, headers: target(0) });
    expect(own.statusCode).toBe(200);
    expect((await inject({ url: href.pathname, headers: target(1) })).statusCode).toBe(401);
    expect(
      (await inject({ url: href.pathname.replace(ctl(0).id, ctl(1).id), headers: target(1) }))
        .statusCode,
    ).toBe(404);
    // A tampered signature, or the signed link used under another controller's path.
    const tampered = path.replace(/sig=[^&]+/, `sig=${'A'.repeat(43)}`);
    expect((await inject({ url: tampered })).json().code).toBe('DEVICE_URL_INVALID');
    expect((await inject({ url: path.replace(ctl(0).id, ctl(1).id) })).json().code).toBe(
      'DEVICE_URL_INVALID',
    );
    await inject({
      method: 'POST',
      url: `/api/v1/actions/${actionId}/cancel`,
      headers: admin,
      payload: {},
    });
  });

  it("answers 404 for another controller's action id, on every action route", async () => {
    const n = numberOf((await poll(0))._links.cancelAction!.href);
    for (const [method, path] of [
      ['GET', `deploymentBase/${n}`],
      ['POST', `deploymentBase/${n}/feedback`],
      ['GET', `cancelAction/${n}`],
      ['POST', `cancelAction/${n}/feedback`],
      ['GET', `installedBase/${n}`],
    ] as const) {
      const res = await inject({
        method,
        url: `${root(1)}/${path}`,
        headers: { ...target(1), 'content-type': 'application/json' },
        ...(method === 'POST' ? { payload: feedback('closed', 'success') } : {}),
      });
      expect(res.statusCode, path).toBe(404);
      expect(res.json().code).toBe('RESOURCE_NOT_FOUND');
    }
  });

  it('acknowledges a cancel through cancelAction and its feedback: the action ends canceled', async () => {
    const links = (await poll(0))._links;
    expect(links.deploymentBase).toBeUndefined();
    const n = numberOf(links.cancelAction!.href);
    const cancel = await inject({ url: `${root(0)}/cancelAction/${n}`, headers: target(0) });
    expect(cancel.json()).toEqual({ id: String(n), cancelAction: { stopId: String(n) } });
    const res = await inject({
      method: 'POST',
      url: `${root(0)}/cancelAction/${n}/feedback`,
      headers: { ...target(0), 'content-type': 'application/json' },
      payload: feedback('closed', 'success', ['cancellation acknowledged.']),
    });
    expect(res.statusCode, res.body).toBe(200);
    const actions = (
      await inject({ url: `/api/v1/devices/${ctl(0).id}/actions`, headers: admin })
    ).json();
    const items = (actions.items ?? actions) as Array<{ state: string }>;
    expect(items[0]?.state).toBe('canceled');
    expect((await poll(0))._links.cancelAction).toBeUndefined();
  });

  it('walks proceeding → closed/success through the legal steps in order, then shows installedBase; feedback on the closed action is 410', async () => {
    const actionId = await assign(ctl(3).id);
    const n = numberOf((await poll(3))._links.deploymentBase!.href);
    const url = `${root(3)}/deploymentBase/${n}/feedback`;
    const post = (body: object) =>
      inject({
        method: 'POST',
        url,
        headers: { ...target(3), 'content-type': 'application/json' },
        payload: body,
      });
    expect(
      (await post(feedback('proceeding', 'none', ['Installing Update Chunk Artifacts.'])))
        .statusCode,
    ).toBe(200);
    expect(
      (await post(feedback('proceeding', 'none', ['Update Installed, Testing Pending.'])))
        .statusCode,
    ).toBe(200);
    expect((await post(feedback('closed', 'success', ['Update Installed.']))).statusCode).toBe(200);
    const events = await eventsOfAction(server.app.updraft.db, fleet.tenantId, actionId);
    expect(events.map((e) => e.status)).toEqual([
      'assigned',
      'downloading',
      'downloading',
      'downloaded',
      'installing',
      'success',
    ]);
    expect(events[1]?.progress).toBe(50);
    expect(events.at(-1)?.message).toBe('Update Installed.');
    const links = (await poll(3))._links;
    expect(links.deploymentBase).toBeUndefined();
    expect(numberOf(links.installedBase!.href)).toBe(n);
    const installed = await inject({ url: `${root(3)}/installedBase/${n}`, headers: target(3) });
    expect(installed.json().deployment.chunks[0].artifacts[0].filename).toBe('update.swu');
    const late = await post(feedback('closed', 'success'));
    expect(late.statusCode).toBe(410);
    expect(late.json().code).toBe('DDI_ACTION_CLOSED');
  });

  it('records closed/failure as failure with code DDI_FAILURE and the details as its message', async () => {
    const i = 4;
    const actionId = await assign(ctl(i).id);
    const n = numberOf((await poll(i))._links.deploymentBase!.href);
    const res = await inject({
      method: 'POST',
      url: `${root(i)}/deploymentBase/${n}/feedback`,
      headers: { ...target(i), 'content-type': 'application/json' },
      payload: feedback('closed', 'failure', ['ERROR : Installation failed', 'ERROR : bad sha256']),
    });
    expect(res.statusCode, res.body).toBe(200);
    const last = (await eventsOfAction(server.app.updraft.db, fleet.tenantId, actionId)).at(-1);
    expect(last).toMatchObject({
      status: 'failure',
      code: 'DDI_FAILURE',
      message: 'ERROR : Installation failed\nERROR : bad sha256',
    });
  });

  it('stores configData as reported attributes (merge, then replace)', async () => {
    const put = (payload: object) =>
      inject({
        method: 'PUT',
        url: `${root(1)}/configData`,
        headers: { ...target(1), 'content-type': 'application/json' },
        payload,
      });
    expect((await put({ data: { hwRevision: '2', serial: 'A1' } })).statusCode).toBe(200);
    expect((await put({ mode: 'merge', data: { serial: 'A2' } })).statusCode).toBe(200);
    let device = (await inject({ url: `/api/v1/devices/${ctl(1).id}`, headers: admin })).json();
    expect(device.attributes.reported).toEqual({ hwRevision: '2', serial: 'A2' });
    expect((await put({ mode: 'replace', data: { os: 'linux' } })).statusCode).toBe(200);
    device = (await inject({ url: `/api/v1/devices/${ctl(1).id}`, headers: admin })).json();
    expect(device.attributes.reported).toEqual({ os: 'linux' });
    expect((await put({ data: { 'bad name!': 'x' } })).statusCode).toBe(400);
    expect(
      (
        await put({
          data: Object.fromEntries(Array.from({ length: 65 }, (_, k) => [`k${k}`, 'v'])),
        })
      ).statusCode,
    ).toBe(400);
    expect((await put({ data: { x: 'y'.repeat(257) } })).statusCode).toBe(400);
  });

  it('authenticates gateway tokens: any controller of its tenant, not another tenant, not once revoked; registers unknown controllers only when allowed', async () => {
    const gw = await gatewayToken(admin);
    const gwHeaders = { authorization: `GatewayToken ${gw.token}` };
    expect((await inject({ url: root(1), headers: gwHeaders })).statusCode).toBe(200);
    // Unknown controller, plug-and-play off.
    const unknown = await inject({
      url: '/DEFAULT/controller/v1/new-controller-1',
      headers: gwHeaders,
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('DDI_CONTROLLER_UNKNOWN');
    // Settings: need settings:write; a missing class is refused.
    const bad = await inject({
      method: 'PUT',
      url: '/api/v1/ddi/settings',
      headers: admin,
      payload: { autoRegister: true, deviceClassId: null, pollingSleepSeconds: 60 },
    });
    expect(bad.statusCode).toBe(422);
    const set = await inject({
      method: 'PUT',
      url: '/api/v1/ddi/settings',
      headers: admin,
      payload: { autoRegister: true, deviceClassId: fleet.deviceClassId, pollingSleepSeconds: 90 },
    });
    expect(set.statusCode, set.body).toBe(200);
    const registered = await inject({
      url: '/DEFAULT/controller/v1/new-controller-1',
      headers: gwHeaders,
    });
    expect(registered.statusCode, registered.body).toBe(200);
    expect(registered.json().config.polling.sleep).toBe('00:01:30');
    const listed = (await inject({ url: '/api/v1/devices?limit=100', headers: admin })).json();
    expect(JSON.stringify(listed)).toContain('new-controller-1');
    // Another tenant's gateway token, and its controller through this tenant's path.
    const otherAdmin = await server.tokenFor(['admin'], other.tenantId);
    const otherGw = await gatewayToken({
      authorization: `Bearer ${otherAdmin.token}`,
      'content-type': 'application/json',
    });
    expect(
      (await inject({ url: root(1), headers: { authorization: `GatewayToken ${otherGw.token}` } }))
        .statusCode,
    ).toBe(401);
    expect(
      (
        await inject({
          url: `/DEFAULT/controller/v1/${other.devices[0]!.id}`,
          headers: { authorization: `TargetToken ${other.devices[0]!.token}` },
        })
      ).statusCode,
    ).toBe(401);
    // Listing never shows the token; revoking stops it.
    const list = await inject({ url: '/api/v1/ddi/gateway-tokens', headers: admin });
    expect(list.body).not.toContain(gw.token);
    expect(list.json().items.map((t: { id: string }) => t.id)).toContain(gw.info.id);
    expect(
      (
        await inject({
          method: 'DELETE',
          url: `/api/v1/ddi/gateway-tokens/${gw.info.id}`,
          headers: { authorization: admin.authorization as string },
        })
      ).statusCode,
    ).toBe(204);
    expect((await inject({ url: root(1), headers: gwHeaders })).statusCode).toBe(401);
    expect(
      (
        await inject({
          method: 'DELETE',
          url: `/api/v1/ddi/gateway-tokens/${gw.info.id}`,
          headers: { authorization: admin.authorization as string },
        })
      ).statusCode,
    ).toBe(404);
    await inject({
      method: 'PUT',
      url: '/api/v1/ddi/settings',
      headers: admin,
      payload: { autoRegister: false, deviceClassId: null, pollingSleepSeconds: 300 },
    });
  });

  it('keeps a scoped gateway token to its device class, and the management routes to their permissions', async () => {
    const scoped = await gatewayToken(admin, {
      name: 'scoped',
      deviceClassId: fleet.deviceClassId,
    });
    expect(
      (await inject({ url: root(1), headers: { authorization: `GatewayToken ${scoped.token}` } }))
        .statusCode,
    ).toBe(200);
    const elsewhere = await seedFleet(server.app.updraft.db, { deviceCount: 1 });
    const res = await inject({
      url: `/DEFAULT/controller/v1/${elsewhere.devices[0]!.id}`,
      headers: { authorization: `GatewayToken ${scoped.token}` },
    });
    expect(res.statusCode).toBe(403);
    const support = await server.tokenFor(['auditor']);
    const h = { authorization: `Bearer ${support.token}`, 'content-type': 'application/json' };
    expect(
      (
        await inject({
          method: 'POST',
          url: '/api/v1/ddi/gateway-tokens',
          headers: h,
          payload: { name: 'x' },
        })
      ).statusCode,
    ).toBe(403);
    expect(
      (
        await inject({
          method: 'PUT',
          url: '/api/v1/ddi/settings',
          headers: h,
          payload: { autoRegister: false, deviceClassId: null, pollingSleepSeconds: 60 },
        })
      ).statusCode,
    ).toBe(403);
    expect((await inject({ url: '/api/v1/ddi/gateway-tokens' })).statusCode).toBe(401);
  });
});
