import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { SpawnedService } from './service-fixture.js';

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('openssl', args, { cwd }, (error, _out, stderr) =>
      error ? reject(new Error(stderr)) : resolve(),
    ),
  );
}

/**
 * Enrolls `device` over EST with a one-time token: openssl makes a P-256 key and CSR in `dir`
 * (`<device>.key`, `<device>.csr`), and /.well-known/est/simpleenroll must answer 200.
 */
export async function enrollOverEst(
  service: SpawnedService,
  device: string,
  dir: string,
): Promise<void> {
  const { token } = await service.api<{ token: string }>('POST', '/api/v1/pki/enrollment-tokens', {
    device,
  });
  await openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${device}.key`,
      '-subj',
      `/CN=${device}`,
      '-outform',
      'DER',
      '-out',
      `${device}.csr`,
    ],
    dir,
  );
  const enrolled = await fetch(`${service.base}/.well-known/est/simpleenroll`, {
    method: 'POST',
    headers: {
      'content-type': 'application/pkcs10',
      authorization: `Basic ${Buffer.from(`${device}:${token}`).toString('base64')}`,
    },
    body: (await readFile(join(dir, `${device}.csr`))).toString('base64'),
  });
  expect(enrolled.status, await enrolled.clone().text()).toBe(200);
}
