import { createHash } from 'node:crypto';
import { diff } from '@updraft/delta';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentError } from '../errors.js';
import type { PayloadResponse, Transport } from '../ports/transport.js';
import { FaultPlan, MemorySlot, PowerCut, RealClock } from '../testing/fakes.js';
import { type DeltaJob, deltaOfferOf, installFromDelta } from './delta-install.js';

const SLOT = 64 * 1024;
const SECTOR = 4096;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function image(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    // Runs of repeated words, like code: compressible but not trivially.
    out[i] = i % 64 < 40 ? (i >> 6) & 0xff : x >>> 24;
  }
  return out;
}

const OLD = image(40_000, 7);
const NEW = (() => {
  const n = new Uint8Array(41_000);
  n.set(OLD.subarray(0, 9000));
  n.set(image(1000, 99), 9000);
  n.set(OLD.subarray(9000), 10_000);
  for (let i = 500; i < n.length; i += 4099) n[i] = (n[i]! ^ 0x5a) & 0xff;
  return n;
})();
const PATCH = diff(OLD, NEW);

/** Serves one patch over the Transport port, with scripted connection drops. */
class PatchTransport implements Pick<Transport, 'openPayload'> {
  readonly opened: number[] = [];
  /** Per request: end the body after this many bytes (then the connection "drops"). */
  dropAfter: number[] = [];
  ignoreRange = false;
  extra = 0;
  constructor(private readonly bytes: Uint8Array) {}

  async openPayload(_url: string, offset: number): Promise<PayloadResponse> {
    this.opened.push(offset);
    const start = this.ignoreRange ? 0 : offset;
    const body = Buffer.concat([this.bytes.subarray(start), Buffer.alloc(this.extra)]);
    const drop = this.dropAfter.shift();
    async function* chunks() {
      const end = drop === undefined ? body.length : Math.min(drop, body.length);
      for (let at = 0; at < end; at += 1000) yield body.subarray(at, Math.min(end, at + 1000));
      if (drop !== undefined) throw new AgentError('AGENT_NETWORK_ERROR', 'connection reset');
    }
    return { start, totalSize: this.bytes.length, body: chunks() };
  }
}

function setup(options: { patch?: Uint8Array; active?: Uint8Array; faults?: FaultPlan } = {}) {
  const active = new MemorySlot('a', SLOT, SECTOR);
  active.data.set(options.active ?? OLD);
  const target = new MemorySlot('b', SLOT, SECTOR, 8, options.faults);
  const patch = options.patch ?? PATCH;
  const transport = new PatchTransport(patch);
  const job: DeltaJob = {
    transport: transport as unknown as Transport,
    clock: new RealClock(),
    stallTimeoutMs: 5000,
    active,
    target,
    image: { size: NEW.length, digest: sha(NEW) },
    offer: { baseDigest: sha(OLD), patchDigest: sha(patch), patchSize: patch.length, url: '/p' },
  };
  return { active, target, transport, job };
}

const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: { code?: string }) => e.code ?? String(e),
  );

describe('installFromDelta', () => {
  it('rebuilds the signed image into the target slot, only reading the active slot', async () => {
    expect(PATCH.length).toBeLessThan(NEW.length / 4);
    const { active, target, job } = setup();
    await installFromDelta(job);
    expect(Buffer.from(target.data.subarray(0, NEW.length)).equals(Buffer.from(NEW))).toBe(true);
    expect(Buffer.from(active.data.subarray(0, OLD.length)).equals(Buffer.from(OLD))).toBe(true);
    expect(active.writes).toBe(0);
  });

  it('resumes a dropped patch download with Range from the last byte consumed', async () => {
    const { target, transport, job } = setup();
    const third = Math.floor(PATCH.length / 3);
    transport.dropAfter = [third, third];
    await installFromDelta(job);
    expect(transport.opened).toEqual([0, third, 2 * third]);
    expect(Buffer.from(target.data.subarray(0, NEW.length)).equals(Buffer.from(NEW))).toBe(true);
  });

  it('copes with a server that ignores Range on resume', async () => {
    const { target, transport, job } = setup();
    transport.dropAfter = [Math.floor(PATCH.length / 2)];
    transport.ignoreRange = true;
    await installFromDelta(job);
    expect(Buffer.from(target.data.subarray(0, NEW.length)).equals(Buffer.from(NEW))).toBe(true);
  });

  it('refuses a wrong active image before writing anything (DELTA_BASE_MISMATCH)', async () => {
    const other = image(40_000, 8);
    const { target, job } = setup({ active: other });
    expect(await codeOf(installFromDelta(job))).toBe('DELTA_BASE_MISMATCH');
    expect(target.writes).toBe(0);
  });

  it('refuses a patch for another base or another image than the signed one', async () => {
    const { target, job } = setup();
    const wrongBase = { ...job, offer: { ...job.offer, baseDigest: sha(NEW) } };
    expect(await codeOf(installFromDelta(wrongBase))).toBe('DELTA_BASE_MISMATCH');
    const wrongImage = { ...job, image: { size: NEW.length, digest: sha(OLD) } };
    expect(await codeOf(installFromDelta(wrongImage))).toBe('DELTA_RESULT_MISMATCH');
    expect(target.writes).toBe(0);
    const notSmaller = { ...job, offer: { ...job.offer, patchSize: NEW.length } };
    expect(await codeOf(installFromDelta(notSmaller))).toBe('DELTA_INPUT_TOO_LARGE');
  });

  it('answers a corrupted, truncated or overlong patch with a typed error', async () => {
    for (const at of [120, Math.floor(PATCH.length / 2), PATCH.length - 3]) {
      const bad = Uint8Array.from(PATCH);
      bad[at] = (bad[at] ?? 0) ^ 0x10;
      const { target, job } = setup({ patch: bad });
      expect(await codeOf(installFromDelta(job))).toMatch(/^DELTA_/);
      expect(sha(target.data.subarray(0, NEW.length))).not.toBe(sha(NEW));
    }
    const { transport, job } = setup();
    transport.dropAfter = [100, 0, 0, 0];
    expect(await codeOf(installFromDelta(job))).toBe('AGENT_NETWORK_ERROR');
    const long = setup();
    long.transport.extra = 10;
    expect(await codeOf(installFromDelta(long.job))).toBe('AGENT_PAYLOAD_TOO_LONG');
  });

  it('restarts after a power cut at any write of the apply and produces the right image', async () => {
    const clean = new FaultPlan();
    await installFromDelta(setup({ faults: clean }).job);
    expect(clean.ops).toBeGreaterThan(10);
    for (let cut = 1; cut <= clean.ops; cut++) {
      const faults = new FaultPlan();
      faults.cutAt = cut;
      const { target, job } = setup({ faults });
      await expect(installFromDelta(job)).rejects.toBeInstanceOf(PowerCut);
      faults.cutAt = Number.POSITIVE_INFINITY;
      await installFromDelta(job);
      expect(sha(target.data.subarray(0, NEW.length))).toBe(sha(NEW));
    }
  });
});

describe('deltaOfferOf', () => {
  const good = {
    baseDigest: 'a'.repeat(64),
    patchDigest: 'b'.repeat(64),
    patchSize: 10,
    url: '/x',
  };

  it('accepts a well-formed offer and ignores payloads without one', () => {
    expect(deltaOfferOf({ delta: good })).toEqual(good);
    expect(deltaOfferOf({ digest: 'x' })).toBeNull();
    expect(deltaOfferOf(null)).toBeNull();
  });

  it('refuses malformed offers (fuzzed): never throws, never returns a bad field', () => {
    fc.assert(
      fc.property(
        fc.anything(),
        fc.record({ field: fc.constantFrom(...Object.keys(good)), value: fc.anything() }),
        (junk, mutation) => {
          expect(deltaOfferOf({ delta: junk }) === null || typeof junk === 'object').toBe(true);
          const offer = deltaOfferOf({ delta: { ...good, [mutation.field]: mutation.value } });
          if (offer !== null) {
            expect(offer.baseDigest).toMatch(/^[0-9a-f]{64}$/);
            expect(offer.patchDigest).toMatch(/^[0-9a-f]{64}$/);
            expect(Number.isSafeInteger(offer.patchSize) && offer.patchSize > 0).toBe(true);
            expect(typeof offer.url).toBe('string');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
