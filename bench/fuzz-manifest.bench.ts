// Long fuzz run of the SUIT envelope decoder, verifier and processor: any untyped exception fails it.
//
// Run: npx tsx bench/fuzz-manifest.bench.ts [--runs 500000] [--seed N]
// The same inputs as packages/core/src/suit/envelope-fuzz.test.ts (which runs 25,000 in CI):
// mutated shared and own SUIT vectors, re-signed mutated manifests, random bytes. Prints the count,
// the rate and the slowest single input (bounded time per input is part of the promise), and
// writes bench/results/fuzz-manifest.json. On a failure fast-check prints the shrunk input and its seed.
import { mkdirSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  envelopeFuzzInput,
  exerciseEnvelope,
} from '../packages/core/src/suit/envelope-fuzz-inputs.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const RUNS = arg('runs', 500_000);
const SEED = arg('seed', Date.now() % 2 ** 31);

let count = 0;
let slowestMs = 0;
let slowestBytes = 0;
let slowestInput = new Uint8Array(0);
const started = performance.now();
fc.assert(
  fc.property(envelopeFuzzInput, (bytes) => {
    count++;
    const t = performance.now();
    exerciseEnvelope(bytes);
    const ms = performance.now() - t;
    if (ms > slowestMs) {
      slowestMs = ms;
      slowestBytes = bytes.length;
      slowestInput = bytes;
    }
    if (count % 50_000 === 0) console.log(`  ${count} inputs…`);
  }),
  { numRuns: RUNS, seed: SEED },
);
const seconds = (performance.now() - started) / 1000;
// Time the slowest input again on its own: a one-off pause (GC, the scheduler) is not the input's cost.
let again = Number.POSITIVE_INFINITY;
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  exerciseEnvelope(slowestInput);
  again = Math.min(again, performance.now() - t);
}
console.log(
  `fuzz-manifest: ${count} inputs, no untyped exception, ${seconds.toFixed(1)} s (${Math.round(count / seconds)}/s), slowest input ${slowestMs.toFixed(2)} ms (${slowestBytes} bytes; ${again.toFixed(2)} ms when run again), seed ${SEED}`,
);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/fuzz-manifest.json', import.meta.url),
  `${JSON.stringify({ benchmark: 'fuzz-manifest', node: process.version, date: new Date().toISOString(), seed: SEED, inputs: count, untypedExceptions: 0, seconds: Number(seconds.toFixed(1)), slowestInputMs: Number(slowestMs.toFixed(2)), slowestInputBytes: slowestBytes, slowestInputRerunMs: Number(again.toFixed(2)) }, null, 2)}\n`,
);
