import { randomBytes } from 'node:crypto';
import { access, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaucClient } from './adapters/rauc/rauc-client.js';
import { simulateUBootBoot } from './adapters/uboot/uboot-boot-script.js';
import { UBootEnv } from './adapters/uboot/uboot-env.js';
import { loadAgentConfig } from './config/agent-config.js';
import { runFileAgent } from './file-agent.js';
import { createFileUBootEnv, missingTools } from './testing/boot-env-fixtures.js';
import { DeviceApiServer } from './testing/device-api-server.js';
import { image, MAIN, sha256 } from './testing/harness.js';
import {
  createRaucBundle,
  createRaucSigner,
  type RaucSession,
  startRaucSession,
  writeRaucSystemConf,
} from './testing/rauc-fixtures.js';
import { CLASS, RELEASE_KEY, signedEnvelope, VENDOR } from './testing/signed-release.js';

// The U-Boot + RAUC device of docs/agent.md, built FROM ITS CONFIG FILE: the main image goes to
// slot b under the U-Boot environment (real fw_setenv), an application partition arrives as a
// signed RAUC bundle (`installer: "rauc"`) installed by a real `rauc service` on a private D-Bus
// session. `rauc install` loop-mounts the bundle: root only. Outside CI a machine without the
// tools skips with a message; in CI it fails.
const inCi = process.env.CI === 'true';
const unavailable =
  (await missingTools([
    'rauc',
    'dbus-daemon',
    'openssl',
    'mksquashfs',
    'fw_printenv',
    'fw_setenv',
    'mkenvimage',
  ])) ?? (process.getuid?.() === 0 ? null : 'rauc install mounts the bundle: run as root');
const skip = unavailable !== null && !inCi;
if (skip) console.warn(`U-Boot + RAUC config test skipped: ${unavailable} (CI would fail here)`);

const COMPATIBLE = 'updraft-test-board';
const SLOT = 64 * 1024;
const FACTORY = image(20_000, 1);
const NEW = image(30_001, 2);
const APP = new Uint8Array(randomBytes(200_000));
const uuid = (bytes: Uint8Array): string =>
  Buffer.from(bytes)
    .toString('hex')
    .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

describe.skipIf(skip)('agent run from a U-Boot + RAUC config', { timeout: 120_000 }, () => {
  let dir: string;
  let server: DeviceApiServer;
  let session: RaucSession;
  let conf: string;
  const saved = {
    address: process.env.DBUS_SESSION_BUS_ADDRESS,
    type: process.env.DBUS_STARTER_BUS_TYPE,
  };

  beforeAll(async () => {
    if (unavailable !== null)
      throw new Error(`U-Boot + RAUC config test cannot run: ${unavailable}`);
    dir = await mkdtemp(join(tmpdir(), 'updraft-uboot-rauc-config-'));
    const signer = await createRaucSigner(dir);
    for (const name of ['app-a.img', 'app-b.img']) {
      await writeFile(join(dir, name), '');
      await truncate(join(dir, name), 1024 * 1024);
    }
    conf = await writeRaucSystemConf({
      dir,
      compatible: COMPATIBLE,
      keyring: signer.cert,
      slots: [
        { name: 'appfs.0', device: join(dir, 'app-a.img'), bootname: 'A' },
        { name: 'appfs.1', device: join(dir, 'app-b.img'), bootname: 'B' },
      ],
    });
    session = await startRaucSession({ conf, bootSlot: 'A' });
    // The agent's RaucClient talks to the bus of its environment (the system bus on a device).
    process.env.DBUS_SESSION_BUS_ADDRESS = session.env.DBUS_SESSION_BUS_ADDRESS;
    process.env.DBUS_STARTER_BUS_TYPE = 'session';
    const bundle = await readFile(
      await createRaucBundle({
        dir,
        compatible: COMPATIBLE,
        version: '1.1.0',
        images: [{ slotClass: 'appfs', bytes: APP }],
        signer,
      }),
    );
    server = await new DeviceApiServer().start();
    server.offer({
      actionId: 'act_1',
      version: '1.1.0',
      sequenceNumber: 2,
      envelope: await signedEnvelope({
        sequenceNumber: 2,
        components: [
          { id: MAIN, image: NEW },
          { id: '814102', image: new Uint8Array(bundle) },
        ],
      }),
      payloads: [NEW, new Uint8Array(bundle)],
    });
  });

  afterAll(async () => {
    for (const [name, value] of [
      ['DBUS_SESSION_BUS_ADDRESS', saved.address],
      ['DBUS_STARTER_BUS_TYPE', saved.type],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await server?.close();
    await session?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('installs the rootfs image and the RAUC bundle, U-Boot trial-boots, both are committed', async () => {
    const { config: fwEnvConfig } = await createFileUBootEnv(dir, {
      boot_slot: 'a',
      upgrade_available: '0',
      bootcount: '0',
      bootlimit: '3',
    });
    await writeFile(
      join(dir, 'release.pub'),
      RELEASE_KEY.publicKey.export({ type: 'spki', format: 'pem' }),
    );
    await writeFile(join(dir, 'a.img'), FACTORY);
    const configFile = join(dir, 'agent.json');
    await writeFile(
      configFile,
      JSON.stringify({
        server: { url: server.url, token: 'device-token' },
        device: { vendorId: uuid(VENDOR), classId: uuid(CLASS) },
        trustedKeys: ['release.pub'],
        stateDir: 'state',
        slots: {
          a: { path: 'a.img', size: SLOT },
          b: { path: 'b.img', size: SLOT },
          sectorSize: 4096,
        },
        mainComponent: MAIN,
        bootControl: { kind: 'uboot', fwEnvConfig },
        components: [
          {
            id: '814102',
            installer: 'rauc',
            systemConf: conf,
            rauc: '/usr/bin/rauc',
            maxSize: 4 << 20,
          },
        ],
        installed: { version: '1.0.0', sequenceNumber: 1, size: FACTORY.length },
        rebootCommand: ['/usr/bin/touch', join(dir, 'reboot-requested')],
      }),
    );
    const env = new UBootEnv({ config: fwEnvConfig });
    const boots: string[] = [];
    for (let i = 0; ; i++) {
      if (i > 4) throw new Error('too many reboots');
      await runFileAgent(await loadAgentConfig(configFile), { until: 'idle' });
      if (!(await consumeMark(join(dir, 'reboot-requested')))) break;
      const boot = simulateUBootBoot(await env.read(), ['a', 'b']);
      await env.write(boot.saved);
      boots.push(`${boot.boots}:${boot.row.runs}`);
    }
    expect(boots).toEqual(['b:bootcmd']);
    expect(server.final('act_1')).toMatchObject({ status: 'success' });
    expect(Object.fromEntries(await env.read())).toMatchObject({
      boot_slot: 'b',
      upgrade_available: '0',
    });
    const b = await readFile(join(dir, 'b.img'));
    expect(sha256(b.subarray(0, NEW.length))).toBe(sha256(NEW));
    // RAUC's own record, read independently of the agent: the bundle's image is in appfs.1.
    const rauc = new RaucClient({ conf, env: session.env });
    expect((await rauc.status()).slots.find((s) => s.name === 'appfs.1')).toMatchObject({
      sha256: sha256(APP),
      installStatus: 'ok',
      bundleVersion: '1.1.0',
    });
    const app = await readFile(join(dir, 'app-b.img'));
    expect(sha256(app.subarray(0, APP.length))).toBe(sha256(APP));
    // Committed: the handler's revert record (in stateDir/rauc-814102) is gone.
    await expect(access(join(dir, 'state', 'rauc-814102', 'revert.json'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});

async function consumeMark(mark: string): Promise<boolean> {
  for (let i = 0; i < 30; i++) {
    try {
      await access(mark);
      await rm(mark);
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}
