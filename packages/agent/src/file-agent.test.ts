import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEnvelope, createKeySigner, signEnvelope } from '@updraft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentConfig } from './config/agent-config.js';
import { parseAgentConfig } from './config/agent-config.js';
import { runFileAgent } from './file-agent.js';
import { DeviceApiServer } from './testing/device-api-server.js';
import { FakeClock } from './testing/fakes.js';
import { image, sha256 } from './testing/harness.js';

// A real power cut for the file adapters: the agent runs in a child process that is killed with
// SIGKILL in the middle of a download; the restarted agent resumes from its last checkpoint.

const root = fileURLToPath(new URL('../../..', import.meta.url));
const child = fileURLToPath(new URL('./testing/file-agent-child.ts', import.meta.url));
const vendorId = randomUUID();
const classId = randomUUID();
const key = generateKeyPairSync('ed25519');
const NEW = image(3 * 1024 * 1024, 5);

let dir: string;
let server: DeviceApiServer;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-file-agent-'));
  server = await new DeviceApiServer().start();
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Offers `img` as a signed one-component release, and writes the key the device trusts. */
async function offerSigned(actionId: string, img: Uint8Array, sequenceNumber = 2): Promise<void> {
  const envelope = await signEnvelope(
    createEnvelope({
      vendorId,
      classId,
      sequenceNumber,
      components: [
        {
          id: '814100',
          digest: Buffer.from(sha256(img), 'hex'),
          size: img.length,
          uri: 'https://x/fw',
        },
      ],
    }),
    createKeySigner(key.privateKey),
  );
  const version = `1.${sequenceNumber}.0`;
  server.offer({ actionId, version, sequenceNumber, envelope, payloads: [img] });
  await writeFile(join(dir, 'release.pub'), key.publicKey.export({ type: 'spki', format: 'pem' }));
}

/** The agent config of a device with two slots of `slotSize` bytes in the test folder. */
function deviceConfig(slotSize: number, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    server: { url: server.url, token: 't' },
    device: { vendorId, classId },
    trustedKeys: ['release.pub'],
    stateDir: 'state',
    slots: {
      a: { path: 'a.img', size: slotSize },
      b: { path: 'b.img', size: slotSize },
      sectorSize: 65536,
    },
    installed: { version: '1.0.0', sequenceNumber: 1 },
    ...extra,
  };
}

function runChild(config: string): { done: Promise<number | null>; kill: () => void } {
  const p = spawn(
    process.execPath,
    ['--conditions=updraft-source', '--import', 'tsx', child, config],
    {
      cwd: root,
      stdio: 'ignore',
    },
  );
  return {
    done: new Promise((resolve) => p.on('exit', (code) => resolve(code))),
    kill: () => p.kill('SIGKILL'),
  };
}

describe('file-backed agent under kill -9', () => {
  it('resumes a download interrupted by SIGKILL from its checkpoint and installs the image', async () => {
    await offerSigned('act_k', NEW);
    const config = join(dir, 'agent.json');
    await writeFile(config, JSON.stringify(deviceConfig(4 << 20, { checkpointBytes: 262144 })));
    // First run: 1.5 MiB arrive, then the server goes silent and the power goes out.
    server.faults.stallAfterBytes = 1536 * 1024;
    server.faults.stallRequests = 1;
    const first = runChild(config);
    // The agent sends a progress report right after each checkpoint is saved: wait for one past
    // 1 MiB of the 3 MiB image (a third), then cut the power.
    await server.whenFeedback((r) => r.status === 'downloading' && (r.progress ?? 0) >= 33);
    first.kill();
    await first.done;
    // The last checkpoint before the kill is where the next run must resume.
    const journal = await readFile(join(dir, 'state', 'journal'), 'utf8');
    const checkpoint = Number(/"written":(\d+)/.exec(journal)?.[1]);
    expect(checkpoint).toBeGreaterThanOrEqual(1024 * 1024);

    // After the restart: one ranged request from the checkpoint, then the whole update.
    expect(await runChild(config).done).toBe(0);
    const gets = server.requests.filter((r) => r.path.includes('/artifacts/'));
    expect(gets.map((g) => g.range)).toEqual([null, `bytes=${checkpoint}-`]);
    expect(server.final('act_k')?.status).toBe('success');
    const slot = await readFile(join(dir, 'b.img'));
    expect(sha256(slot.subarray(0, NEW.length))).toBe(sha256(NEW));
    const boot = JSON.parse(await readFile(join(dir, 'state', 'boot-state.json'), 'utf8'));
    expect(boot).toMatchObject({ booted: 'b', trial: false, pending: null });
  });
});

describe('file-backed agent health check command', () => {
  async function update(healthCheckCommand: string[]) {
    const small = image(200_000, 8);
    await offerSigned('act_h', small);
    const config = parseAgentConfig(
      deviceConfig(1 << 20, { healthCheckCommand, healthCheckTimeoutSeconds: 5 }),
      dir,
    );
    await runFileAgent(config, { until: 'idle' });
    return JSON.parse(await readFile(join(dir, 'state', 'boot-state.json'), 'utf8'));
  }

  it('keeps the new image when the command exits 0', async () => {
    expect(await update(['true'])).toMatchObject({ booted: 'b', trial: false });
    expect(server.final('act_h')?.status).toBe('success');
  });

  it('returns to the old image and reports AGENT_HEALTH_CHECK_FAILED when it fails', async () => {
    expect(await update(['false'])).toMatchObject({ booted: 'a', trial: false });
    expect(server.final('act_h')).toMatchObject({
      status: 'failure',
      code: 'AGENT_HEALTH_CHECK_FAILED',
    });
  });
});

describe('file-backed agent rollback floor', () => {
  async function updatedTo5(): Promise<AgentConfig> {
    await offerSigned('act_5', image(100_000, 5), 5);
    const config = parseAgentConfig(deviceConfig(1 << 20, {}), dir);
    await runFileAgent(config, { until: 'idle' });
    expect(server.final('act_5')?.status).toBe('success');
    return config;
  }

  it('refuses an older release after the journal file was deleted', async () => {
    const config = await updatedTo5();
    await rm(join(dir, 'state', 'journal'));
    await offerSigned('act_3', image(100_000, 3), 3);
    await runFileAgent(config, { until: 'idle' });
    expect(server.final('act_3')).toMatchObject({ status: 'rejected', code: 'MANIFEST_ROLLBACK' });
    expect(JSON.parse(await readFile(join(dir, 'state', 'boot-state.json'), 'utf8'))).toMatchObject(
      { booted: 'b', pending: null },
    );
  });

  it('refuses to start when stateDir/rollback-floor is gone but the journal shows the update', async () => {
    const config = await updatedTo5();
    await rm(join(dir, 'state', 'rollback-floor'));
    const before = server.requests.length;
    await expect(runFileAgent(config, { until: 'idle' })).rejects.toMatchObject({
      code: 'AGENT_ROLLBACK_FLOOR_MISSING',
    });
    expect(server.requests.length).toBe(before);
  });
});

describe('file-backed agent daemon without a service', () => {
  async function daemon(config: AgentConfig, polls: number) {
    const clock = new FakeClock();
    const stop = new AbortController();
    clock.onSleep = () => {
      if (clock.slept.length >= polls) stop.abort();
    };
    const errors: Record<string, unknown>[] = [];
    const logger = {
      debug() {},
      info() {},
      warn() {},
      error: (fields: Record<string, unknown>) => void errors.push(fields),
    };
    await runFileAgent(config, { clock, logger, signal: stop.signal });
    return { errors, slept: clock.slept };
  }

  it('keeps retrying an unreachable service with backoff, logging each failure as an error', async () => {
    await offerSigned('act_none', image(1000, 1));
    const url = server.url;
    await server.close();
    const config = parseAgentConfig(
      { ...deviceConfig(1 << 20, {}), server: { url, token: 't' } },
      dir,
    );
    const { errors, slept } = await daemon(config, 6);
    expect(errors.map((e) => e.code)).toEqual(Array(6).fill('AGENT_SERVER_UNREACHABLE'));
    // The first poll goes out at once, then full-jitter backoff below a doubling ceiling.
    expect(slept[0]).toBe(0);
    slept.slice(1).forEach((ms, i) => {
      expect(ms).toBeLessThan(1000 * 2 ** (i + 1));
    });
    server = await new DeviceApiServer().start(); // for afterEach
  });

  it('keeps retrying a service that refuses its token, logging AGENT_AUTH_REJECTED', async () => {
    await offerSigned('act_none', image(1000, 1));
    server.faults.rejectTokens = true;
    const config = parseAgentConfig(deviceConfig(1 << 20, {}), dir);
    const { errors } = await daemon(config, 4);
    expect(errors.map((e) => e.code)).toEqual(Array(4).fill('AGENT_AUTH_REJECTED'));
    expect(server.requests).toHaveLength(4);
  });
});
