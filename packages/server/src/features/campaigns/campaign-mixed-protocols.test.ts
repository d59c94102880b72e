import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ddiFeedback,
  menderAuthBody,
  menderDeviceKey,
  menSignature,
  targetTokenHeaders,
} from '../../testing/client-protocols.js';
import { addDevice, type Fleet, seedFleet, uploadRelease } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { CampaignEngine } from './campaign-engine.js';

interface Reply {
  readonly status: number;
  readonly text: string;
  readonly bytes: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: test-side reading of JSON answers
  readonly json: any;
}

// Issue 13, item 3: one campaign over a native device, a hawkBit DDI controller and a Mender
// device at once, each speaking its own protocol over real HTTP (loopback); every report lands
// in the same actions, campaign statistics and failure reasons, and cancel and pause reach all.
describeEachDialect('one campaign over native, DDI and Mender devices', (dialect) => {
  const CLASS = 'thermo-mixed';
  let server: TestServer;
  let base: string;
  let admin: Record<string, string>;
  let fleet: Fleet;
  let sequence = 1;
  const artifact = randomBytes(30_000);

  type Native = { kind: 'native'; id: string; token: string };
  type Ddi = { kind: 'ddi'; id: string; token: string };
  type Mender = { kind: 'mender'; id: string; name: string; jwt: string };
  let native: Native;
  let ddi: Ddi;
  let mender: Mender;

  async function http(
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: unknown; raw?: Buffer } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    let body: string | Buffer | undefined;
    if (options.raw !== undefined) {
      body = options.raw;
      headers['content-type'] = 'application/json';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(new URL(path, base), { method, headers, body });
    const bytes = Buffer.from(await res.arrayBuffer());
    const text = bytes.toString('utf8');
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, bytes, json };
  }
  /** The management API as the admin; fails the test on anything but 2xx. */
  async function api(method: string, path: string, body?: unknown): Promise<Reply> {
    const res = await http(method, `/api/v1${path}`, { headers: admin, body });
    expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(300);
    return res;
  }
  /** A path from an absolute link the server handed out (its host is this server). */
  const pathOf = (href: string) => {
    const url = new URL(href);
    return `${url.pathname}${url.search}`;
  };

  /** A Mender identity pre-authorised into the class, authenticated with a signed request. */
  async function admitMender(): Promise<Mender> {
    const key = menderDeviceKey('ec');
    const idData = { mac: randomBytes(6).toString('hex') };
    const pre = await api('POST', '/mender/auth-sets', {
      idData: JSON.stringify(idData),
      pubkey: key.pem,
      deviceClass: CLASS,
    });
    const body = menderAuthBody(idData, key);
    const auth = await http('POST', '/api/devices/v1/authentication/auth_requests', {
      headers: { 'x-men-signature': menSignature(key, body) },
      raw: body,
    });
    expect(auth.status, auth.text).toBe(200);
    const device = (await api('GET', `/devices/${pre.json.deviceId}`)).json;
    return { kind: 'mender', id: pre.json.deviceId, name: device.name, jwt: auth.text };
  }

  // --- each protocol's client side ---------------------------------------------------------
  const nativeHeaders = (d: Native) => ({ authorization: `Bearer ${d.token}` });
  const checkIn = async (d: Native) => {
    const res = await http('POST', '/api/device/v1/check-in', {
      headers: nativeHeaders(d),
      body: {},
    });
    expect(res.status, res.text).toBe(200);
    return res.json.action as null | { id: string; cancelRequested: boolean; payloads: unknown[] };
  };
  const nativeReport = async (
    d: Native,
    actionId: string,
    status: string,
    extra: Record<string, unknown> = {},
  ) => {
    const res = await http('POST', `/api/device/v1/actions/${actionId}/feedback`, {
      headers: nativeHeaders(d),
      body: { reportId: randomUUID(), status, ...extra },
    });
    expect(res.status, `${status}: ${res.text}`).toBe(200);
    return res.json as { state: string; cancelRequested: boolean };
  };

  const ddiRoot = (d: Ddi) => `/DEFAULT/controller/v1/${d.id}`;
  const ddiPoll = async (d: Ddi) => {
    const res = await http('GET', ddiRoot(d), { headers: targetTokenHeaders(d.token) });
    expect(res.status, res.text).toBe(200);
    return res.json._links as Record<string, { href: string } | undefined>;
  };
  const ddiNumber = (href: string) => Number(href.split('/').at(-1));
  const ddiFeedbackTo = async (d: Ddi, link: string, body: object) => {
    const res = await http('POST', `${pathOf(link)}/feedback`, {
      headers: targetTokenHeaders(d.token),
      body,
    });
    expect(res.status, res.text).toBe(200);
  };

  const menderHeaders = (d: Mender) => ({ authorization: `Bearer ${d.jwt}` });
  const menderNext = (d: Mender) =>
    http('POST', '/api/devices/v2/deployments/device/deployments/next', {
      headers: menderHeaders(d),
      body: { device_provides: { device_type: CLASS, artifact_name: 'thermo-1.0' } },
    });
  const menderStatus = (d: Mender, deploymentId: string, status: string) =>
    http('PUT', `/api/devices/v1/deployments/device/deployments/${deploymentId}/status`, {
      headers: menderHeaders(d),
      body: { status },
    });

  // --- campaigns ------------------------------------------------------------------------------
  /** A newer release (a `.mender` payload) and a started campaign over the class. */
  async function startCampaign(extra: Record<string, unknown> = {}) {
    sequence += 1;
    const version = `1.${sequence}.0`;
    const releaseId = await uploadRelease(server.app, admin, fleet, sequence, [artifact], version, [
      `thermo-1.${sequence}.mender`,
    ]);
    const created = await api('POST', '/campaigns', {
      name: `mixed ${version}`,
      releaseId,
      filter: 'device.name != ""',
      ...extra,
    });
    const started = await api('POST', `/campaigns/${created.json.id}/start`, {});
    expect(started.json.state).toBe('running');
    return {
      id: created.json.id as string,
      releaseId,
      version,
      fileName: `thermo-1.${sequence}.mender`,
    };
  }
  const status = async (campaignId: string) =>
    (await api('GET', `/campaigns/${campaignId}/status`)).json;
  const targets = async (campaignId: string) =>
    (await api('GET', `/campaigns/${campaignId}/targets?limit=100`)).json.items as {
      deviceId: string;
      status: string;
      code: string | null;
      actionId: string | null;
    }[];
  /** Waits for the engine to give every device `ids` its campaign action; action id by device. */
  async function actionsOf(campaignId: string, ids: readonly string[]) {
    await expect
      .poll(
        async () =>
          (await targets(campaignId)).filter((t) => ids.includes(t.deviceId) && t.actionId !== null)
            .length,
      )
      .toBe(ids.length);
    return new Map((await targets(campaignId)).map((t) => [t.deviceId, t.actionId]));
  }
  const history = async (actionId: string) =>
    (await api('GET', `/actions/${actionId}`)).json as {
      state: string;
      campaignId?: string | null;
      events: { status: string; code: string | null; message: string | null }[];
    };

  beforeAll(async () => {
    server = await createTestServer(dialect);
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    admin = await server.adminHeaders();
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 2, className: CLASS });
    native = { kind: 'native', ...fleet.devices[0]! };
    ddi = { kind: 'ddi', ...fleet.devices[1]! };
    mender = await admitMender();
    expect((await api('PUT', '/campaign-settings', { approvalRequired: false })).json).toEqual({
      approvalRequired: false,
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('takes each device through its own protocol to success: 3 succeeded, one history each', async () => {
    const campaign = await startCampaign();
    const actions = await actionsOf(campaign.id, [native.id, ddi.id, mender.id]);

    // Native: check-in offers the campaign's action; reports walk it to success.
    const offered = await checkIn(native);
    expect(offered?.id).toBe(actions.get(native.id));
    for (const [s, extra] of [
      ['downloading', { progress: 50 }],
      ['downloaded', {}],
      ['installing', {}],
      ['success', {}],
    ] as const)
      await nativeReport(native, offered!.id, s, extra);

    // DDI: the root poll links deploymentBase; the artifact keeps its .mender name; feedback.
    const links = await ddiPoll(ddi);
    const deployment = await http('GET', pathOf(links.deploymentBase!.href), {
      headers: targetTokenHeaders(ddi.token),
    });
    expect(deployment.status, deployment.text).toBe(200);
    const ddiArtifact = deployment.json.deployment.chunks[0].artifacts[0];
    expect(ddiArtifact).toMatchObject({ filename: campaign.fileName, size: artifact.length });
    const downloaded = await http('GET', pathOf(ddiArtifact._links['download-http'].href));
    expect(downloaded.status).toBe(200);
    expect(Buffer.compare(downloaded.bytes, artifact)).toBe(0);
    await ddiFeedbackTo(ddi, links.deploymentBase!.href, ddiFeedback('downloading', 'none'));
    await ddiFeedbackTo(ddi, links.deploymentBase!.href, ddiFeedback('downloaded', 'none'));
    await ddiFeedbackTo(
      ddi,
      links.deploymentBase!.href,
      ddiFeedback('closed', 'success', ['Update Installed.']),
    );

    // Mender: deployments/next offers the same action; artifact through the signed URL; statuses.
    const next = await menderNext(mender);
    expect(next.status, next.text).toBe(200);
    expect(next.json.id).toBe(actions.get(mender.id));
    expect(next.json.artifact.artifact_name).toBe(campaign.version);
    const menderArtifact = await http('GET', pathOf(next.json.artifact.source.uri));
    expect(Buffer.compare(menderArtifact.bytes, artifact)).toBe(0);
    for (const s of ['downloading', 'installing', 'rebooting', 'success'])
      expect((await menderStatus(mender, next.json.id, s)).status).toBe(204);

    // One action history per device, the protocol's reports mapped onto the same states.
    const walk = ['assigned', 'downloading', 'downloaded', 'installing'];
    const expected: Record<string, string[]> = {
      [native.id]: [...walk, 'success'],
      [ddi.id]: [...walk, 'success'],
      [mender.id]: [...walk, 'rebooting', 'success'],
    };
    for (const [deviceId, statuses] of Object.entries(expected)) {
      const actionId = actions.get(deviceId)!;
      const listed = (await api('GET', `/devices/${deviceId}/actions`)).json;
      expect((listed.items ?? listed).map((a: { id: string }) => a.id)).toContain(actionId);
      const h = await history(actionId);
      expect(h.state, deviceId).toBe('success');
      expect(
        h.events.map((e) => e.status),
        deviceId,
      ).toEqual(statuses);
    }
    expect((await history(actions.get(ddi.id)!)).events.at(-1)?.message).toBe('Update Installed.');

    // The campaign's statistics count all three, whatever protocol they spoke.
    await expect.poll(async () => (await status(campaign.id)).totals.succeeded).toBe(3);
    const doc = await status(campaign.id);
    expect(doc.totals).toMatchObject({ targets: 3, succeeded: 3, failed: 0, cancelled: 0 });
    expect(doc.failureReasons).toEqual([]);
    expect((await targets(campaign.id)).map((t) => [t.deviceId, t.status]).sort()).toEqual(
      [native.id, ddi.id, mender.id].map((id) => [id, 'succeeded']).sort(),
    );
  });

  it('lists each protocol failure under its code and pauses itself past the error threshold', async () => {
    const campaign = await startCampaign({ errorThreshold: { percent: 50 } });
    const actions = await actionsOf(campaign.id, [native.id, ddi.id, mender.id]);

    const offered = await checkIn(native);
    await nativeReport(native, offered!.id, 'downloading', { progress: 10 });
    await nativeReport(native, offered!.id, 'failure', {
      code: 'FLASH_WRITE_FAILED',
      message: 'write error at 0x4000',
    });
    // One failure in three (33 %) is under the threshold: the campaign goes on.
    await expect
      .poll(async () => (await targets(campaign.id)).find((t) => t.deviceId === native.id)?.status)
      .toBe('failed');

    const links = await ddiPoll(ddi);
    await ddiFeedbackTo(
      ddi,
      links.deploymentBase!.href,
      ddiFeedback('closed', 'failure', ['ERROR : Installation failed']),
    );
    const next = await menderNext(mender);
    expect(next.json.id).toBe(actions.get(mender.id));
    expect((await menderStatus(mender, next.json.id, 'downloading')).status).toBe(204);
    expect((await menderStatus(mender, next.json.id, 'failure')).status).toBe(204);
    const log = await http(
      'PUT',
      `/api/devices/v1/deployments/device/deployments/${next.json.id}/log`,
      {
        headers: menderHeaders(mender),
        body: {
          messages: [
            {
              timestamp: '2026-12-03T12:00:00Z',
              level: 'error',
              message: 'ArtifactInstall: exit 1',
            },
          ],
        },
      },
    );
    expect(log.status).toBe(204);

    await expect
      .poll(async () => {
        const s = await status(campaign.id);
        return [s.state, s.stateReason];
      })
      .toEqual(['paused', 'error-threshold']);
    const doc = await status(campaign.id);
    expect(doc.totals).toMatchObject({ targets: 3, failed: 3 });
    const reasons = [...doc.failureReasons].sort((a: { code: string }, b: { code: string }) =>
      a.code.localeCompare(b.code),
    );
    expect(reasons).toEqual([
      {
        code: 'DDI_FAILURE',
        count: 1,
        devices: [ddi.id],
        examples: [{ id: ddi.id, name: ddi.id }],
      },
      {
        code: 'FLASH_WRITE_FAILED',
        count: 1,
        devices: [native.id],
        examples: [{ id: native.id, name: native.id }],
      },
      {
        code: 'MENDER_FAILURE',
        count: 1,
        devices: [mender.name],
        examples: [{ id: mender.id, name: mender.name }],
      },
    ]);
    // The histories keep each protocol's words: the native message, DDI details, Mender log.
    expect((await history(actions.get(native.id)!)).events.at(-1)).toMatchObject({
      status: 'failure',
      code: 'FLASH_WRITE_FAILED',
      message: 'write error at 0x4000',
    });
    expect((await history(actions.get(ddi.id)!)).events.at(-1)).toMatchObject({
      status: 'failure',
      code: 'DDI_FAILURE',
      message: 'ERROR : Installation failed',
    });
    const menderEvents = (await history(actions.get(mender.id)!)).events;
    expect(menderEvents.find((e) => e.code === 'MENDER_FAILURE')?.status).toBe('failure');
    expect(menderEvents.find((e) => e.code === 'MENDER_DEPLOYMENT_LOG')?.message).toContain(
      'ArtifactInstall: exit 1',
    );
    await api('POST', `/campaigns/${campaign.id}/cancel`);
  });

  it('reaches all three with a cancel once they are downloading; each ends canceled its own way', async () => {
    const campaign = await startCampaign();
    const actions = await actionsOf(campaign.id, [native.id, ddi.id, mender.id]);
    const offered = await checkIn(native);
    await nativeReport(native, offered!.id, 'downloading', { progress: 30 });
    const deploymentBase = (await ddiPoll(ddi)).deploymentBase!.href;
    await ddiFeedbackTo(ddi, deploymentBase, ddiFeedback('downloading', 'none'));
    const next = await menderNext(mender);
    expect((await menderStatus(mender, next.json.id, 'downloading')).status).toBe(204);
    for (const actionId of actions.values())
      expect((await history(actionId!)).state).toBe('downloading');

    expect((await api('POST', `/campaigns/${campaign.id}/cancel`)).json.state).toBe('cancelled');

    // Native: the check-in carries the cancel request; the device acknowledges it.
    const again = await checkIn(native);
    expect(again).toMatchObject({ id: offered!.id, cancelRequested: true });
    expect((await nativeReport(native, offered!.id, 'canceled')).state).toBe('canceled');

    // DDI: the root poll links cancelAction instead of deploymentBase; closed/success acknowledges.
    const links = await ddiPoll(ddi);
    expect(links.deploymentBase).toBeUndefined();
    const n = ddiNumber(links.cancelAction!.href);
    expect(n).toBe(ddiNumber(deploymentBase));
    const cancelAction = await http('GET', pathOf(links.cancelAction!.href), {
      headers: targetTokenHeaders(ddi.token),
    });
    expect(cancelAction.json).toEqual({ id: String(n), cancelAction: { stopId: String(n) } });
    await ddiFeedbackTo(ddi, links.cancelAction!.href, ddiFeedback('closed', 'success'));
    expect((await ddiPoll(ddi)).cancelAction).toBeUndefined();

    // Mender: no cancel message; its next status report is refused, which aborts the client.
    const refused = await menderStatus(mender, next.json.id, 'installing');
    expect(refused.status).toBe(409);
    expect(refused.json.code).toBe('MENDER_DEPLOYMENT_ABORTED');
    expect((await menderNext(mender)).status).toBe(204);

    for (const [deviceId, actionId] of actions) {
      const h = await history(actionId!);
      expect(h.state, deviceId).toBe('canceled');
      expect(h.events.map((e) => e.status)).toContain('cancel_requested');
    }
    await expect.poll(async () => (await status(campaign.id)).totals.cancelled).toBe(3);
    expect((await targets(campaign.id)).every((t) => t.status === 'cancelled')).toBe(true);
  });

  it('offers nothing new to a DDI controller or Mender device while the campaign is paused', async () => {
    // Two more devices that have had no action in any campaign yet.
    const spare = await addDevice(server.app.updraft.db, fleet.tenantId, fleet.deviceClassId);
    const ddi2: Ddi = { kind: 'ddi', ...spare };
    const mender2 = await admitMender();
    // Phase 0 is the native device alone; everyone else waits for phase 1.
    const campaign = await startCampaign({
      phases: [{ count: 1, filter: `device.name == "${native.id}"` }, { percent: 100 }],
    });
    const first = await actionsOf(campaign.id, [native.id]);
    await api('POST', `/campaigns/${campaign.id}/pause`, { comment: 'hold on' });
    const offered = await checkIn(native);
    expect(offered?.id).toBe(first.get(native.id));
    for (const s of ['downloading', 'downloaded', 'installing', 'success'])
      await nativeReport(native, offered!.id, s);
    // Phase 0 passed its success threshold, but the campaign is paused: no new actions.
    await expect.poll(async () => (await status(campaign.id)).phases[0].counts.succeeded).toBe(1);
    // A full engine pass (the poke after the report may still be under way) changes nothing.
    const engine = server.app.wiring.campaigns.engine;
    expect(engine).toBeInstanceOf(CampaignEngine);
    await (engine as CampaignEngine).tick();
    for (const d of [ddi, ddi2]) {
      const links = await ddiPoll(d);
      expect(links.deploymentBase, d.id).toBeUndefined();
    }
    for (const d of [mender, mender2]) expect((await menderNext(d)).status, d.id).toBe(204);
    expect((await status(campaign.id)).state).toBe('paused');
    expect((await targets(campaign.id)).filter((t) => t.actionId !== null)).toHaveLength(1);

    // Resumed, the next phase reaches both protocols at once.
    await api('POST', `/campaigns/${campaign.id}/resume`);
    const all = await actionsOf(campaign.id, [ddi.id, ddi2.id, mender.id, mender2.id]);
    for (const d of [ddi, ddi2]) {
      const href = (await ddiPoll(d)).deploymentBase?.href;
      expect(href, d.id).toBeDefined();
    }
    for (const d of [mender, mender2]) {
      const next = await menderNext(d);
      expect(next.status).toBe(200);
      expect(next.json.id).toBe(all.get(d.id));
    }
    await api('POST', `/campaigns/${campaign.id}/cancel`);
  });
});
