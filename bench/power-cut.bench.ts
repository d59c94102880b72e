// Exhaustive power-cut sweep of the real agent on simulated flash: cut points tested and bricks, per layout and scenario
//
// For each layout (ab-xip, ab-factory, swap-scratch) and scenario (good-update, failing-update): one clean update
// counts its flash writes + erases (image, trailer, journal); then power is cut at EVERY one of them
// — before, after, and torn inside — and the device reboots and converges. Then seeded random
// multi-cut runs. Prints `layout=<name> scenario=<name> cutPoints=<N> bricks=<M>` per pair and
// writes bench/results/power-cut.json. The baseline in the same run is the clean update's time.
//
// Run: npm run bench:power-cut   (or: npx tsx --conditions=updraft-source bench/power-cut.bench.ts)
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  agentUnderTest,
  LAYOUT_NAMES,
  runPowerCutSweep,
  SWEEP_SCENARIOS,
  type SweepResult,
} from '../packages/sim/src/index.ts';

const multiCutRuns = Number(process.env.POWER_CUT_MULTI ?? 200);
// ~28 KB images in 50 non-uniform sectors (48 × 512 B + 2 × 4 KiB), served in 128-byte chunks,
// journal checkpoint every 512 bytes: many small flash operations, so many cut points. The swap
// layout moves whole slots through a scratch sector, so it gets 8 × 4 KiB sectors (fewer, larger
// moves) to keep the run in minutes.
const layoutOverridesFor = (layout: string) => ({
  slotSectors:
    layout === 'swap-scratch'
      ? Array<number>(8).fill(4096)
      : [...Array<number>(48).fill(512), 4096, 4096],
});
const bodySize = 28_000;
const application = agentUnderTest({ chunkSize: 128, checkpointBytes: 512 });

const rows: (Omit<SweepResult, 'failures'> & {
  failures: number;
  firstFailures: SweepResult['failures'];
  sweepMs: number;
  cleanRunMs: number;
  msPerCutPoint: number;
})[] = [];
for (const layout of LAYOUT_NAMES) {
  for (const scenario of SWEEP_SCENARIOS) {
    const t0 = performance.now();
    const clean = await runPowerCutSweep({
      layout,
      scenario,
      application,
      bodySize,
      layoutOverrides: layoutOverridesFor(layout),
      modes: [],
    });
    const cleanRunMs = performance.now() - t0;
    const t1 = performance.now();
    const result = await runPowerCutSweep({
      layout,
      scenario,
      application,
      bodySize,
      layoutOverrides: layoutOverridesFor(layout),
      multiCutRuns,
      seed: 2026,
    });
    const sweepMs = performance.now() - t1;
    // The cut-point space must not depend on the run: same seed, same operations.
    if (clean.cleanOps !== result.cleanOps) throw new Error('clean update is not deterministic');
    console.log(
      `layout=${layout} scenario=${scenario} cutPoints=${result.cutPoints} bricks=${result.bricks}`,
    );
    console.error(
      `  cleanOps=${result.cleanOps} ${JSON.stringify(result.cleanOpsByArea)} multiCutRuns=${result.multiCutRuns}` +
        ` unverifiedBoots=${result.unverifiedBoots} failures=${result.failures.length}` +
        ` endedOn=${JSON.stringify(result.endedOn)} sweep=${(sweepMs / 1000).toFixed(1)}s` +
        ` clean=${cleanRunMs.toFixed(0)}ms`,
    );
    rows.push({
      ...result,
      failures: result.failures.length,
      firstFailures: result.failures.slice(0, 5),
      sweepMs: Math.round(sweepMs),
      cleanRunMs: Math.round(cleanRunMs),
      msPerCutPoint: Number(
        (sweepMs / Math.max(1, result.cutPoints + result.multiCutRuns)).toFixed(2),
      ),
    });
  }
}

const total = rows.reduce((n, r) => n + r.cutPoints, 0);
const bricks = rows.reduce((n, r) => n + r.bricks, 0);
console.log(`total cutPoints=${total} bricks=${bricks}`);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/power-cut.json', import.meta.url),
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, multiCutRuns, totalCutPoints: total, bricks, rows }, null, 2)}\n`,
);
if (bricks > 0 || rows.some((r) => r.failures > 0 || r.unverifiedBoots > 0)) process.exitCode = 1;
