import { generateKeyPairSync } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createFileUBootEnv, createGrubEnv, missingTools } from '@updraft/agent/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run, tempDir } from '../testing/capture-io.js';

// `updraft agent run` itself reading a config whose bootControl is a U-Boot or GRUB environment:
// the CLI builds that boot control (its start reads the environment with the real tools), and a
// bad boot-chain section is refused with every problem named before anything is contacted.
const inCi = process.env.CI === 'true';
const unavailable = await missingTools(['fw_printenv', 'fw_setenv', 'mkenvimage', 'grub-editenv']);
const skip = unavailable !== null && !inCi;
if (skip) console.warn(`agent run boot-chain tests skipped: ${unavailable} (CI would fail here)`);

let dir: string;
let cleanup: () => Promise<void>;
let server: Server;
let url: string;
let checkIns = 0;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  checkIns = 0;
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/device/v1/check-in') {
        checkIns++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ pollIntervalSeconds: 60, action: null }));
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await cleanup();
});

async function writeConfig(extra: Record<string, unknown>): Promise<void> {
  const { publicKey } = generateKeyPairSync('ed25519');
  await writeFile(join(dir, 'release.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(
    join(dir, 'agent.json'),
    JSON.stringify({
      server: { url, token: 'device-token' },
      device: {
        vendorId: 'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
        classId: '1492af14-2569-5e48-bf42-9b2d51f2ab45',
      },
      trustedKeys: ['release.pub'],
      stateDir: 'state',
      slots: {
        a: { path: 'a.img', size: 65536 },
        b: { path: 'b.img', size: 65536 },
        sectorSize: 4096,
      },
      installed: { version: '1.0.0', sequenceNumber: 1 },
      rebootCommand: ['/usr/bin/true'],
      ...extra,
    }),
  );
}

describe.skipIf(skip)('agent run with a real boot chain', () => {
  it('polls once on a U-Boot environment: slot b booted per the env, no JSON boot state', async () => {
    if (unavailable !== null) throw new Error(unavailable);
    await createFileUBootEnv(dir, { boot_slot: 'b', upgrade_available: '0', bootlimit: '3' });
    await writeConfig({ bootControl: { kind: 'uboot', fwEnvConfig: 'fw_env.config' } });
    const r = await run(dir, ['agent', 'run', '--config', 'agent.json', '--once']);
    expect(r.stderr).not.toContain('"level":"error"');
    expect(r.code).toBe(0);
    expect(checkIns).toBe(1);
    // The boot step read the environment: the agent says it runs from b.
    expect(r.stderr).toMatch(/"slot":"b".*"booted"|"booted".*"slot":"b"/);
    await expect(access(join(dir, 'state', 'boot-state.json'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('polls once on a GRUB environment block with saved_entry=b', async () => {
    if (unavailable !== null) throw new Error(unavailable);
    await createGrubEnv(join(dir, 'grubenv'), { saved_entry: 'b' });
    await writeConfig({ bootControl: { kind: 'grub', grubenv: 'grubenv' } });
    const r = await run(dir, ['agent', 'run', '--config', 'agent.json', '--once']);
    expect(r.code).toBe(0);
    expect(checkIns).toBe(1);
    expect(r.stderr).toMatch(/"slot":"b".*"booted"|"booted".*"slot":"b"/);
    expect(await readFile(join(dir, 'grubenv'), 'utf8')).toContain('saved_entry=b');
  });
});

describe('agent run with a bad boot-chain section', () => {
  it('lists every problem (unknown key, no reboot command, bad installer) and contacts nothing', async () => {
    await writeConfig({
      rebootCommand: undefined,
      bootControl: { kind: 'uboot', fwEnvConfig: 'fw_env.config', fwEnv: 'typo' },
      components: [{ id: '814102', installer: 'rauc', maxSize: 4096 }],
    });
    const r = await run(dir, ['agent', 'run', '--config', 'agent.json', '--once']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('AGENT_CONFIG_INVALID');
    expect(r.stderr).toContain('bootControl.fwEnv');
    expect(r.stderr).toContain('rebootCommand');
    expect(r.stderr).toContain('components[0].systemConf');
    expect(checkIns).toBe(0);
  });
});
