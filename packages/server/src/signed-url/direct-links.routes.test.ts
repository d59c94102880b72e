import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BearerDeviceAuthenticator } from '../auth/device-authenticator.js';
import { DeviceSessionCache } from '../auth/device-session-cache.js';
import type { CheckInAnswer } from '../features/device-api/check-in.service.js';
import { CheckInService } from '../features/device-api/check-in.service.js';
import { LastSeenTracker } from '../features/device-api/last-seen-tracker.js';
import type { DeviceChangeFeed } from '../ports/device-change-feed.js';
import {
  menderAuthBody,
  menderDeviceKey,
  menSignature,
  targetTokenHeaders,
} from '../testing/client-protocols.js';
import { verifyCloudFrontUrl } from '../testing/cloudfront-verifier.js';
import { type Fleet, seedFleet, uploadRelease } from '../testing/release-fixtures.js';
import { startS3Server, type TestS3Server } from '../testing/s3-server.js';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';
import { SignedUrl } from './signed-url.js';

const KEY_PAIR_ID = 'K2JCJMDEHXQW5F';
const CDN = 'https://cdn.updraft.test';
const TTL = 300;

// Direct links as every device API hands them out, in the CDN mode (real RSA signatures checked
// with the public key): stable within a window (ETag, 304), never for a closed action, never on
// the MQTT channel's chunked downloads (see device-mqtt tests), installedBase stays on the service.
describeEachDialect('direct download links in device answers', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let fleet: Fleet;
  let releaseId: string;
  let dir: string;
  let s3: TestS3Server;
  let clockMs = Date.parse('2026-12-03T18:00:10Z');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const payload = randomBytes(50_000);

  const inject = (o: InjectOptions) =>
    server.app.inject(o) as unknown as Promise<{
      statusCode: number;
      body: string;
      headers: Record<string, string | undefined>;
      json(): Record<string, unknown>;
    }>;
  const verify = (url: string) => verifyCloudFrontUrl(url, publicKey, KEY_PAIR_ID, clockMs);
  const assign = async (deviceId: string) => {
    const res = await inject({
      method: 'POST',
      url: '/api/v1/actions',
      headers: admin,
      payload: { deviceId, releaseId },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().id as string;
  };

  beforeAll(async () => {
    s3 = await startS3Server();
    dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-direct-links-'));
    const keyFile = path.join(dir, 'cdn.pem');
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    server = await createTestServer(
      dialect,
      {
        blobs: { store: 's3' },
        s3: { ...s3.config, prefix: 'fleet/' },
        downloads: {
          direct: true,
          cdnBaseUrl: CDN,
          cdnKeyPairId: KEY_PAIR_ID,
          cdnPrivateKeyFile: keyFile,
        },
        device: { downloadUrlTtlSeconds: TTL },
      },
      {
        now: () => new Date(clockMs),
      },
    );
    admin = { ...(await server.adminHeaders()), 'content-type': 'application/json' };
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 3, className: 'gateway' });
    releaseId = await uploadRelease(server.app, admin, fleet, 5, [payload], '2.0.0', [
      'rootfs.mender',
    ]);
  });
  afterAll(async () => {
    await server?.close();
    await s3?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('check-in: CDN URLs that verify, one ETag and 304 within the window, fresh ones after it', async () => {
    const device = fleet.devices[0]!;
    await assign(device.id);
    const checkIn = (etag?: string) =>
      inject({
        method: 'POST',
        url: '/api/device/v1/check-in',
        headers: {
          authorization: `Bearer ${device.token}`,
          'content-type': 'application/json',
          ...(etag ? { 'if-none-match': etag } : {}),
        },
        payload: { components: [] },
      });
    let res = await checkIn();
    expect(res.statusCode).toBe(200);
    const first = res.json() as { action: { payloads: { url: string; digest: string }[] } };
    const url = first.action.payloads[0]!.url;
    expect(url.startsWith(`${CDN}/fleet/blobs/${first.action.payloads[0]!.digest}?`)).toBe(true);
    expect(verify(url)).toBeNull();
    const etag = res.headers.etag!;
    // Later in the same window: the same answer, so the device's ETag still matches.
    clockMs += 200_000;
    res = await checkIn(etag);
    expect(res.statusCode).toBe(304);
    // The next window: a new URL (a new ETag); the old one is still good for a while.
    clockMs += TTL * 1000;
    res = await checkIn(etag);
    expect(res.statusCode).toBe(200);
    const next = (res.json() as typeof first).action.payloads[0]!.url;
    expect(next).not.toBe(url);
    expect(verify(next)).toBeNull();
    expect(verify(url)).toBeNull();
    clockMs += TTL * 1000;
    expect(verify(url)).toBe('expired');
  });

  it('check-in: no direct link on the MQTT channel, nor for an action closed behind a cached session', async () => {
    const device = fleet.devices[1]!;
    const actionId = await assign(device.id);
    const { db, downloadLinks } = server.app.updraft;
    // A session cache that hears no changes: the race a replica's cache loses for a moment.
    const deaf: DeviceChangeFeed = {
      live: true,
      subscribe: () => () => {},
      announce: () => {},
      start: async () => {},
      settled: async () => {},
      close: async () => {},
    };
    const auth = new BearerDeviceAuthenticator(
      db,
      new DeviceSessionCache(deaf, { maxEntries: 10, maxAgeMs: 60_000 }),
    );
    const now = () => new Date(clockMs);
    const checkIns = new CheckInService(
      db,
      new SignedUrl(randomBytes(32), TTL),
      { idle: 300, active: 60 },
      new LastSeenTracker(db, now, 60_000),
      now,
      deaf,
      undefined,
      undefined,
      downloadLinks,
    );
    const principal = async () =>
      (await auth.authenticate({ headers: { authorization: `Bearer ${device.token}` } }))!;
    const urlOf = (answer: CheckInAnswer) =>
      answer.status === 200 ? answer.body.action?.payloads[0]?.url : undefined;
    expect(urlOf(await checkIns.checkIn(await principal(), {}, undefined))).toMatch(
      /^https:\/\/cdn/,
    );
    expect(
      urlOf(await checkIns.checkIn(await principal(), {}, undefined, undefined, 'mqtt')),
    ).toMatch(/^\/api\/device\/v1\/artifacts\//);
    await db
      .updateTable('actions')
      .set({ open_key: null, state: 'canceled' })
      .where('id', '=', actionId)
      .execute();
    // The cached session still names the action; its URL is the service's own, which checks the
    // (now closed) action on every request.
    const answer = await checkIns.checkIn(await principal(), {}, undefined);
    expect(answer.status === 200 && answer.body.action?.id).toBe(actionId);
    expect(urlOf(answer)).toMatch(/^\/api\/device\/v1\/artifacts\//);
  });

  it('DDI: deploymentBase downloads on the CDN, .MD5SUM on the service', async () => {
    const ctl = fleet.devices[2]!;
    await assign(ctl.id);
    const root = `/DEFAULT/controller/v1/${ctl.id}`;
    const headers = targetTokenHeaders(ctl.token);
    const poll = await inject({ method: 'GET', url: root, headers });
    const href = (poll.json()._links as Record<string, { href: string }>).deploymentBase!.href;
    const res = await inject({ method: 'GET', url: new URL(href).pathname, headers });
    expect(res.statusCode, res.body).toBe(200);
    const artifact = (
      res.json() as {
        deployment: { chunks: { artifacts: { _links: Record<string, { href: string }> }[] }[] };
      }
    ).deployment.chunks[0]!.artifacts[0]!;
    expect(artifact._links['download-http']!.href.startsWith(`${CDN}/fleet/blobs/`)).toBe(true);
    expect(verify(artifact._links['download-http']!.href)).toBeNull();
    expect(artifact._links['md5sum-http']!.href).toContain(`${root}/softwaremodules/`);
  });

  it('Mender: deployments/next points at the CDN and its expire is the signed expiry', async () => {
    await seedFleet(server.app.updraft.db, { deviceCount: 0, className: 'mender' });
    const key = menderDeviceKey('ec');
    const idData = { mac: randomBytes(6).toString('hex') };
    const pre = await inject({
      method: 'POST',
      url: '/api/v1/mender/auth-sets',
      headers: admin,
      payload: { idData: JSON.stringify(idData), pubkey: key.pem, deviceClass: 'gateway' },
    });
    expect(pre.statusCode, pre.body).toBe(201);
    const body = menderAuthBody(idData, key);
    const auth = await inject({
      method: 'POST',
      url: '/api/devices/v1/authentication/auth_requests',
      headers: { 'content-type': 'application/json', 'x-men-signature': menSignature(key, body) },
      payload: body,
    });
    expect(auth.statusCode, auth.body).toBe(200);
    await assign(pre.json().deviceId as string);
    const res = await inject({
      method: 'GET',
      url: '/api/devices/v1/deployments/device/deployments/next?device_type=x&artifact_name=old',
      headers: { authorization: `Bearer ${auth.body}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    const source = (res.json() as { artifact: { source: { uri: string; expire: string } } })
      .artifact.source;
    expect(source.uri.startsWith(`${CDN}/fleet/blobs/`)).toBe(true);
    expect(verify(source.uri)).toBeNull();
    expect(Date.parse(source.expire) / 1000).toBe(
      Number(new URL(source.uri).searchParams.get('Expires')),
    );
  });
});
