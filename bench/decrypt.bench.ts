// Streaming SHA-256 + AES-128-CTR decrypt of a 256 MiB image vs `openssl dgst -sha256` + `openssl enc -d -aes-128-ctr`, with peak RSS
//
// Run: npx tsx bench/decrypt.bench.ts [--rounds N] [--mib N]
// Each measured decrypt runs in a fresh child process so its peak RSS (getrusage maxrss) is its
// own; the parent generates the files and times the openssl baseline over the same file in the
// same run. Writes bench/results/decrypt.json.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
// Runs against the sources, as the tests do (vitest aliases @updraft/core to src/index.ts).
import {
  createDecryptStream,
  createDigestCheckStream,
  createEncryptStream,
  decodeEncryptionInfo,
  unwrapContentKey,
} from '../packages/core/src/index.ts';

const MIB = 1024 * 1024;
const self = fileURLToPath(import.meta.url);

interface ChildResult {
  ms: number;
  /** RSS before any data flowed (node + tsx + core loaded): the floor that maxRss is compared to. */
  rssBeforeMiB: number;
  maxRssMiB: number;
  bytes: number;
}

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Child mode: the device path through the public API — read the encrypted file, decrypt it
 * (createDecryptStream), check the plaintext against its SUIT digest and size
 * (createDigestCheckStream, SHA-256) — and report time and RSS.
 */
async function child(args: string[]): Promise<void> {
  const [file = '', infoHex = '', kekHex = '', chunkText = '', digestHex = '', sizeText = ''] =
    args;
  const chunk = Number(chunkText);
  let bytes = 0;
  const sink = new Writable({
    highWaterMark: chunk,
    write(data: Buffer, _enc, callback) {
      bytes += data.length;
      callback();
    },
  });
  const rssBeforeMiB = process.memoryUsage().rss / MIB;
  const start = process.hrtime.bigint();
  await pipeline(
    createReadStream(file, { highWaterMark: chunk }),
    createDecryptStream(Buffer.from(infoHex, 'hex'), Buffer.from(kekHex, 'hex'), {
      highWaterMark: chunk,
    }),
    // Throws MANIFEST_DIGEST_MISMATCH unless the plaintext has the expected SHA-256 and size.
    createDigestCheckStream(
      { algorithm: -16, bytes: Buffer.from(digestHex, 'hex') },
      Number(sizeText),
    ),
    sink,
  );
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  const result: ChildResult = { ms, rssBeforeMiB, maxRssMiB, bytes };
  process.stdout.write(JSON.stringify(result));
}

interface Image {
  file: string;
  encryptionInfo: Uint8Array;
  plainDigest: string;
  mib: number;
}

function runChild(image: Image, kekHex: string, chunk: number): ChildResult {
  const infoHex = Buffer.from(image.encryptionInfo).toString('hex');
  const size = String(image.mib * MIB);
  const out = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      self,
      '--child',
      image.file,
      infoHex,
      kekHex,
      String(chunk),
      image.plainDigest,
      size,
    ],
    { encoding: 'utf8', maxBuffer: 1024 * 1024 },
  );
  if (out.status !== 0) throw new Error(`child failed: ${out.stderr}`);
  const result = JSON.parse(out.stdout) as ChildResult;
  if (result.bytes !== image.mib * MIB) throw new Error('our decrypt produced the wrong length');
  return result;
}

function timeCommand(cmd: string, args: string[]): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code === 0) resolve({ ms, stdout });
      else reject(new Error(`${cmd} exited ${code}`));
    });
  });
}

/** Writes `mib` MiB of random plaintext through our encrypt stream; returns its digest. */
async function makeImage(dir: string, mib: number, kek: Buffer): Promise<Image> {
  const file = join(dir, `image-${mib}.enc`);
  const { encryptionInfo, stream } = createEncryptStream({
    contentAlg: 'A128CTR',
    recipients: [{ kek, kid: 'bench-class' }],
  });
  const plainHash = createHash('sha256');
  const block = randomBytes(MIB);
  async function* plaintext() {
    for (let i = 0; i < mib; i++) {
      // Vary each MiB so the image is not periodic.
      block.writeUInt32LE(i, 0);
      plainHash.update(block);
      yield Buffer.from(block);
    }
  }
  await pipeline(Readable.from(plaintext()), stream, createWriteStream(file));
  return { file, encryptionInfo, plainDigest: plainHash.digest('hex'), mib };
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 5);
  const bigMiB = arg('mib', 256);
  const smallMiB = Math.max(1, bigMiB / 4);
  const opensslVersion = spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim();
  const dir = await mkdtemp(join(tmpdir(), 'updraft-decrypt-bench-'));
  try {
    const kek = randomBytes(16);
    const kekHex = kek.toString('hex');
    const big = await makeImage(dir, bigMiB, kek);
    const small = await makeImage(dir, smallMiB, kek);
    const info = decodeEncryptionInfo(big.encryptionInfo);
    const cekHex = Buffer.from(unwrapContentKey(info, kek)).toString('hex');
    const ivHex = Buffer.from(info.iv).toString('hex');

    // Tuning pass: best of two runs per chunk size on the big file (also warms the page cache).
    const chunkSizes = [64 * 1024, 256 * 1024, MIB, 4 * MIB];
    const tuning = chunkSizes.map((chunk) => {
      const ms = Math.min(runChild(big, kekHex, chunk).ms, runChild(big, kekHex, chunk).ms);
      return { chunkKiB: chunk / 1024, ms, mibPerS: bigMiB / (ms / 1000) };
    });
    const best = chunkSizes[tuning.indexOf(tuning.reduce((a, b) => (b.ms < a.ms ? b : a)))] ?? MIB;
    await timeCommand('openssl', ['dgst', '-sha256', big.file]);

    const ours: ChildResult[] = [];
    const dgst: number[] = [];
    const enc: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // Interleave so both sides see the same machine load.
      ours.push(runChild(big, kekHex, best));
      dgst.push((await timeCommand('openssl', ['dgst', '-sha256', big.file])).ms);
      const e = await timeCommand('openssl', [
        'enc',
        '-d',
        '-aes-128-ctr',
        '-K',
        cekHex,
        '-iv',
        ivHex,
        '-in',
        big.file,
        '-out',
        '/dev/null',
      ]);
      enc.push(e.ms);
    }
    // Check openssl decrypts to the same plaintext once (outside the timed runs).
    const check = spawnSync(
      'sh',
      [
        '-c',
        `openssl enc -d -aes-128-ctr -K ${cekHex} -iv ${ivHex} -in '${big.file}' | openssl dgst -sha256 -r`,
      ],
      { encoding: 'utf8' },
    );
    const opensslDigest = check.stdout.split(' ')[0];
    if (opensslDigest !== big.plainDigest)
      throw new Error('openssl and we disagree on the plaintext');

    const smallRuns = Array.from({ length: 3 }, () => runChild(small, kekHex, best));
    // Control: the digest check really runs — a wrong expected digest must fail the child.
    let caught = false;
    try {
      runChild(
        { ...small, plainDigest: createHash('sha256').update('other').digest('hex') },
        kekHex,
        best,
      );
    } catch (error) {
      caught = String(error).includes('MANIFEST_DIGEST_MISMATCH');
    }
    if (!caught) throw new Error('a wrong digest was not detected');

    const oursMs = median(ours.map((r) => r.ms));
    const baselineMs = median(dgst) + median(enc);
    const result = {
      benchmark: 'decrypt',
      description:
        'streaming AES-128-CTR decrypt + SUIT SHA-256 digest check (createDecryptStream → createDigestCheckStream) vs openssl dgst -sha256 + openssl enc -d -aes-128-ctr over the same file',
      date: new Date().toISOString(),
      node: process.version,
      openssl: opensslVersion,
      imageMiB: bigMiB,
      rounds,
      chunkKiB: best / 1024,
      tuning,
      oursMs: { median: oursMs, runs: ours.map((r) => r.ms) },
      opensslDgstMs: { median: median(dgst), runs: dgst },
      opensslEncMs: { median: median(enc), runs: enc },
      baselineMs,
      oursMiBPerS: bigMiB / (oursMs / 1000),
      baselineMiBPerS: bigMiB / (baselineMs / 1000),
      ratio: baselineMs / oursMs,
      // Each round's own ratio (the machine's load shifts between rounds): a second view.
      pairedRatioMedian: median(ours.map((r, i) => ((dgst[i] ?? 0) + (enc[i] ?? 0)) / r.ms)),
      target: 0.8,
      pass: baselineMs / oursMs >= 0.8,
      rssBeforeDataMiB: median(ours.map((r) => r.rssBeforeMiB)),
      peakRssMiB: {
        [`${smallMiB}MiB`]: median(smallRuns.map((r) => r.maxRssMiB)),
        [`${bigMiB}MiB`]: median(ours.map((r) => r.maxRssMiB)),
      },
      note: 'each of ours runs in a fresh node process (time measured inside, excluding startup); openssl times are wall-clock per process, including its startup',
    };
    const out = new URL('./results/decrypt.json', import.meta.url);
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(
      `decrypt ${bigMiB} MiB: ours ${oursMs.toFixed(0)} ms (${result.oursMiBPerS.toFixed(0)} MiB/s), ` +
        `openssl dgst+enc ${baselineMs.toFixed(0)} ms (${result.baselineMiBPerS.toFixed(0)} MiB/s), ` +
        `ratio ${result.ratio.toFixed(2)} (paired ${result.pairedRatioMedian.toFixed(2)}; target ≥ 0.80) ${result.pass ? 'PASS' : 'FAIL'}`,
    );
    console.log(
      `chunk ${best / 1024} KiB; tuning ${JSON.stringify(tuning.map((t) => [t.chunkKiB, Math.round(t.mibPerS)]))}`,
    );
    console.log(
      `peak RSS: ${JSON.stringify(result.peakRssMiB)} MiB (before data: ${result.rssBeforeDataMiB.toFixed(0)} MiB)`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv.slice(3));
} else {
  await main();
}
