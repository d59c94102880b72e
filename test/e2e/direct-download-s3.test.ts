import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCdnEdge, type TestCdnEdge } from '../../packages/server/src/testing/cdn-edge.js';
import {
  type CuttingProxy,
  startCuttingProxy,
} from '../../packages/server/src/testing/cutting-proxy.js';
import { startS3Server, type TestS3Server } from '../../packages/server/src/testing/s3-server.js';
import { createFileDevice } from './file-device.js';
import {
  createDeviceClass,
  newReleaseIdentity,
  publishRelease,
  type SpawnedService,
  startService,
} from './service-fixture.js';

// Direct downloads end to end: the real service (spawned) keeps payloads in a real S3-protocol
// server (s3rver, its own process) and answers check-ins with pre-signed URLs on it; real file
// agents update through them — one resuming a download cut mid-way (Range), one through a delta
// patch whose delivery the service counts from the device's report — and no payload byte passes
// through the service. Then the CDN variant: CloudFront-style signed URLs on a test edge that
// checks them with the public key and reads the bucket with its own credentials.

const MAIN = '814100';
const SECTOR = 4096;
const identity = newReleaseIdentity();
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let s3: TestS3Server;
let proxy: CuttingProxy;
let dir: string;

const setUpClass = (service: SpawnedService) =>
  createDeviceClass(service, identity, `direct-${randomBytes(3).toString('hex')}`);
const release = (
  service: SpawnedService,
  deviceClassId: string,
  seq: number,
  version: string,
  image: Uint8Array,
) => publishRelease(service, identity, { deviceClassId, componentId: MAIN, seq, version, image });

/** A file-backed device with `factory` in slot a, updated by one `runFileAgent` until idle. */
const device = (
  service: SpawnedService,
  deviceClassId: string,
  name: string,
  factory: Uint8Array,
  installed: { version: string; sequenceNumber: number },
) =>
  createFileDevice(service, identity, {
    deviceClassId,
    name,
    home: join(dir, name),
    factory,
    installed,
    sectorSize: SECTOR,
  });

/** Payload bytes the service itself sent to devices (every kind: full, range, head, delta). */
async function servedBytes(service: SpawnedService): Promise<number> {
  return service.metric('updraft_download_bytes_total');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-direct-'));
  s3 = await startS3Server();
  // Everything reaches the bucket through the proxy, so the pre-signed URLs name it too.
  proxy = await startCuttingProxy(s3.port);
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await s3?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('direct downloads from S3-compatible storage', () => {
  let service: SpawnedService;
  let deviceClassId: string;
  beforeAll(async () => {
    service = await startService({
      // Device API requests are logged at debug: the test reads which ones reached the service.
      UPDRAFT_LOG_LEVEL: 'debug',
      UPDRAFT_BLOBS_STORE: 's3',
      UPDRAFT_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`,
      UPDRAFT_S3_REGION: s3.region,
      UPDRAFT_S3_BUCKET: s3.bucket,
      UPDRAFT_S3_ACCESS_KEY_ID: s3.accessKeyId,
      UPDRAFT_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      UPDRAFT_S3_FORCE_PATH_STYLE: 'true',
      UPDRAFT_S3_SSE: 'none',
      UPDRAFT_DOWNLOADS_DIRECT: 'true',
      UPDRAFT_DEVICE_DOWNLOAD_URL_TTL_SECONDS: '300',
    });
    deviceClassId = await setUpClass(service);
  }, 60_000);
  afterAll(async () => {
    await service?.close();
  });

  it('resumes a cut download with Range on the pre-signed URL; the service serves no byte', async () => {
    const image = randomBytes(200_000);
    const releaseId = await release(service, deviceClassId, 2, '2.0.0', image);
    const dev = await device(service, deviceClassId, 'gw-resume', randomBytes(50_000), {
      version: '1.0.0',
      sequenceNumber: 1,
    });
    const { id: actionId } = await service.api<{ id: string }>('POST', '/api/v1/actions', {
      deviceId: dev.id,
      releaseId,
    });
    const blobPath = new RegExp(`/blobs/${sha(image)}\\?.*X-Amz-Signature=`);
    // The first download loses its connection after three sectors and a bit.
    const cutAt = 3 * SECTOR + 100;
    proxy.cutNext(blobPath, cutAt);
    const before = proxy.requests.length;
    await dev.run();

    expect(proxy.cut).toBe(true);
    const downloads = proxy.requests.slice(before).filter((r) => blobPath.test(r.path));
    expect(downloads.map((r) => r.method)).toEqual(['GET', 'GET']);
    expect(downloads[0]?.range).toBeNull();
    expect(downloads[1]?.range).toBe(`bytes=${3 * SECTOR}-`);
    expect(await dev.slotB(image.length)).toEqual(Buffer.from(image));
    const action = await service.api<{ state: string; events: { status: string }[] }>(
      'GET',
      `/api/v1/actions/${actionId}`,
    );
    expect(action.state).toBe('success');
    // Progress came from the device's reports, not from served bytes.
    expect(action.events.map((e) => e.status)).toEqual(
      expect.arrayContaining(['downloading', 'downloaded', 'success']),
    );
    expect(await servedBytes(service)).toBe(0);
    // Check-ins and reports reached the service; no payload request did.
    expect(service.output()).toContain('"path":"/api/device/v1/check-in"');
    expect(service.output()).not.toContain('"path":"/api/device/v1/artifacts/');
  }, 60_000);

  it('delivers a delta patch from the bucket and counts it from the device report', async () => {
    const v1 = new Uint8Array(120_000).map((_, i) => (i * 31 + (i >> 7)) & 0xff);
    const v2 = v1.slice();
    for (let i = 50_000; i < 50_300; i++) v2[i] = (v2[i]! + 1) & 0xff;
    await release(service, deviceClassId, 3, '3.0.0', v1);
    const target = await release(service, deviceClassId, 4, '3.1.0', v2);
    await service.api('PUT', `/api/v1/releases/${target}/delta-bases`, {
      bases: ['3.0.0'],
      anyInstalled: false,
    });
    type View = {
      patches: { state: string; patchSize: number | null; patchDigest: string | null }[];
      deliveries: number;
      bytesSaved: number;
    };
    const view = () => service.api<View>('GET', `/api/v1/releases/${target}/deltas`);
    await expect
      .poll(async () => (await view()).patches[0]?.state, { timeout: 30_000 })
      .toBe('ready');
    const patch = (await view()).patches[0]!;
    const dev = await device(service, deviceClassId, 'gw-delta', v1, {
      version: '3.0.0',
      sequenceNumber: 3,
    });
    const { id: actionId } = await service.api<{ id: string }>('POST', '/api/v1/actions', {
      deviceId: dev.id,
      releaseId: target,
    });
    const before = proxy.requests.length;
    await dev.run();
    expect((await service.api<{ state: string }>('GET', `/api/v1/actions/${actionId}`)).state).toBe(
      'success',
    );
    expect(await dev.slotB(v2.length)).toEqual(Buffer.from(v2));
    // The patch came from the bucket (a pre-signed GET), not from the service.
    const gets = proxy.requests.slice(before).filter((r) => r.method === 'GET');
    expect(gets.some((r) => r.path.includes(`/blobs/${patch.patchDigest}?`))).toBe(true);
    expect(gets.some((r) => r.path.includes(`/blobs/${sha(v2)}?`))).toBe(false);
    expect(await servedBytes(service)).toBe(0);
    expect(service.output()).not.toContain('"path":"/api/device/v1/deltas/');
    const saved = v2.length - patch.patchSize!;
    await expect.poll(async () => (await view()).deliveries).toBe(1);
    expect((await view()).bytesSaved).toBe(saved);
  }, 60_000);
});

describe('direct downloads through a CDN (CloudFront-style signed URLs)', () => {
  let service: SpawnedService;
  let edge: TestCdnEdge;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  beforeAll(async () => {
    const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    edge = await startCdnEdge({ publicKeyPem, keyPairId: 'KTESTEDGE', s3: s3.config });
    const keyFile = join(dir, 'cdn.pem');
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    service = await startService({
      UPDRAFT_BLOBS_STORE: 's3',
      UPDRAFT_S3_ENDPOINT: s3.endpoint,
      UPDRAFT_S3_REGION: s3.region,
      UPDRAFT_S3_BUCKET: s3.bucket,
      UPDRAFT_S3_PREFIX: 'cdn/',
      UPDRAFT_S3_ACCESS_KEY_ID: s3.accessKeyId,
      UPDRAFT_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      UPDRAFT_S3_FORCE_PATH_STYLE: 'true',
      UPDRAFT_S3_SSE: 'none',
      UPDRAFT_DOWNLOADS_DIRECT: 'true',
      UPDRAFT_DOWNLOADS_CDN_BASE_URL: edge.url,
      UPDRAFT_DOWNLOADS_CDN_KEY_PAIR_ID: 'KTESTEDGE',
      UPDRAFT_DOWNLOADS_CDN_PRIVATE_KEY_FILE: keyFile,
    });
  }, 60_000);
  afterAll(async () => {
    await service?.close();
    await edge?.close();
  });

  it('updates a device through the edge, which refuses a tampered URL', async () => {
    const deviceClassId = await setUpClass(service);
    const image = randomBytes(100_000);
    const releaseId = await release(service, deviceClassId, 2, '2.0.0', image);
    const dev = await device(service, deviceClassId, 'gw-cdn', randomBytes(10_000), {
      version: '1.0.0',
      sequenceNumber: 1,
    });
    const { id: actionId } = await service.api<{ id: string }>('POST', '/api/v1/actions', {
      deviceId: dev.id,
      releaseId,
    });
    await dev.run();
    expect((await service.api<{ state: string }>('GET', `/api/v1/actions/${actionId}`)).state).toBe(
      'success',
    );
    expect(await dev.slotB(image.length)).toEqual(Buffer.from(image));
    // The device read the object once through the edge (key = s3.prefix + blobs/<sha256>).
    const key = `/cdn/blobs/${sha(image)}`;
    expect(edge.requests.filter((r) => r.path === key && r.status === 200)).toHaveLength(1);
    expect(await servedBytes(service)).toBe(0);
    // The edge checks the signature: an unsigned (forged) URL gets nothing.
    const forged = await fetch(
      `${edge.url}/cdn/blobs/${'0'.repeat(64)}?Expires=9999999999&Signature=abc&Key-Pair-Id=KTESTEDGE`,
    );
    expect(forged.status).toBe(403);
  }, 60_000);
});
