import { describe, expect, it } from 'vitest';
import { createDeviceLayout, defaultLayoutSpec } from '../device-layout.js';
import { PowerCut } from '../errors.js';
import { CUT_MODES } from '../sim-flash.js';
import { FlashStateStore } from './flash-state-store.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

function store(seed = 1) {
  const layout = createDeviceLayout(defaultLayoutSpec('ab-xip', { journalSectorSize: 512 }), seed);
  return { layout, store: new FlashStateStore(layout.journal) };
}

describe('FlashStateStore', () => {
  it('loads null when nothing was saved, then the last saved record', async () => {
    const { store: s } = store();
    expect(await s.load()).toBeNull();
    for (const text of ['one', 'two, a bit longer', '', 'three']) {
      await s.save(enc(text));
      expect(dec(await s.load())).toBe(text);
    }
  });

  it('alternates between its two copies', async () => {
    const { layout, store: s } = store();
    const ops = () => layout.flash.counters.erases;
    await s.save(enc('a'));
    await s.save(enc('b'));
    expect(ops()).toBe(2);
    expect(layout.flash.isErased(layout.journal[0].offset, 16)).toBe(false);
    expect(layout.flash.isErased(layout.journal[1].offset, 16)).toBe(false);
  });

  it('refuses a record larger than a copy with SIM_CONFIG_INVALID and keeps the old one', async () => {
    const { store: s } = store();
    await s.save(enc('keep'));
    await expect(s.save(new Uint8Array(600))).rejects.toMatchObject({ code: 'SIM_CONFIG_INVALID' });
    expect(dec(await s.load())).toBe('keep');
  });

  it('after a cut at any op of a save (before, after, torn) loads the old or the new record', async () => {
    let cases = 0;
    for (const mode of CUT_MODES) {
      for (let op = 0; op < 3; op++) {
        const { layout, store: s } = store(op + 11);
        await s.save(enc('old record'));
        await s.save(enc('older? no: the previous one'));
        const before = layout.flash.counters.ops;
        layout.flash.planCuts([{ opIndex: before + op, mode }]);
        await expect(s.save(enc('new record'))).rejects.toBeInstanceOf(PowerCut);
        layout.flash.powerOn();
        const loaded = dec(await s.load());
        expect(['older? no: the previous one', 'new record']).toContain(loaded);
        // The store keeps working after the cut.
        await s.save(enc('after'));
        expect(dec(await s.load())).toBe('after');
        cases++;
      }
    }
    expect(cases).toBe(9);
  });
});
