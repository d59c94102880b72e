import { createHash } from 'node:crypto';
import { diff } from '@updraft/delta';
import { describe, expect, it } from 'vitest';
import { DEFAULT_AGENT_OPTIONS } from '../agent-options.js';
import { initialJournal, type PlannedComponent } from '../journal/journal.js';
import type { HandlerContext } from '../machine/handler-context.js';
import type { PayloadResponse, Transport } from '../ports/transport.js';
import { MemoryBootControl, MemorySlot, PowerCut, RealClock } from '../testing/fakes.js';
import { installWithDelta } from './install-with-delta.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const OLD = Uint8Array.from({ length: 30_000 }, (_, i) => ((i * 7) & 0xff) ^ (i >> 9));
const NEW = Uint8Array.from(OLD, (b, i) => (i % 5000 === 17 ? b ^ 0x55 : b));
const PATCH = diff(OLD, NEW);
const MAIN = DEFAULT_AGENT_OPTIONS.mainComponent;

function setup(options: { installed?: string; patch?: Uint8Array; cut?: boolean } = {}) {
  const slots = {
    a: new MemorySlot('a', 64 * 1024, 4096),
    b: new MemorySlot('b', 64 * 1024, 4096),
  };
  slots.a.data.set(OLD);
  const opened: number[] = [];
  const patch = options.patch ?? PATCH;
  const transport = {
    async openPayload(_url: string, offset: number): Promise<PayloadResponse> {
      opened.push(offset);
      if (options.cut) throw new PowerCut();
      async function* body() {
        yield patch.subarray(offset);
      }
      return { start: offset, totalSize: patch.length, body: body() };
    },
  } as unknown as Transport;
  const journal = initialJournal([
    { id: MAIN, version: '1.0.0', sequenceNumber: 1, digest: options.installed ?? sha(OLD) },
  ]);
  const warnings: Record<string, unknown>[] = [];
  const log = {
    debug: () => {},
    info: () => {},
    warn: (fields: Record<string, unknown>) => warnings.push(fields),
    error: () => {},
  };
  const ctx = {
    deps: { transport, bootControl: new MemoryBootControl(slots), timeoutClock: new RealClock() },
    options: DEFAULT_AGENT_OPTIONS,
    journal,
    log,
  } as unknown as HandlerContext;
  const component: PlannedComponent = {
    id: MAIN,
    version: '1.1.0',
    sequenceNumber: 2,
    size: NEW.length,
    digest: sha(NEW),
    payloadIndex: 0,
    payloadSize: NEW.length,
    encryption: null,
    written: 0,
    complete: false,
  };
  const payload = {
    digest: sha(NEW),
    size: NEW.length,
    url: '/full',
    delta: { baseDigest: sha(OLD), patchDigest: sha(patch), patchSize: patch.length, url: '/p' },
  };
  return { ctx, slots, component, payload, opened, warnings };
}

describe('installWithDelta', () => {
  it('rebuilds the image from the active slot and marks the component complete', async () => {
    const { ctx, slots, component, payload } = setup();
    // The patch is named, for the `downloaded` report (direct downloads count from it).
    expect(await installWithDelta(ctx, component, slots.b, payload)).toEqual({
      used: true,
      patchDigest: payload.delta.patchDigest,
    });
    expect(component).toMatchObject({ complete: true, written: NEW.length });
    expect(sha(slots.b.data.subarray(0, NEW.length))).toBe(sha(NEW));
  });

  it('leaves components it cannot patch to the full download, without asking for the patch', async () => {
    const cases: [string, (s: ReturnType<typeof setup>) => void][] = [
      ['no offer', (s) => delete (s.payload as { delta?: unknown }).delta],
      ['malformed offer', (s) => Object.assign(s.payload.delta, { patchSize: -1 })],
      ['not the main image', (s) => Object.assign(s.component, { id: 'ff' })],
      ['encrypted', (s) => Object.assign(s.component, { encryption: 'AA==' })],
      ['full download under way', (s) => Object.assign(s.component, { written: 4096 })],
    ];
    for (const [name, change] of cases) {
      const s = setup();
      change(s);
      expect([name, await installWithDelta(s.ctx, s.component, s.slots.b, s.payload)]).toEqual([
        name,
        { used: false, fallback: null },
      ]);
      expect(s.opened).toEqual([]);
      expect(s.slots.b.writes).toBe(0);
    }
  });

  it('falls back with DELTA_BASE_MISMATCH when the installed image is not the base', async () => {
    const s = setup({ installed: sha(NEW) });
    expect(await installWithDelta(s.ctx, s.component, s.slots.b, s.payload)).toEqual({
      used: false,
      fallback: 'DELTA_BASE_MISMATCH',
    });
    expect(s.opened).toEqual([]);
    expect(s.warnings).toHaveLength(1);
  });

  it('falls back with the typed code of a failed apply, leaving the component to download', async () => {
    const bad = Uint8Array.from(PATCH);
    bad[bad.length - 5] = (bad[bad.length - 5] ?? 0) ^ 0x20;
    const s = setup({ patch: bad });
    const result = await installWithDelta(s.ctx, s.component, s.slots.b, s.payload);
    expect(result.used).toBe(false);
    expect(result.used === false && result.fallback).toMatch(/^DELTA_/);
    expect(s.component).toMatchObject({ complete: false, written: 0 });
  });

  it('lets a power cut through (the next boot restarts the apply)', async () => {
    const s = setup({ cut: true });
    await expect(installWithDelta(s.ctx, s.component, s.slots.b, s.payload)).rejects.toBeInstanceOf(
      PowerCut,
    );
    expect(s.component).toMatchObject({ complete: false, written: 0 });
  });
});
