import { createHash } from 'node:crypto';
import type {
  CheckInRequest,
  CheckInResult,
  FeedbackReport,
  FeedbackResult,
  PayloadResponse,
  Transport,
} from '@updraft/agent';
import { diff } from '@updraft/delta';
import {
  AgentApplication,
  buildImage,
  buildReleaseEnvelope,
  CUT_MODES,
  defaultLayoutSpec,
  generateTestKey,
  MAIN_COMPONENT,
  MemoryTransport,
  releaseVerifier,
  SimDevice,
} from '@updraft/sim';
import { describe, expect, it } from 'vitest';

// A delta update on a simulated MCU (strict NOR flash, MCUboot-like bootloader, the real agent):
// power is cut at every flash operation of the apply (before it, after it, and torn inside it),
// the device reboots and must converge on the new image, through the delta, without ever booting
// an unverified image. Only public entry points are imported.

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const key = generateTestKey();
const BODY = 40_000;
const OLD = buildImage({
  version: '1.0.0',
  sequenceNumber: 1,
  behaviour: 'healthy',
  size: BODY,
  key: key.signing,
});
// Sim images are firmware-like: builds of one product share most bytes, so the new image
// differs from the old in its header, signature and a few short runs, as a delta is meant for.
const NEW_VERSION = '1.1.0';
const NEW = buildImage({
  version: NEW_VERSION,
  sequenceNumber: 2,
  behaviour: 'healthy',
  size: BODY,
  key: key.signing,
});
// A SUIT envelope built and signed by core, checked by the agent's production verifier.
const ENVELOPE = await buildReleaseEnvelope(
  { sequenceNumber: 2, components: [{ id: MAIN_COMPONENT, image: NEW }] },
  key.signing,
);
const PATCH = diff(OLD, NEW);
const PATCH_URL = '/api/device/v1/deltas/p';

/** The in-process service of the sim, plus a delta offer for the payload and the patch itself. */
class DeltaTransport implements Transport {
  readonly inner: MemoryTransport;
  patchRequests = 0;
  fullRequests = 0;
  phase: 'before' | 'apply' | 'after' = 'before';
  readonly downloaded: FeedbackReport[] = [];

  constructor(
    patch: Uint8Array,
    private readonly baseDigest = sha(OLD),
  ) {
    this.patch = patch;
    this.inner = new MemoryTransport(
      {
        actionId: 'act-delta',
        version: NEW_VERSION,
        sequenceNumber: 2,
        envelope: ENVELOPE,
        payloads: [NEW],
      },
      {},
      512,
    );
  }
  readonly patch: Uint8Array;

  async checkIn(request: CheckInRequest, etag: string | null): Promise<CheckInResult> {
    const result = await this.inner.checkIn(request, etag);
    if (result.status !== 200 || result.body.action === null) return result;
    const action = result.body.action;
    const delta = {
      baseDigest: this.baseDigest,
      patchDigest: sha(this.patch),
      patchSize: this.patch.length,
      url: PATCH_URL,
    };
    return {
      ...result,
      body: {
        ...result.body,
        action: { ...action, payloads: action.payloads.map((p) => ({ ...p, delta })) },
      },
    };
  }

  fetchEnvelope(url: string, maxBytes: number): Promise<Uint8Array> {
    return this.inner.fetchEnvelope(url, maxBytes);
  }

  async openPayload(url: string, offset: number, signal: AbortSignal): Promise<PayloadResponse> {
    if (url !== PATCH_URL) {
      this.fullRequests += 1;
      return this.inner.openPayload(url, offset, signal);
    }
    this.patchRequests += 1;
    this.phase = 'apply';
    const bytes = this.patch.subarray(offset);
    async function* body() {
      for (let at = 0; at < bytes.length; at += 512) yield bytes.subarray(at, at + 512);
    }
    return { start: offset, totalSize: this.patch.length, body: body() };
  }

  async sendFeedback(actionId: string, report: FeedbackReport): Promise<FeedbackResult> {
    if (report.status === 'downloaded') {
      this.phase = 'after';
      this.downloaded.push(report);
    }
    return this.inner.sendFeedback(actionId, report);
  }
}

function device(patch = PATCH, baseDigest?: string) {
  const transport = new DeltaTransport(patch, baseDigest);
  const sim = new SimDevice({
    layout: defaultLayoutSpec('ab', { slotSectors: new Array(16).fill(4096) }),
    seed: 3,
    trustedKeys: [key.trusted],
    initialImage: OLD,
    application: new AgentApplication({
      transport,
      verifier: releaseVerifier({ trustedKeys: [key.trusted] }),
      initialComponents: [
        { id: MAIN_COMPONENT, version: '1.0.0', sequenceNumber: 1, digest: sha(OLD) },
      ],
      agentOptions: { mainComponent: MAIN_COMPONENT },
    }),
  });
  return { sim, transport };
}

function expectUpdated(d: ReturnType<typeof device>, outcome: string) {
  expect(outcome).toBe('idle');
  expect(d.sim.running?.image.versionString).toBe(NEW_VERSION);
  expect(d.sim.boots.every((b) => !b.result.ok || b.oracleVerified)).toBe(true);
  expect(d.transport.inner.outcome?.status).toBe('success');
}

describe('delta update on a simulated device', () => {
  it('installs through the patch, without downloading the full image', async () => {
    expect(PATCH.length).toBeLessThan(NEW.length / 10);
    const d = device();
    expectUpdated(d, await d.sim.runUntilIdle());
    expect(d.transport.patchRequests).toBe(1);
    expect(d.transport.fullRequests).toBe(0);
    expect(d.transport.downloaded.map((r) => r.message)).toEqual([null]);
  });

  it('converges on the new image after a power cut at every flash operation of the apply', async () => {
    const clean = device();
    const applyOps: number[] = [];
    clean.sim.flash.observe((op) => {
      if (clean.transport.phase === 'apply') applyOps.push(op.index);
    });
    expectUpdated(clean, await clean.sim.runUntilIdle());
    // The apply erases and writes every sector of the new image.
    expect(applyOps.length).toBeGreaterThanOrEqual(2 * Math.floor(NEW.length / 4096));
    let restartedApplies = 0;
    for (const opIndex of applyOps) {
      for (const mode of CUT_MODES) {
        const d = device();
        d.sim.flash.planCuts([{ opIndex, mode }]);
        expectUpdated(d, await d.sim.runUntilIdle());
        expect(d.transport.fullRequests).toBe(0);
        if (d.transport.patchRequests > 1) restartedApplies += 1;
      }
    }
    // Cuts inside the apply restart it (the decoder keeps no state across boots).
    expect(restartedApplies).toBeGreaterThan(applyOps.length);
  });

  it('falls back to the full image when the patch is corrupt, and says so in its report', async () => {
    const bad = Uint8Array.from(PATCH);
    bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 0xff;
    const d = device(bad);
    expectUpdated(d, await d.sim.runUntilIdle());
    expect(d.transport.fullRequests).toBeGreaterThan(0);
    expect(d.transport.downloaded[0]?.message).toMatch(/^delta fallback 814100:DELTA_/);
  });

  it('falls back to the full image when its installed image is not the offered base', async () => {
    const d = device(PATCH, sha(NEW));
    expectUpdated(d, await d.sim.runUntilIdle());
    expect(d.transport.patchRequests).toBe(0);
    expect(d.transport.fullRequests).toBeGreaterThan(0);
    expect(d.transport.downloaded[0]?.message).toBe('delta fallback 814100:DELTA_BASE_MISMATCH');
  });
});
