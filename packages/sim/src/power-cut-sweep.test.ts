import { describe, expect, it } from 'vitest';
import { LAYOUT_NAMES } from './device-layout.js';
import { agentUnderTest, runPowerCutSweep, SWEEP_SCENARIOS } from './power-cut-sweep.js';
import { ScriptedUpdater } from './scripted-updater.js';

describe('power-cut sweep', () => {
  for (const layout of LAYOUT_NAMES) {
    for (const scenario of SWEEP_SCENARIOS) {
      it(`with the real agent never bricks and converges: layout=${layout} scenario=${scenario}`, async () => {
        const result = await runPowerCutSweep({
          layout,
          scenario,
          application: agentUnderTest(),
          multiCutRuns: 20,
        });
        console.log(
          `agent layout=${layout} scenario=${scenario} cleanOps=${result.cleanOps} cutPoints=${result.cutPoints} bricks=${result.bricks} multiCut=${result.multiCutRuns} endedOn=${JSON.stringify(result.endedOn)} byArea=${JSON.stringify(result.cleanOpsByArea)}`,
        );
        expect(result.failures.slice(0, 5)).toEqual([]);
        expect(result.bricks).toBe(0);
        expect(result.unverifiedBoots).toBe(0);
        expect(result.cutPoints).toBe(result.cleanOps * 3);
      });
    }
  }

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
