import { describe, expect, it } from 'vitest';
import { LAYOUT_NAMES } from './device-layout.js';
import { agentUnderTest, runPowerCutSweep, SWEEP_SCENARIOS } from './power-cut-sweep.js';
import { ScriptedUpdater } from './scripted-updater.js';

describe('power-cut sweep', () => {
  for (const layout of LAYOUT_NAMES) {
    for (const scenario of SWEEP_SCENARIOS) {
      it(`with the real agent never bricks and converges: layout=${layout} scenario=${scenario}`, async () => {
        // Every cut point of every layout, in each of the three modes (before, after, torn). The
        // whole file took ~90 s on a loaded 2-core machine (swap-scratch failing-update, 495 cut
        // points, ~45 s of it); bench:power-cut runs the same sweep with smaller flash operations.
        const result = await runPowerCutSweep({
          layout,
          scenario,
          application: agentUnderTest(),
          multiCutRuns: 8,
        });
        console.log(
          `agent layout=${layout} scenario=${scenario} cleanOps=${result.cleanOps} cutPoints=${result.cutPoints} bricks=${result.bricks} multiCut=${result.multiCutRuns} endedOn=${JSON.stringify(result.endedOn)} byArea=${JSON.stringify(result.cleanOpsByArea)}`,
        );
        expect(result.failures.slice(0, 5)).toEqual([]);
        expect(result.bricks).toBe(0);
        expect(result.unverifiedBoots).toBe(0);
        expect(result.cutPoints).toBe(result.cleanOps * 3);
      }, 300_000);
    }
  }

  it('also holds on 0x00-erased flash with 16-byte writes (every cut point)', async () => {
    const result = await runPowerCutSweep({
      layout: 'ab-factory',
      scenario: 'failing-update',
      application: agentUnderTest(),
      layoutOverrides: { erasedValue: 0x00, writeAlign: 16 },
    });
    expect(result.failures.slice(0, 5)).toEqual([]);
    expect(result.bricks).toBe(0);
    expect(result.cutPoints).toBe(result.cleanOps * 3);
  }, 120_000);

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
