import { describe, expect, it } from 'vitest';
import { LAYOUT_NAMES } from './device-layout.js';
import { agentUnderTest, runPowerCutSweep, SWEEP_SCENARIOS } from './power-cut-sweep.js';
import { ScriptedUpdater } from './scripted-updater.js';

describe('power-cut sweep', () => {
  for (const layout of LAYOUT_NAMES) {
    for (const scenario of SWEEP_SCENARIOS) {
      it(`with the real agent never bricks and converges: layout=${layout} scenario=${scenario}`, async () => {
        // The swap layout moves whole slots on every swap (several times the operations, each run
        // slower): CI samples every 6th cut point of it; bench:power-cut runs all of them.
        const stride = layout === 'swap-scratch' ? 6 : 1;
        const result = await runPowerCutSweep({
          layout,
          scenario,
          application: agentUnderTest(),
          multiCutRuns: layout === 'swap-scratch' ? 5 : 8,
          stride,
        });
        console.log(
          `agent layout=${layout} scenario=${scenario} cleanOps=${result.cleanOps} cutPoints=${result.cutPoints} bricks=${result.bricks} multiCut=${result.multiCutRuns} endedOn=${JSON.stringify(result.endedOn)} byArea=${JSON.stringify(result.cleanOpsByArea)}`,
        );
        expect(result.failures.slice(0, 5)).toEqual([]);
        expect(result.bricks).toBe(0);
        expect(result.unverifiedBoots).toBe(0);
        expect(result.cutPoints).toBe(Math.ceil(result.cleanOps / stride) * 3);
      }, 120_000);
    }
  }

  it('also holds on 0x00-erased flash with 16-byte writes (every 4th cut point)', async () => {
    const result = await runPowerCutSweep({
      layout: 'ab-factory',
      scenario: 'failing-update',
      application: agentUnderTest(),
      layoutOverrides: { erasedValue: 0x00, writeAlign: 16 },
      stride: 4,
    });
    expect(result.failures.slice(0, 5)).toEqual([]);
    expect(result.bricks).toBe(0);
    expect(result.cutPoints).toBeGreaterThan(45);
  });

  it('with the scripted updater (bootloader and adapters alone) never bricks', async () => {
    const result = await runPowerCutSweep({
      layout: 'ab-factory',
      scenario: 'failing-update',
      application: (images) =>
        new ScriptedUpdater({ image: images.next, version: images.newVersion }),
      multiCutRuns: 10,
    });
    expect(result.failures.slice(0, 5)).toEqual([]);
    expect(result.bricks).toBe(0);
  });
});
