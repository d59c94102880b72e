import { type ChildProcess, spawn } from 'node:child_process';
import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomUUID,
} from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentIdFromHex, createEnvelope, createKeySigner, signEnvelope } from '@updraft/core';

/** A spawned `updraft server start` on loopback, signed in as its first admin. */
export interface SpawnedService {
  readonly base: string;
  /** The service's data directory (with `UPDRAFT_TLS=true`, `pki/ca.pem` is the chain to pin). */
  readonly dataDir: string;
  /** The admin's bearer token (for a CLI config in tests that spawn `updraft`). */
  readonly adminToken: string;
  /** Everything the process printed (its JSON log lines included). */
  output(): string;
  /** A management API call as the admin; throws with the answer on a non-2xx status. */
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
  /** The value of one sample in /metrics (0 when absent), e.g. `updraft_downloads_total{kind="full"}`. */
  metric(sample: string): Promise<number>;
  close(): Promise<void>;
}

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts the real service from sources (the CLI's `server start`, via tsx) in a fresh data
 * directory, waits for its "listening on" line and logs in as the generated admin.
 */
export async function startService(env: Record<string, string> = {}): Promise<SpawnedService> {
  const dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-service-'));
  const password = randomBytes(12).toString('hex');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--conditions=updraft-source',
      '--import',
      'tsx',
      join(root, 'packages/cli/src/bin.ts'),
      'server',
      'start',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data-dir',
      join(dir, 'server'),
    ],
    {
      cwd: root,
      // The embedded MQTT broker on any free port: services of several tests run side by side.
      env: { ...process.env, UPDRAFT_ADMIN_PASSWORD: password, UPDRAFT_MQTT_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const close = async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  let base: string;
  try {
    base = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 50_000);
      const poll = setInterval(() => {
        const m = /listening on (https?:\/\/\S+)/.exec(out);
        if (m) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(m[1]!);
        }
      }, 20);
      child.on('exit', (code) => {
        clearInterval(poll);
        reject(new Error(`server exited ${code}: ${out}`));
      });
    });
  } catch (error) {
    await close();
    throw error;
  }
  const dataDir = join(dir, 'server');
  // Over TLS the test trusts the service's own CA (fetch takes no `ca`: node:https does).
  const ca = base.startsWith('https:') ? await readFile(join(dataDir, 'pki', 'ca.pem')) : null;
  const send = (method: string, url: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = (ca ? httpsRequest : httpRequest)(
        url,
        { method, headers, ...(ca ? { ca } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const login = await send(
    'POST',
    `${base}/api/v1/auth/login`,
    { 'content-type': 'application/json' },
    JSON.stringify({ username: 'admin', password }),
  );
  const { token } = JSON.parse(login.text) as { token: string };
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  return {
    base,
    dataDir,
    adminToken: token,
    output: () => out,
    async api<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await send(
        method,
        `${base}${path}`,
        body === undefined ? { authorization: headers.authorization } : headers,
        body === undefined ? undefined : JSON.stringify(body),
      );
      if (res.status < 200 || res.status > 299) {
        throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
      }
      return (res.text === '' ? undefined : JSON.parse(res.text)) as T;
    },
    async metric(sample: string): Promise<number> {
      const { text } = await send('GET', `${base}/metrics`, headers);
      const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
      return line === undefined ? 0 : Number(line.slice(sample.length + 1));
    },
    close,
  };
}

/** Who a test's releases are for and who signs them: a device class's SUIT ids and release key. */
export interface ReleaseIdentity {
  readonly vendorId: string;
  readonly classId: string;
  /** An Ed25519 key pair: the public half is trusted by the device class, the private signs. */
  readonly releaseKey: { readonly publicKey: KeyObject; readonly privateKey: KeyObject };
}

/** A fresh identity: random vendor-id and class-id, a new Ed25519 release key. */
export function newReleaseIdentity(): ReleaseIdentity {
  return {
    vendorId: randomUUID(),
    classId: randomUUID(),
    releaseKey: generateKeyPairSync('ed25519'),
  };
}

/** Creates a device class named `name` for `identity` and trusts its release key; returns its id. */
export async function createDeviceClass(
  service: SpawnedService,
  identity: ReleaseIdentity,
  name: string,
): Promise<string> {
  const { id } = await service.api<{ id: string }>('POST', '/api/v1/device-classes', {
    name,
    vendorId: identity.vendorId,
    classId: identity.classId,
  });
  await service.api('POST', `/api/v1/device-classes/${id}/keys`, {
    format: 'pem',
    key: identity.releaseKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  });
  return id;
}

/**
 * Uploads `image` as release `version` of the device class: a signed SUIT envelope with one
 * component `componentId` (hex) at sequence number `seq`, and the image as its payload.
 * Returns the release's id.
 */
export async function publishRelease(
  service: SpawnedService,
  identity: ReleaseIdentity,
  release: {
    readonly deviceClassId: string;
    readonly componentId: string;
    readonly seq: number;
    readonly version: string;
    readonly image: Uint8Array;
  },
): Promise<string> {
  const { deviceClassId, componentId, seq, version, image } = release;
  const unsigned = createEnvelope({
    vendorId: identity.vendorId,
    classId: identity.classId,
    sequenceNumber: seq,
    components: [
      {
        id: componentId,
        digest: new Uint8Array(createHash('sha256').update(image).digest()),
        size: image.length,
        uri: `https://fw.example/${version}.bin`,
      },
    ],
    text: {
      en: {
        fields: { updateDescription: `release ${version}` },
        components: [
          { id: componentIdFromHex(componentId), fields: { componentVersion: version } },
        ],
      },
    },
  });
  const envelope = await signEnvelope(unsigned, createKeySigner(identity.releaseKey.privateKey));
  const created = await service.api<{ id: string }>('POST', '/api/v1/releases', {
    deviceClassId,
    version,
    envelope: Buffer.from(envelope).toString('base64'),
    payloads: [{ data: Buffer.from(image).toString('base64') }],
  });
  return created.id;
}
