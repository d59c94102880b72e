import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PowerCut } from './errors.js';
import { FlashArea } from './flash-area.js';
import { RecordLog } from './record-log.js';
import { CUT_MODES, SimFlash, WRITE_ALIGNMENTS } from './sim-flash.js';

type Rec = { type: number; tag: number; value: number };
const rec = fc.record({
  type: fc.integer({ min: 1, max: 6 }),
  tag: fc.integer({ min: 1, max: 0xffffffff }),
  value: fc.integer({ min: 0, max: 0xffffffff }),
});

describe('RecordLog under torn writes', () => {
  it('fuzz: after a cut anywhere, readers see exactly the completed appends, and appending continues', () => {
    fc.assert(
      fc.property(
        fc.array(rec, { minLength: 1, maxLength: 20 }),
        fc.array(rec, { minLength: 1, maxLength: 5 }),
        fc.nat(),
        fc.constantFrom(...CUT_MODES),
        fc.constantFrom(...WRITE_ALIGNMENTS),
        fc.constantFrom(0xff, 0x00),
        fc.integer({ min: 1, max: 1000 }),
        (first, after, cutSeed, mode, writeAlign, erasedValue, seed) => {
          const flash = new SimFlash({ sectorSizes: [512], writeAlign, erasedValue }, { seed });
          const log = new RecordLog(new FlashArea(flash, 'log', 0, 512));
          const cutAt = cutSeed % first.length;
          flash.planCuts([{ opIndex: cutAt, mode }]);
          const done: Rec[] = [];
          try {
            for (const r of first) {
              log.append(r.type, r.tag, r.value);
              done.push(r);
            }
          } catch (e) {
            expect(e).toBeInstanceOf(PowerCut);
          }
          flash.powerOn();
          const landed = mode === 'after' ? first.slice(0, cutAt + 1) : done;
          const valid = () =>
            log
              .entries()
              .filter((e) => e.kind === 'record')
              .map((e) =>
                e.kind === 'record' ? { type: e.type, tag: e.tag, value: e.value } : null,
              );
          expect(valid()).toEqual(landed);
          for (const r of after) expect(log.append(r.type, r.tag, r.value)).toBe(true);
          expect(valid()).toEqual([...landed, ...after]);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('reports full instead of writing past its area', () => {
    const flash = new SimFlash({ sectorSizes: [64] });
    const log = new RecordLog(new FlashArea(flash, 'log', 0, 64));
    for (let i = 0; i < 4; i++) expect(log.append(1, 1, i)).toBe(true);
    expect(log.append(1, 1, 9)).toBe(false);
    expect(flash.counters.writes).toBe(4);
  });
});
