// Envelope verification (decode + digest + signature + processor checks) vs bare node:crypto verify of the same signature, ES256 and EdDSA.
//
// Run: npm run bench:verify (builds core, then npx tsx bench/verify.bench.ts [--rounds 41] [--ms 60])
// It measures the built package (packages/core/dist), the code `npm start` and the CLI run.
// Each round measures the baseline and Updraft back to back for a short slice (alternating which
// goes first), so both see the same machine load; the result is the median of the per-round
// ratios (many short rounds: robust to load that changes during the run), plus the medians of
// each side. Target (issue 2): Updraft ≥ 80 % of the bare throughput. Writes
// bench/results/verify.json.
import { createHash, verify } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import {
  classIdFromName,
  coseToBeSigned,
  createEnvelope,
  createKeySigner,
  decodeEnvelope,
  generateSigningKeyPair,
  processEnvelope,
  type SigningKeyAlg,
  signEnvelope,
  TrustStore,
  vendorIdFromDomain,
} from '../packages/core/dist/index.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 41);
const ROUND_MS = arg('ms', 60);
const TARGET = 0.8;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Operations per CPU-second of `fn` over about `ms` milliseconds of CPU time. CPU time (user +
 * system of this process) rather than wall-clock: on a shared machine wall-clock also counts the
 * time other processes hold the CPU, which is noise for a ratio of two code paths.
 */
function throughput(fn: () => void, ms: number): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const start = process.cpuUsage();
  let spent = 0;
  while (spent < ms * 1000) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    const d = process.cpuUsage(start);
    spent = d.user + d.system;
  }
  return (n * 1_000_000) / spent;
}

async function scenario(alg: SigningKeyAlg) {
  const pair = generateSigningKeyPair(alg);
  const vendorId = vendorIdFromDomain('bench.updraft.example');
  const classId = classIdFromName(vendorId, 'bench-board');
  const image = new Uint8Array(1024).fill(7);
  const bytes = await signEnvelope(
    createEnvelope({
      vendorId,
      classId,
      sequenceNumber: 2,
      components: [
        {
          id: '814100',
          digest: createHash('sha256').update(image).digest(),
          size: image.length,
          uri: 'https://cdn.example/fw.bin',
        },
      ],
      text: { en: { fields: { updateDescription: 'bench' } } },
    }),
    createKeySigner(pair.privateKey),
  );
  const trust = new TrustStore({ keys: [{ key: pair.publicKey }] });
  const device = { vendorId, classId, components: [{ id: '814100', sequenceNumber: 1 }] };

  // The baseline verifies exactly the signature Updraft verifies, with a ready KeyObject.
  const envelope = decodeEnvelope(bytes);
  const block = envelope.authentication.blocks[0]!;
  const toBeSigned = coseToBeSigned(
    'Signature1',
    block.protectedBytes,
    envelope.authentication.digestBytes,
  );
  const signature = block.signature;
  const key = pair.publicKey;
  const bare =
    alg === 'es256'
      ? () => {
          if (!verify('sha256', toBeSigned, { key, dsaEncoding: 'ieee-p1363' }, signature))
            throw new Error('bad');
        }
      : () => {
          if (!verify(null, toBeSigned, key, signature)) throw new Error('bad');
        };
  const ours = () => {
    if (processEnvelope(bytes, { trust, device }).components.length !== 1)
      throw new Error('bad plan');
  };

  return { alg, bytes, bare, ours };
}

type Scenario = Awaited<ReturnType<typeof scenario>>;

function measure({ alg, bytes, bare, ours }: Scenario) {
  const bareOps: number[] = [];
  const oursOps: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let b: number;
    let o: number;
    if (r % 2 === 0) {
      b = throughput(bare, ROUND_MS);
      o = throughput(ours, ROUND_MS);
    } else {
      o = throughput(ours, ROUND_MS);
      b = throughput(bare, ROUND_MS);
    }
    bareOps.push(b);
    oursOps.push(o);
    ratios.push(o / b);
  }
  const ratio = median(ratios);
  return {
    alg: alg === 'es256' ? 'ES256 (P-256)' : 'EdDSA (Ed25519)',
    envelopeBytes: bytes.length,
    bareVerifyOpsPerSec: Math.round(median(bareOps)),
    updraftProcessEnvelopeOpsPerSec: Math.round(median(oursOps)),
    ratio: Number(ratio.toFixed(3)),
    ratioPerRound: ratios.map((x) => Number(x.toFixed(3))),
    pass: ratio >= TARGET,
  };
}

const scenarios = [await scenario('es256'), await scenario('ed25519')];
// Warm up every path (JIT, caches) before measuring any of them, so the order does not matter.
for (let i = 0; i < 3000; i++) {
  for (const s of scenarios) {
    s.bare();
    s.ours();
  }
}
const results = [];
for (const s of scenarios) {
  const r = measure(s);
  results.push(r);
  console.log(
    `${r.alg.padEnd(16)} bare ${String(r.bareVerifyOpsPerSec).padStart(7)} op/s   updraft ${String(r.updraftProcessEnvelopeOpsPerSec).padStart(7)} op/s   ratio ${(r.ratio * 100).toFixed(1)} % (target ≥ ${TARGET * 100} %) ${r.pass ? 'PASS' : 'FAIL'}`,
  );
}
const out = {
  benchmark: 'verify',
  description:
    'processEnvelope (decode + manifest digest + signature + processor checks) vs bare node:crypto verify of the same COSE signature',
  node: process.version,
  cpus: cpus().length,
  loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
  measure: 'operations per CPU-second of this process (user + system), median of per-round ratios',
  rounds: ROUNDS,
  roundMs: ROUND_MS,
  target: TARGET,
  date: new Date().toISOString(),
  results,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/verify.json', import.meta.url),
  `${JSON.stringify(out, null, 2)}\n`,
);
if (results.some((r) => !r.pass)) process.exitCode = 1;
