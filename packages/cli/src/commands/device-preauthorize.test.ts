import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningServer } from '@updraft/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { run, tempDir } from '../testing/capture-io.js';
import { adminApi, startTestService } from '../testing/test-service.js';

// `updraft device preauthorize` against a real service: the Mender identity it registers is
// accepted at its first signed auth request.

const PASSWORD = 'mender-cli-admin-password';
let server: RunningServer;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  server = await startTestService({ dir, adminPassword: PASSWORD });
  const admin = await adminApi(server, PASSWORD);
  await writeFile(
    join(dir, 'admin.json'),
    JSON.stringify({ server: server.url, token: admin.token }),
    {
      mode: 0o600,
    },
  );
  await admin.call('POST', '/api/v1/device-classes', {
    name: 'gateway',
    vendorId: randomUUID(),
    classId: randomUUID(),
  });
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

describe('updraft device preauthorize', () => {
  it('registers the identity and key; the device then gets a token', async () => {
    const key = generateKeyPairSync('ed25519');
    const pubkey = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    await writeFile(join(dir, 'dev.pub.pem'), pubkey);
    const argv = [
      'device',
      'preauthorize',
      '--id-data',
      '{"mac":"02:00:00:00:00:01"}',
      '--pubkey',
      'dev.pub.pem',
      '--device-class',
      'gateway',
      '--config',
      join(dir, 'admin.json'),
    ];
    const r = await run(dir, [...argv, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.ok);
    const set = JSON.parse(r.stdout) as { deviceName: string; status: string };
    expect(set).toMatchObject({
      status: 'preauthorized',
      deviceName: expect.stringMatching(/^mender-/),
    });

    const body = Buffer.from(
      JSON.stringify({ id_data: '{"mac":"02:00:00:00:00:01"}', pubkey, tenant_token: '' }),
    );
    const res = await fetch(`${server.url}/api/devices/v1/authentication/auth_requests`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-men-signature': sign(null, body, key.privateKey).toString('base64'),
      },
      body,
    });
    expect(res.status).toBe(200);

    // Twice is a conflict, reported with the service's code.
    const again = await run(dir, argv);
    expect(again.code).not.toBe(EXIT_CODES.ok);
    expect(again.stderr).toContain('RESOURCE_CONFLICT');
  });

  it('needs its options', async () => {
    const r = await run(dir, ['device', 'preauthorize', '--id-data', '{}']);
    expect(r.code).toBe(EXIT_CODES.usage);
  });
});
