import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type MenderDeviceKey as DeviceKey,
  menderDeviceKey as deviceKey,
  menderAuthBody,
  menSignature,
} from '../../testing/client-protocols.js';
import { type Fleet, seedFleet, signedEnvelope } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

// Every Mender route over HTTP: authentication (signature, key types, admission, tokens),
// deployments mapped onto actions, downloads through signed URLs, status, log and inventory.
describeEachDialect('Mender device API', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let fleet: Fleet;
  let clockMs = Date.parse('2026-12-03T12:00:00Z');

  beforeAll(async () => {
    server = await createTestServer(
      dialect,
      { device: { menderTokenTtlSeconds: 600, downloadUrlTtlSeconds: 300 } },
      { now: () => new Date(clockMs) },
    );
    admin = { ...(await server.adminHeaders()), 'content-type': 'application/json' };
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 0, className: 'gateway' });
  });
  afterAll(async () => {
    await server?.close();
  });

  const inject = (o: {
    method: string;
    url: string;
    headers?: Record<string, string>;
    payload?: unknown;
  }) =>
    server.app.inject(o as InjectOptions) as unknown as Promise<{
      statusCode: number;
      body: string;
      rawPayload: Buffer;
      headers: Record<string, unknown>;
      json(): Record<string, unknown>;
    }>;

  const authBody = menderAuthBody;
  const authRequest = (body: Buffer, signature: string | undefined) =>
    inject({
      method: 'POST',
      url: '/api/devices/v1/authentication/auth_requests',
      headers: {
        'content-type': 'application/json',
        ...(signature === undefined ? {} : { 'x-men-signature': signature }),
      },
      payload: body,
    });
  const preauthorize = (idData: object, key: DeviceKey) =>
    inject({
      method: 'POST',
      url: '/api/v1/mender/auth-sets',
      headers: admin,
      payload: { idData: JSON.stringify(idData), pubkey: key.pem, deviceClass: 'gateway' },
    });
  /** Pre-authorises a fresh identity and authenticates it; its token and device id. */
  const admitted = async (alg: DeviceKey['alg'] = 'ec') => {
    const key = deviceKey(alg);
    const idData = { mac: randomBytes(6).toString('hex') };
    const pre = await preauthorize(idData, key);
    expect(pre.statusCode).toBe(201);
    const body = authBody(idData, key);
    const res = await authRequest(body, menSignature(key, body));
    expect(res.statusCode).toBe(200);
    return { token: res.body, deviceId: pre.json().deviceId as string, key, idData };
  };
  const bearer = (token: string) => ({
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  });

  describe('auth_requests', () => {
    it.each(['rsa', 'ec', 'ed25519'] as const)(
      'answers a token to a pre-authorised %s key whose signature verifies',
      async (alg) => {
        const { token } = await admitted(alg);
        expect(token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
      },
    );

    it('refuses a body altered after signing, a missing signature and another key', async () => {
      const key = deviceKey('rsa');
      const idData = { mac: 'aa:bb:cc:00:00:01' };
      expect((await preauthorize(idData, key)).statusCode).toBe(201);
      const body = authBody(idData, key);
      const signature = menSignature(key, body);
      const tampered = Buffer.from(body.toString().replace('aa:bb', 'aa:bc'));
      let res = await authRequest(tampered, signature);
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('MENDER_SIGNATURE_INVALID');
      res = await authRequest(body, undefined);
      expect(res.json().code).toBe('MENDER_SIGNATURE_INVALID');
      res = await authRequest(body, menSignature(deviceKey('rsa'), body));
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('MENDER_SIGNATURE_INVALID');
      // The genuine request still passes: nothing above changed the auth set.
      res = await authRequest(body, signature);
      expect(res.statusCode).toBe(200);
    });

    it('refuses key types mender-client does not use (P-384, RSA-1024) and garbage keys', async () => {
      const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
      for (const pair of [p384, rsa1024]) {
        const key: DeviceKey = {
          privateKey: pair.privateKey,
          pem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
          alg: 'ec',
        };
        const body = authBody({ mac: 'x' }, key);
        const res = await authRequest(body, menSignature(key, body));
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toBe('MENDER_KEY_UNSUPPORTED');
      }
      const body = Buffer.from(
        JSON.stringify({ id_data: '{"mac":"x"}', pubkey: '-----BEGIN PUBLIC KEY-----\nAAAA\n' }),
      );
      const res = await authRequest(body, 'AAAA');
      expect(res.json().code).toBe('MENDER_KEY_UNSUPPORTED');
    });

    it('refuses malformed bodies and id_data, and bodies over 16 KiB', async () => {
      const key = deviceKey('ed25519');
      for (const body of [
        Buffer.from('not json'),
        Buffer.from(JSON.stringify({ id_data: 5, pubkey: key.pem })),
        authBody([1, 2] as unknown as object, key),
        Buffer.from(JSON.stringify({ id_data: '{"mac":{"nested":1}}', pubkey: key.pem })),
      ]) {
        const res = await authRequest(body, menSignature(key, body));
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toMatch(/^(MENDER_AUTH_REQUEST_INVALID|HTTP_MALFORMED_BODY)$/);
      }
      const big = authBody({ mac: 'y', pad: 'x'.repeat(17_000) }, key);
      const res = await authRequest(big, menSignature(key, big));
      expect(res.statusCode).toBe(413);
    });

    it('registers an unknown identity as pending in the mender class; accept admits it, reject revokes its token at once', async () => {
      const key = deviceKey('ec');
      const idData = { mac: 'de:ad:be:ef:00:01', serial: 'S1' };
      const body = authBody(idData, key);
      // No class named `mender` yet: refused, nothing registered.
      let res = await authRequest(body, menSignature(key, body));
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('MENDER_IDENTITY_REFUSED');
      await seedFleet(server.app.updraft.db, { deviceCount: 0, className: 'mender' });
      res = await authRequest(body, menSignature(key, body));
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('MENDER_DEVICE_NOT_ACCEPTED');
      const list = await inject({
        method: 'GET',
        url: '/api/v1/mender/auth-sets?status=pending',
        headers: admin,
      });
      const pending = (
        list.json().items as { deviceId: string; deviceName: string; idData: object }[]
      ).find(
        (s) =>
          JSON.stringify(s.idData) === JSON.stringify({ mac: 'de:ad:be:ef:00:01', serial: 'S1' }),
      );
      expect(pending?.deviceName).toMatch(/^mender-[0-9a-f]{16}$/);
      const deviceId = pending!.deviceId;
      // The same identity with another key is refused (key rotation goes through pre-authorisation).
      const other = deviceKey('ec');
      const otherBody = authBody(idData, other);
      res = await authRequest(otherBody, menSignature(other, otherBody));
      expect(res.json().code).toBe('MENDER_IDENTITY_REFUSED');

      res = await inject({
        method: 'POST',
        url: `/api/v1/devices/${deviceId}/admission`,
        headers: admin,
        payload: { decision: 'accept' },
      });
      expect(res.statusCode).toBe(200);
      res = await authRequest(body, menSignature(key, body));
      expect(res.statusCode).toBe(200);
      const token = res.body;
      res = await inject({
        method: 'GET',
        url: '/api/devices/v1/deployments/device/deployments/next',
        headers: bearer(token),
      });
      expect(res.statusCode).toBe(204);

      res = await inject({
        method: 'POST',
        url: `/api/v1/devices/${deviceId}/admission`,
        headers: admin,
        payload: { decision: 'reject' },
      });
      expect(res.statusCode).toBe(200);
      res = await inject({
        method: 'GET',
        url: '/api/devices/v1/deployments/device/deployments/next',
        headers: bearer(token),
      });
      expect(res.statusCode).toBe(401);
      res = await authRequest(body, menSignature(key, body));
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({
        code: 'MENDER_DEVICE_NOT_ACCEPTED',
        detail: 'the device is rejected',
      });
    });

    it('pre-authorising is audited; the same identity and key twice is a conflict', async () => {
      const key = deviceKey('ed25519');
      expect((await preauthorize({ mac: 'twice' }, key)).statusCode).toBe(201);
      const res = await preauthorize({ mac: 'twice' }, key);
      expect(res.statusCode).toBe(409);
      const entries = await server.app.updraft.db
        .selectFrom('audit_log')
        .select(['action', 'outcome', 'status'])
        .where('action', '=', 'mender.auth-set.preauthorize')
        .execute();
      expect(entries.map((e) => e.outcome)).toContain('success');
    });
  });

  describe('tokens', () => {
    it('refuses a missing, forged or expired token', async () => {
      const { token } = await admitted();
      const url = '/api/devices/v1/deployments/device/deployments/next';
      let res = await inject({ method: 'GET', url });
      expect(res.statusCode).toBe(401);
      const [h, p, s] = token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
      const forgedPayload = Buffer.from(
        JSON.stringify({ ...claims, sub: 'dev_someoneelse' }),
      ).toString('base64url');
      for (const forged of [`${h}.${forgedPayload}.${s}`, `${h}.${p}.${s.slice(0, -2)}AA`]) {
        res = await inject({ method: 'GET', url, headers: bearer(forged) });
        expect(res.statusCode).toBe(401);
      }
      res = await inject({ method: 'GET', url, headers: bearer(token) });
      expect(res.statusCode).toBe(204);
      clockMs += 601_000;
      res = await inject({ method: 'GET', url, headers: bearer(token) });
      expect(res.statusCode).toBe(401);
    });
  });

  describe('deployments', () => {
    const artifact = randomBytes(40_000);
    let sequence = 10;

    async function release(fileName: string): Promise<string> {
      sequence += 1;
      const envelope = await signedEnvelope(
        fleet,
        fleet.key,
        sequence,
        [artifact],
        `2.0.${sequence}`,
      );
      const res = await inject({
        method: 'POST',
        url: '/api/v1/releases',
        headers: admin,
        payload: {
          deviceClassId: fleet.deviceClassId,
          envelope: Buffer.from(envelope).toString('base64'),
          payloads: [{ data: artifact.toString('base64'), fileName }],
        },
      });
      expect(res.statusCode).toBe(201);
      return res.json().id as string;
    }
    async function assign(deviceId: string, releaseId: string): Promise<string> {
      const res = await inject({
        method: 'POST',
        url: '/api/v1/actions',
        headers: admin,
        payload: { deviceId, releaseId },
      });
      expect(res.statusCode).toBe(201);
      return res.json().id as string;
    }
    const history = async (actionId: string) =>
      (
        await inject({ method: 'GET', url: `/api/v1/actions/${actionId}`, headers: admin })
      ).json() as {
        state: string;
        events: { status: string; code: string | null; message: string | null }[];
      };

    it('offers the open action in Mender shape on v2 POST, v1 POST and v1 GET, and serves its artifact with Range', async () => {
      const { token, deviceId } = await admitted('rsa');
      const releaseId = await release('rootfs-2.mender');
      const actionId = await assign(deviceId, releaseId);
      const answers = [
        await inject({
          method: 'POST',
          url: '/api/devices/v2/deployments/device/deployments/next',
          headers: bearer(token),
          payload: { device_provides: { device_type: 'qemux86-64', artifact_name: 'old' } },
        }),
        await inject({
          method: 'POST',
          url: '/api/devices/v1/deployments/device/deployments/next',
          headers: bearer(token),
          payload: { device_type: 'qemux86-64', artifact_name: 'old' },
        }),
        await inject({
          method: 'GET',
          url: '/api/devices/v1/deployments/device/deployments/next?device_type=qemux86-64&artifact_name=old',
          headers: bearer(token),
        }),
      ];
      for (const res of answers) {
        expect(res.statusCode).toBe(200);
        expect(res.json()).toMatchObject({
          id: actionId,
          artifact: {
            artifact_name: `2.0.${sequence}`,
            device_types_compatible: ['qemux86-64'],
            source: {
              uri: expect.stringMatching(
                /^http:\/\/.+\/api\/device\/v1\/artifacts\/[0-9a-f]{64}\?/,
              ),
            },
          },
        });
      }
      const source = (answers[0]!.json().artifact as { source: { uri: string; expire: string } })
        .source;
      expect(Date.parse(source.expire)).toBeGreaterThan(clockMs);
      const url = new URL(source.uri);
      const path = `${url.pathname}${url.search}`;
      let res = await inject({ method: 'GET', url: path, headers: { range: 'bytes=100-199' } });
      expect(res.statusCode).toBe(206);
      expect(res.rawPayload).toEqual(artifact.subarray(100, 200));
      // Altered: another digest, a changed expiry, a flipped signature.
      const altered = [
        path.replace(
          /artifacts\/[0-9a-f]/,
          (m) => `${m.slice(0, -1)}${m.endsWith('0') ? '1' : '0'}`,
        ),
        path.replace(/exp=(\d+)/, (_m, e) => `exp=${Number(e) + 3600}`),
        path.replace(/sig=([\w-])/, (_m, c) => `sig=${c === 'A' ? 'B' : 'A'}`),
      ];
      for (const p of altered) {
        res = await inject({ method: 'GET', url: p });
        expect(res.statusCode).toBe(403);
        expect(res.json().code).toBe('DEVICE_URL_INVALID');
      }
      clockMs += 1_000_000;
      res = await inject({ method: 'GET', url: path });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('DEVICE_URL_EXPIRED');
    });

    it('counts every deployments poll and status report as the device seen (campaign soak and health)', async () => {
      const { token, deviceId } = await admitted('ed25519');
      const db = server.app.updraft.db;
      const lastSeen = async () =>
        (
          await db
            .selectFrom('devices')
            .select('last_seen_at')
            .where('id', '=', deviceId)
            .executeTakeFirstOrThrow()
        ).last_seen_at;
      await db
        .updateTable('devices')
        .set({ last_seen_at: null })
        .where('id', '=', deviceId)
        .execute();
      const res = await inject({
        method: 'GET',
        url: '/api/devices/v1/deployments/device/deployments/next?device_type=qemux86-64&artifact_name=old',
        headers: bearer(token),
      });
      expect(res.statusCode).toBe(204);
      // Batched by the last-seen tracker (one write per flush interval, 5 s).
      await expect.poll(lastSeen, { timeout: 15_000, interval: 250 }).not.toBeNull();
    }, 30_000);

    it('walks statuses onto the action through the legal steps and closes it with success', async () => {
      const { token, deviceId } = await admitted('ed25519');
      const actionId = await assign(deviceId, await release('app.mender'));
      const put = (status: string) => {
        clockMs += 1000;
        return inject({
          method: 'PUT',
          url: `/api/devices/v1/deployments/device/deployments/${actionId}/status`,
          headers: bearer(token),
          payload: { status },
        });
      };
      expect((await put('installing')).statusCode).toBe(204);
      let h = await history(actionId);
      expect(h.state).toBe('installing');
      // reportPath's shortest legal walk: assigned → downloaded → installing.
      expect(h.events.map((e) => e.status)).toEqual(['assigned', 'downloaded', 'installing']);
      expect((await put('rebooting')).statusCode).toBe(204);
      // A stale status (behind the action's state) changes nothing and does not abort.
      expect((await put('downloading')).statusCode).toBe(204);
      expect((await history(actionId)).state).toBe('rebooting');
      expect((await put('success')).statusCode).toBe(204);
      // A repeated final status changes nothing.
      expect((await put('success')).statusCode).toBe(204);
      h = await history(actionId);
      expect(h.state).toBe('success');
      expect(h.events.map((e) => e.status)).toEqual([
        'assigned',
        'downloaded',
        'installing',
        'rebooting',
        'success',
      ]);
      const res = await inject({
        method: 'GET',
        url: '/api/devices/v1/deployments/device/deployments/next',
        headers: bearer(token),
      });
      expect(res.statusCode).toBe(204);
    });

    it.each([
      ['already-installed', 'success', null],
      ['noartifact', 'rejected', 'MENDER_NO_ARTIFACT'],
      ['pause_before_installing', 'downloaded', null],
      ['pause_before_committing', 'rebooting', null],
    ] as const)('maps %s from a fresh action to %s', async (status, state, code) => {
      const { token, deviceId } = await admitted('ec');
      const actionId = await assign(deviceId, await release(`${status}.mender`));
      clockMs += 1000;
      const res = await inject({
        method: 'PUT',
        url: `/api/devices/v1/deployments/device/deployments/${actionId}/status`,
        headers: bearer(token),
        payload: { status },
      });
      expect(res.statusCode).toBe(204);
      const h = await history(actionId);
      expect(h.state).toBe(state);
      expect(h.events.at(-1)).toMatchObject({ status: state, code });
    });

    it('records failure with MENDER_FAILURE and keeps the uploaded log (its tail) in the history', async () => {
      const { token, deviceId } = await admitted('ec');
      const actionId = await assign(deviceId, await release('bad.mender'));
      const base = `/api/devices/v1/deployments/device/deployments/${actionId}`;
      let res = await inject({
        method: 'PUT',
        url: `${base}/status`,
        headers: bearer(token),
        payload: { status: 'downloading' },
      });
      expect(res.statusCode).toBe(204);
      res = await inject({
        method: 'PUT',
        url: `${base}/status`,
        headers: bearer(token),
        payload: { status: 'failure' },
      });
      expect(res.statusCode).toBe(204);
      const lines = Array.from({ length: 200 }, (_, i) => ({
        timestamp: '2026-12-03T12:00:00Z',
        level: 'error',
        message: `line ${i} ${'x'.repeat(40)}`,
      }));
      res = await inject({
        method: 'PUT',
        url: `${base}/log`,
        headers: bearer(token),
        payload: { messages: lines },
      });
      expect(res.statusCode).toBe(204);
      const h = await history(actionId);
      expect(h.state).toBe('failure');
      expect(
        h.events.find((e) => e.status === 'failure' && e.code === 'MENDER_FAILURE'),
      ).toBeDefined();
      const log = h.events.find((e) => e.code === 'MENDER_DEPLOYMENT_LOG');
      expect(log?.message).toContain('line 199');
      expect(log?.message).not.toContain('line 0 ');
      expect(log!.message!.length).toBeLessThanOrEqual(4096);
      // Closed: a later status is refused with 409, which stops mender-client.
      res = await inject({
        method: 'PUT',
        url: `${base}/status`,
        headers: bearer(token),
        payload: { status: 'installing' },
      });
      expect(res.statusCode).toBe(409);
      expect(res.json().code).toBe('MENDER_DEPLOYMENT_ABORTED');
    });

    it("refuses another device's deployment id, unknown statuses and answers 409 after a cancel", async () => {
      const a = await admitted('ec');
      const b = await admitted('ec');
      const actionId = await assign(a.deviceId, await release('x.mender'));
      const url = `/api/devices/v1/deployments/device/deployments/${actionId}`;
      let res = await inject({
        method: 'PUT',
        url: `${url}/status`,
        headers: bearer(b.token),
        payload: { status: 'downloading' },
      });
      expect(res.statusCode).toBe(404);
      res = await inject({
        method: 'PUT',
        url: `${url}/log`,
        headers: bearer(b.token),
        payload: { messages: [{ message: 'x' }] },
      });
      expect(res.statusCode).toBe(404);
      res = await inject({
        method: 'PUT',
        url: `${url}/status`,
        headers: bearer(a.token),
        payload: { status: 'exploded' },
      });
      expect(res.statusCode).toBe(400);
      res = await inject({
        method: 'PUT',
        url: '/api/devices/v1/deployments/device/deployments/not-an-id/status',
        headers: bearer(a.token),
        payload: { status: 'downloading' },
      });
      expect(res.statusCode).toBe(400);
      expect(
        (
          await inject({
            method: 'PUT',
            url: `${url}/status`,
            headers: bearer(a.token),
            payload: { status: 'downloading' },
          })
        ).statusCode,
      ).toBe(204);
      res = await inject({
        method: 'POST',
        url: `/api/v1/actions/${actionId}/cancel`,
        headers: admin,
        payload: {},
      });
      expect(res.statusCode).toBeLessThan(300);
      res = await inject({
        method: 'PUT',
        url: `${url}/status`,
        headers: bearer(a.token),
        payload: { status: 'downloading' },
      });
      expect(res.statusCode).toBe(409);
      expect(res.json().code).toBe('MENDER_DEPLOYMENT_ABORTED');
      expect((await history(actionId)).state).toBe('canceled');
    });

    it('fails an action whose release has no .mender payload with MENDER_PAYLOAD_MISSING and offers nothing', async () => {
      const { token, deviceId } = await admitted('ec');
      const actionId = await assign(deviceId, await release('firmware.swu'));
      clockMs += 1000; // the history orders by time: keep the assignment first
      const res = await inject({
        method: 'GET',
        url: '/api/devices/v1/deployments/device/deployments/next',
        headers: bearer(token),
      });
      expect(res.statusCode).toBe(204);
      const h = await history(actionId);
      expect(h.state).toBe('failure');
      expect(h.events.map((e) => [e.status, e.code])).toEqual([
        ['assigned', null],
        ['failure', 'MENDER_PAYLOAD_MISSING'],
      ]);
    });
  });

  describe('inventory', () => {
    it('replaces (PUT) and merges (PATCH) reported attributes, bounded', async () => {
      const { token, deviceId } = await admitted('ec');
      const url = '/api/devices/v1/inventory/device/attributes';
      let res = await inject({
        method: 'PUT',
        url,
        headers: bearer(token),
        payload: [
          { name: 'device_type', value: 'qemux86-64' },
          { name: 'artifact_name', value: 'release-1' },
          { name: 'ipv4_eth0', value: ['10.0.0.2/24', '10.0.0.3/24'] },
          { name: 'mem_total_kB', value: 1024 },
        ],
      });
      expect(res.statusCode).toBe(200);
      res = await inject({
        method: 'PATCH',
        url,
        headers: bearer(token),
        payload: [{ name: 'artifact_name', value: 'release-2' }],
      });
      expect(res.statusCode).toBe(200);
      res = await inject({ method: 'GET', url: `/api/v1/devices/${deviceId}`, headers: admin });
      expect((res.json().attributes as { reported: unknown }).reported).toEqual({
        device_type: 'qemux86-64',
        artifact_name: 'release-2',
        ipv4_eth0: '10.0.0.2/24,10.0.0.3/24',
        mem_total_kB: 1024,
      });
      res = await inject({
        method: 'PUT',
        url,
        headers: bearer(token),
        payload: [{ name: 'device_type', value: 'qemux86-64' }],
      });
      res = await inject({ method: 'GET', url: `/api/v1/devices/${deviceId}`, headers: admin });
      expect((res.json().attributes as { reported: unknown }).reported).toEqual({
        device_type: 'qemux86-64',
      });
      for (const payload of [
        Array.from({ length: 257 }, (_, i) => ({ name: `a${i}`, value: 'x' })),
        [{ name: 'big', value: 'x'.repeat(1025) }],
        [{ name: '', value: 'x' }],
        { not: 'an array' },
      ]) {
        res = await inject({ method: 'PATCH', url, headers: bearer(token), payload });
        expect(res.statusCode).toBe(400);
      }
      res = await inject({ method: 'PUT', url, payload: [] });
      expect(res.statusCode).toBe(401);
    });
  });
});
