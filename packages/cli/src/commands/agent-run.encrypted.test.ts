import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeviceApiServer } from '@updraft/agent/testing';
import { classIdFromName, formatUuid, vendorIdFromDomain } from '@updraft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run, tempDir } from '../testing/capture-io.js';

// The whole encrypted path through the real commands: `keys generate` makes the class KEK and the
// release key, `manifest create` encrypts the image for the KEK, `manifest sign` signs, and
// `agent run --once` (the file agent) decrypts with the very KEK file `keys generate` wrote.

let dir: string;
let cleanup: () => Promise<void>;
let server: DeviceApiServer;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  server = await new DeviceApiServer().start();
});
afterEach(async () => {
  await server.close();
  await cleanup();
});

async function cli(...argv: string[]): Promise<string> {
  const r = await run(dir, argv);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('encrypted update from keys generate to an installed image', () => {
  for (const alg of ['a128kw', 'a256kw'] as const) {
    it(`installs an image encrypted for a ${alg} class key made by keys generate`, async () => {
      await cli('keys', 'generate', '--alg', alg, '--out', 'class');
      await cli('keys', 'generate', '--alg', 'ed25519', '--out', 'release');
      const image = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7) & 0xff));
      await writeFile(join(dir, 'app.bin'), image);
      await writeFile(
        join(dir, 'release.json'),
        JSON.stringify({
          vendor: 'acme.example',
          class: 'gateway-7',
          version: '1.1.0',
          sequenceNumber: 2,
          components: [
            {
              name: 'app',
              image: 'app.bin',
              encryption: {
                algorithm: 'A128GCM',
                recipients: [{ alg: alg.toUpperCase(), key: 'class.kek' }],
              },
            },
          ],
        }),
      );
      await cli('manifest', 'create', 'release.json', '--out', 'app.suit');
      await cli('manifest', 'sign', 'app.suit', '--key', 'release.key');
      const ciphertext = await readFile(join(dir, 'app.enc'));
      expect(ciphertext.includes(image.subarray(0, 64))).toBe(false);
      server.offer({
        actionId: 'act_enc',
        version: '1.1.0',
        sequenceNumber: 2,
        envelope: await readFile(join(dir, 'app.suit')),
        payloads: [ciphertext],
      });

      const vendorId = vendorIdFromDomain('acme.example');
      await writeFile(
        join(dir, 'agent.json'),
        JSON.stringify({
          server: { url: server.url, token: 'device-token' },
          device: {
            vendorId: formatUuid(vendorId),
            classId: formatUuid(classIdFromName(vendorId, 'gateway-7')),
          },
          trustedKeys: ['release.pub'],
          deviceKeyFile: 'class.kek',
          stateDir: 'state',
          slots: {
            a: { path: 'a.img', size: 65536 },
            b: { path: 'b.img', size: 65536 },
            sectorSize: 4096,
          },
          installed: { version: '1.0.0', sequenceNumber: 1 },
        }),
      );
      await cli('agent', 'run', '--config', 'agent.json', '--once');
      expect(server.final('act_enc')?.status).toBe('success');
      const slot = await readFile(join(dir, 'b.img'));
      expect(slot.subarray(0, image.length)).toEqual(image);
      const boot = JSON.parse(await readFile(join(dir, 'state', 'boot-state.json'), 'utf8'));
      expect(boot).toMatchObject({ booted: 'b', trial: false });
    });
  }
});
