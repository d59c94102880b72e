import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAgentConfig, runFileAgent } from '@updraft/agent';
import type { ReleaseIdentity, SpawnedService } from './service-fixture.js';

/** A file-backed Linux device registered with a spawned service. */
export interface FileDevice {
  readonly id: string;
  /** One run of the real file agent, until it has nothing left to do. */
  run(): Promise<void>;
  /** The first `length` bytes of slot b's file (where an update is written). */
  slotB(length: number): Promise<Buffer>;
}

/**
 * Registers device `name` in the device class and prepares its home directory as flashed at
 * manufacturing: `factory` in slot a (1 MiB slot files), the release key trusted, `installed` as
 * its version. Nothing runs until {@link FileDevice.run}.
 */
export async function createFileDevice(
  service: SpawnedService,
  identity: ReleaseIdentity,
  options: {
    readonly deviceClassId: string;
    readonly name: string;
    /** The agent's directory (created when missing); state and slot files go in it. */
    readonly home: string;
    readonly factory: Uint8Array;
    readonly installed: { readonly version: string; readonly sequenceNumber: number };
    readonly sectorSize: number;
  },
): Promise<FileDevice> {
  const { deviceClassId, name, home, factory, installed, sectorSize } = options;
  const { device, token } = await service.api<{ device: { id: string }; token: string }>(
    'POST',
    '/api/v1/devices',
    { name, deviceClassId },
  );
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'a.img'), factory);
  await writeFile(
    join(home, 'release.pub'),
    identity.releaseKey.publicKey.export({ type: 'spki', format: 'pem' }),
  );
  const config = parseAgentConfig(
    {
      server: { url: service.base, token },
      device: { vendorId: identity.vendorId, classId: identity.classId },
      trustedKeys: ['release.pub'],
      stateDir: 'state',
      slots: {
        a: { path: 'a.img', size: 1 << 20 },
        b: { path: 'b.img', size: 1 << 20 },
        sectorSize,
      },
      installed,
    },
    home,
  );
  return {
    id: device.id,
    run: () => runFileAgent(config, { until: 'idle' }),
    slotB: async (length: number) => (await readFile(join(home, 'b.img'))).subarray(0, length),
  };
}
