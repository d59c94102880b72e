import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { generateSigningKeyPair } from '@updraft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addDevice,
  addTrustedKey,
  type Fleet,
  seedFleet,
  signedEnvelope,
  snapshot,
} from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

// Every refused input answers a typed 4xx and leaves the database and the blob store as they were.
describeEachDialect('bad input to releases, actions and the device API', (dialect) => {
  let server: TestServer;
  let base: string;
  let admin: Record<string, string>;
  let fleet: Fleet;
  let other: Fleet;
  let clock = Date.now();
  const payload = randomBytes(5000);
  let releaseId: string;
  let actionId: string;
  let payloadUrl: string;

  const json = { 'content-type': 'application/json' };
  const dev = (token: string) => ({ authorization: `Bearer ${token}`, ...json });
  const state = () => snapshot(server.app.updraft.db, server.config.blobs.dir);

  async function upload(
    f: Fleet,
    envelope: Uint8Array,
    payloads: unknown[],
    headers = admin,
  ): Promise<Response> {
    return fetch(`${base}/api/v1/releases`, {
      method: 'POST',
      headers: { ...headers, ...json },
      body: JSON.stringify({
        deviceClassId: f.deviceClassId,
        envelope: Buffer.from(envelope).toString('base64'),
        payloads,
      }),
    });
  }

  async function expectRefused(
    res: Response | Promise<Response>,
    status: number,
    code: string,
  ): Promise<void> {
    const r = await res;
    const body = (await r.json()) as { code?: string; status?: number };
    expect({ status: r.status, code: body.code }).toEqual({ status, code });
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  }

  beforeAll(async () => {
    server = await createTestServer(
      dialect,
      { limits: { bodyBytes: 65_536 } },
      { now: () => new Date(clock) },
    );
    base = await server.app.listen({ port: 0, host: '127.0.0.1' });
    admin = await server.adminHeaders();
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 2 });
    other = await seedFleet(server.app.updraft.db, { tenantId: 'ten_other', deviceCount: 1 });
    const res = await upload(fleet, await signedEnvelope(fleet, fleet.key, 1, [payload]), [
      { data: payload.toString('base64') },
    ]);
    releaseId = ((await res.json()) as { id: string }).id;
    const assigned = await fetch(`${base}/api/v1/actions`, {
      method: 'POST',
      headers: { ...admin, ...json },
      body: JSON.stringify({ deviceId: fleet.devices[0]!.id, releaseId }),
    });
    actionId = ((await assigned.json()) as { id: string }).id;
    const checkIn = await fetch(`${base}/api/device/v1/check-in`, {
      method: 'POST',
      headers: dev(fleet.devices[0]!.token),
      body: '{}',
    });
    payloadUrl = ((await checkIn.json()) as { action: { payloads: { url: string }[] } }).action
      .payloads[0]!.url;
  });
  afterAll(async () => {
    await server?.close();
  });

  describe('release upload', () => {
    it('refuses malformed JSON and wrong types', async () => {
      const before = await state();
      await expectRefused(
        fetch(`${base}/api/v1/releases`, {
          method: 'POST',
          headers: { ...admin, ...json },
          body: '{"deviceClassId": ',
        }),
        400,
        'HTTP_MALFORMED_BODY',
      );
      await expectRefused(
        fetch(`${base}/api/v1/releases`, {
          method: 'POST',
          headers: { ...admin, ...json },
          body: JSON.stringify({ deviceClassId: 5, envelope: [], payloads: {} }),
        }),
        400,
        'HTTP_VALIDATION_FAILED',
      );
      expect(await state()).toEqual(before);
    });

    it('refuses a payload whose digest differs from the manifest, storing nothing', async () => {
      const before = await state();
      const other = Buffer.from(payload);
      other[0]! ^= 1;
      await expectRefused(
        upload(fleet, await signedEnvelope(fleet, fleet.key, 2, [payload]), [
          { data: other.toString('base64') },
        ]),
        422,
        'RELEASE_PAYLOAD_MISMATCH',
      );
      await expectRefused(
        upload(fleet, await signedEnvelope(fleet, fleet.key, 2, [payload]), []),
        422,
        'RELEASE_PAYLOAD_MISSING',
      );
      expect(await state()).toEqual(before);
    });

    it('refuses an envelope signed by an untrusted key, or tampered with', async () => {
      const before = await state();
      const stranger = generateSigningKeyPair('es256');
      await expectRefused(
        upload(fleet, await signedEnvelope(fleet, stranger, 3, [payload]), [
          { data: payload.toString('base64') },
        ]),
        422,
        'RELEASE_KEY_UNTRUSTED',
      );
      const envelope = Buffer.from(await signedEnvelope(fleet, fleet.key, 3, [payload]));
      // Flip a bit inside the manifest (the last bytes): the signed digest no longer matches.
      envelope[envelope.length - 3]! ^= 0x01;
      const res = await upload(fleet, envelope, [{ data: payload.toString('base64') }]);
      expect(res.status).toBe(422);
      expect(['RELEASE_SIGNATURE_INVALID', 'RELEASE_ENVELOPE_INVALID']).toContain(
        ((await res.json()) as { code: string }).code,
      );
      await expectRefused(
        upload(fleet, Buffer.from('not an envelope'), []),
        422,
        'RELEASE_ENVELOPE_INVALID',
      );
      expect(await state()).toEqual(before);
    });

    it('keeps the file name a payload was uploaded under, and refuses a path or odd characters', async () => {
      const before = await state();
      for (const fileName of ['../etc/passwd', 'a/b.swu', '.hidden', 'fw 1.swu', 'x'.repeat(129)]) {
        await expectRefused(
          upload(fleet, await signedEnvelope(fleet, fleet.key, 60, [payload]), [
            { data: payload.toString('base64'), fileName },
          ]),
          400,
          'HTTP_VALIDATION_FAILED',
        );
      }
      expect(await state()).toEqual(before);
      const res = await upload(fleet, await signedEnvelope(fleet, fleet.key, 61, [payload]), [
        { data: payload.toString('base64'), fileName: 'thermo-2.0.swu' },
      ]);
      expect(res.status).toBe(201);
      const created = (await res.json()) as { id: string; payloads: { fileName: string | null }[] };
      expect(created.payloads.map((p) => p.fileName)).toEqual(['thermo-2.0.swu']);
      const read = await fetch(`${base}/api/v1/releases/${created.id}`, { headers: admin });
      expect(((await read.json()) as typeof created).payloads[0]!.fileName).toBe('thermo-2.0.swu');
      const unnamed = (await (
        await fetch(`${base}/api/v1/releases/${releaseId}`, { headers: admin })
      ).json()) as typeof created;
      expect(unnamed.payloads[0]!.fileName).toBeNull();
    });

    it("refuses another class's envelope and a second release with the same sequence number", async () => {
      const before = await state();
      await expectRefused(
        upload(
          fleet,
          await signedEnvelope({ ...fleet, classId: other.classId }, fleet.key, 4, [payload]),
          [{ data: payload.toString('base64') }],
        ),
        422,
        'RELEASE_ENVELOPE_INVALID',
      );
      await expectRefused(
        upload(fleet, await signedEnvelope(fleet, fleet.key, 1, [payload]), [
          { data: payload.toString('base64') },
        ]),
        409,
        'RELEASE_EXISTS',
      );
      expect(await state()).toEqual(before);
    });

    it('refuses a revoked key, and assigning a release it signed', async () => {
      const revocable = generateSigningKeyPair('ed25519');
      const kid = await addTrustedKey(
        server.app.updraft.db,
        fleet.tenantId,
        fleet.deviceClassId,
        revocable,
      );
      const res = await upload(fleet, await signedEnvelope(fleet, revocable, 50, [payload]), [
        { data: payload.toString('base64') },
      ]);
      expect(res.status).toBe(201);
      const signed = (await res.json()) as { id: string };
      await server.app.updraft.db
        .updateTable('trusted_keys')
        .set({ revoked_at: new Date().toISOString() })
        .where('kid', '=', kid)
        .execute();
      const before = await state();
      await expectRefused(
        upload(fleet, await signedEnvelope(fleet, revocable, 51, [payload]), [
          { data: payload.toString('base64') },
        ]),
        422,
        'RELEASE_KEY_UNTRUSTED',
      );
      await expectRefused(
        fetch(`${base}/api/v1/actions`, {
          method: 'POST',
          headers: { ...admin, ...json },
          body: JSON.stringify({ deviceId: fleet.devices[1]!.id, releaseId: signed.id }),
        }),
        409,
        'RELEASE_KEY_REVOKED',
      );
      expect(await state()).toEqual(before);
    });

    it('refuses an oversized body', async () => {
      const before = await state();
      await expectRefused(
        fetch(`${base}/api/device/v1/check-in`, {
          method: 'POST',
          headers: dev(fleet.devices[0]!.token),
          body: JSON.stringify({ attributes: { big: 'x'.repeat(100_000) } }),
        }),
        413,
        'HTTP_BODY_TOO_LARGE',
      );
      expect(await state()).toEqual(before);
    });
  });

  describe('resumable upload', () => {
    it('refuses a chunk at the wrong offset, a too-long chunk and an incomplete upload', async () => {
      const big = randomBytes(200_000);
      let res = await fetch(`${base}/api/v1/uploads`, {
        method: 'POST',
        headers: { ...admin, ...json },
        body: JSON.stringify({ size: big.length }),
      });
      expect(res.status).toBe(201);
      const session = (await res.json()) as { id: string };
      const put = (offset: number, bytes: Uint8Array) =>
        fetch(`${base}/api/v1/uploads/${session.id}?offset=${offset}`, {
          method: 'PUT',
          headers: { ...admin, 'content-type': 'application/octet-stream' },
          body: bytes,
        });
      expect(
        ((await (await put(0, big.subarray(0, 80_000))).json()) as { offset: number }).offset,
      ).toBe(80_000);
      await expectRefused(put(0, big.subarray(0, 80_000)), 409, 'UPLOAD_OFFSET_MISMATCH');
      await expectRefused(put(80_000, randomBytes(200_000)), 413, 'UPLOAD_TOO_LARGE');
      const envelope = await signedEnvelope(fleet, fleet.key, 60, [big]);
      await expectRefused(
        upload(fleet, envelope, [{ uploadId: session.id }]),
        409,
        'UPLOAD_INCOMPLETE',
      );
      // Resume from the acknowledged offset, then the release goes through.
      res = await fetch(`${base}/api/v1/uploads/${session.id}`, { headers: admin });
      expect(await res.json()).toMatchObject({ offset: 80_000, complete: false });
      expect(
        ((await (await put(80_000, big.subarray(80_000))).json()) as { complete: boolean })
          .complete,
      ).toBe(true);
      res = await upload(fleet, envelope, [{ uploadId: session.id }]);
      expect(res.status).toBe(201);
      const release = (await res.json()) as {
        payloads: { sha256: string; sha1: string; md5: string }[];
      };
      expect(release.payloads[0]).toMatchObject({
        sha256: createHash('sha256').update(big).digest('hex'),
        sha1: createHash('sha1').update(big).digest('hex'),
        md5: createHash('md5').update(big).digest('hex'),
      });
      // The session is consumed.
      await expectRefused(
        fetch(`${base}/api/v1/uploads/${session.id}`, { headers: admin }),
        404,
        'RESOURCE_NOT_FOUND',
      );
    });

    it("does not let a tenant touch another tenant's upload", async () => {
      const res = await fetch(`${base}/api/v1/uploads`, {
        method: 'POST',
        headers: { ...admin, ...json },
        body: JSON.stringify({ size: 10 }),
      });
      const session = (await res.json()) as { id: string };
      const stranger = {
        authorization: `Bearer ${(await server.tokenFor(['admin'], 'ten_other')).token}`,
      };
      const before = await state();
      await expectRefused(
        fetch(`${base}/api/v1/uploads/${session.id}`, { headers: stranger }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      await expectRefused(
        fetch(`${base}/api/v1/uploads/${session.id}?offset=0`, {
          method: 'PUT',
          headers: { ...stranger, 'content-type': 'application/octet-stream' },
          body: 'x',
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expect(await state()).toEqual(before);
    });
  });

  describe('tenants', () => {
    it("never shows or assigns another tenant's release, device or action", async () => {
      const stranger = {
        authorization: `Bearer ${(await server.tokenFor(['admin'], 'ten_other')).token}`,
        ...json,
      };
      const before = await state();
      await expectRefused(
        fetch(`${base}/api/v1/releases/${releaseId}`, { headers: stranger }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      await expectRefused(
        fetch(`${base}/api/v1/actions/${actionId}`, { headers: stranger }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      await expectRefused(
        fetch(`${base}/api/v1/actions/${actionId}/cancel`, {
          method: 'POST',
          headers: { authorization: stranger.authorization },
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      await expectRefused(
        fetch(`${base}/api/v1/releases/${releaseId}`, {
          method: 'DELETE',
          headers: { authorization: stranger.authorization },
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      await expectRefused(
        fetch(`${base}/api/v1/actions`, {
          method: 'POST',
          headers: stranger,
          body: JSON.stringify({ deviceId: other.devices[0]!.id, releaseId }),
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      await expectRefused(
        fetch(`${base}/api/v1/actions`, {
          method: 'POST',
          headers: { ...admin, ...json },
          body: JSON.stringify({ deviceId: other.devices[0]!.id, releaseId }),
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expect(
        (
          (await (await fetch(`${base}/api/v1/releases`, { headers: stranger })).json()) as {
            items: unknown[];
          }
        ).items,
      ).toEqual([]);
      // Another tenant's device cannot read or report on this action.
      await expectRefused(
        fetch(`${base}/api/device/v1/actions/${actionId}/envelope`, {
          headers: dev(other.devices[0]!.token),
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      await expectRefused(
        fetch(`${base}/api/device/v1/actions/${actionId}/feedback`, {
          method: 'POST',
          headers: dev(other.devices[0]!.token),
          body: JSON.stringify({ reportId: randomUUID(), status: 'downloading' }),
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expect(await state()).toEqual(before);
    });

    it('refuses a release of another class (accident protection)', async () => {
      const foreign = await seedFleet(server.app.updraft.db, { deviceCount: 1 });
      const before = await state();
      await expectRefused(
        fetch(`${base}/api/v1/actions`, {
          method: 'POST',
          headers: { ...admin, ...json },
          body: JSON.stringify({ deviceId: foreign.devices[0]!.id, releaseId }),
        }),
        409,
        'ACTION_CLASS_MISMATCH',
      );
      expect(await state()).toEqual(before);
    });
  });

  describe('signed download URLs', () => {
    it('refuses a tampered URL, another device, path tricks and an expired URL', async () => {
      const before = await state();
      const url = new URL(payloadUrl, base);
      const tampered = new URL(url);
      tampered.searchParams.set('sig', `${url.searchParams.get('sig')!.slice(0, -2)}AA`);
      await expectRefused(fetch(tampered), 403, 'DEVICE_URL_INVALID');
      const otherDevice = new URL(url);
      otherDevice.searchParams.set('d', fleet.devices[1]!.id);
      await expectRefused(fetch(otherDevice), 403, 'DEVICE_URL_INVALID');
      const otherTenant = new URL(url);
      otherTenant.searchParams.set('t', 'ten_other');
      await expectRefused(fetch(otherTenant), 403, 'DEVICE_URL_INVALID');
      // The right URL presented with another device's credential.
      await expectRefused(
        fetch(url, { headers: { authorization: `Bearer ${fleet.devices[1]!.token}` } }),
        403,
        'DEVICE_URL_INVALID',
      );
      await expectRefused(
        fetch(`${base}/api/device/v1/artifacts/..%2f..%2fmaster.key${url.search}`),
        403,
        'DEVICE_URL_INVALID',
      );
      await expectRefused(
        fetch(url, { headers: { range: `bytes=${payload.length}-` } }),
        416,
        'DEVICE_RANGE_NOT_SATISFIABLE',
      );
      clock += 3 * server.config.device.downloadUrlTtlSeconds * 1000;
      try {
        await expectRefused(fetch(url), 403, 'DEVICE_URL_EXPIRED');
      } finally {
        clock = Date.now();
      }
      expect(await state()).toEqual(before);
      expect((await fetch(url)).status).toBe(200);
    });
  });

  describe('feedback', () => {
    it('refuses an illegal transition and bad reports, recording nothing', async () => {
      const token = fleet.devices[0]!.token;
      const report = (body: Record<string, unknown>) =>
        fetch(`${base}/api/device/v1/actions/${actionId}/feedback`, {
          method: 'POST',
          headers: dev(token),
          body: JSON.stringify(body),
        });
      const before = await state();
      await expectRefused(
        report({ reportId: randomUUID(), status: 'success' }),
        409,
        'ACTION_TRANSITION_INVALID',
      );
      await expectRefused(
        report({ reportId: randomUUID(), status: 'canceled' }),
        409,
        'ACTION_TRANSITION_INVALID',
      );
      await expectRefused(
        report({ reportId: randomUUID(), status: 'failure' }),
        409,
        'ACTION_TRANSITION_INVALID',
      );
      await expectRefused(
        report({ reportId: randomUUID(), status: 'exploded' }),
        400,
        'HTTP_VALIDATION_FAILED',
      );
      await expectRefused(
        report({ reportId: randomUUID(), status: 'downloading', progress: 101 }),
        400,
        'HTTP_VALIDATION_FAILED',
      );
      await expectRefused(
        fetch(`${base}/api/device/v1/actions/${actionId}/feedback`, {
          method: 'POST',
          headers: dev(token),
          body: '{"reportId":',
        }),
        400,
        'HTTP_MALFORMED_BODY',
      );
      await expectRefused(
        fetch(`${base}/api/device/v1/actions/${actionId}/feedback`, {
          method: 'POST',
          headers: dev('updraft_device_not-a-real-token-000000'),
          body: '{}',
        }),
        401,
        'AUTH_UNAUTHENTICATED',
      );
      expect(await state()).toEqual(before);
    });
  });

  it('keeps a device from acting on another device of the same tenant', async () => {
    const intruder = await addDevice(server.app.updraft.db, fleet.tenantId, fleet.deviceClassId);
    const before = await state();
    await expectRefused(
      fetch(`${base}/api/device/v1/actions/${actionId}/envelope`, { headers: dev(intruder.token) }),
      404,
      'RESOURCE_NOT_FOUND',
    );
    await expectRefused(
      fetch(`${base}/api/device/v1/actions/${actionId}/feedback`, {
        method: 'POST',
        headers: dev(intruder.token),
        body: JSON.stringify({ reportId: randomUUID(), status: 'downloading' }),
      }),
      404,
      'RESOURCE_NOT_FOUND',
    );
    expect(await state()).toEqual(before);
  });
});
