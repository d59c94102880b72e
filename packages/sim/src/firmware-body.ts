import { createHash } from 'node:crypto';
import { Prng } from './prng.js';

/** Size of the blocks a body is laid out in: each block's kind and bytes depend only on its index. */
const BLOCK = 4096;
/** Places where one build differs from the product's base image. */
const EDITS_PER_BUILD = 6;

const WORDS = [
  'sensor',
  'init',
  'failed',
  'timeout',
  'radio',
  'flash',
  'erase',
  'write',
  'boot',
  'config',
  'value',
  'error',
  'ready',
  'update',
  'retry',
  'i2c',
  'spi',
  'uart',
  'temperature',
  'battery',
  'low',
  'link',
  'up',
  'down',
  'ok',
] as const;
const FORMATS = [' %d', ' %u', ' 0x%08x', ' %s', ': %d ms', '\\n'] as const;

/**
 * Firmware-like bytes for a simulated image body: code-like blocks (Thumb-style prologues,
 * epilogues and a small instruction vocabulary with varying register fields, literal pools),
 * string tables, data tables and erased padding — compressible like a real build, unlike random
 * filler. The bytes are a function of `seed` (the product) and `variant` (the build): every build
 * of one seed shares a base image and differs from it in a few short places, so two consecutive
 * builds diff to a patch far smaller than the image, as real firmware releases do.
 *
 * @example
 * const body = firmwareBody(64 * 1024, { seed: 1, variant: '1.2.0/3' });
 */
export function firmwareBody(size: number, options: { seed: number; variant: string }): Uint8Array {
  const out = new Uint8Array(size);
  const vocabulary = instructionVocabulary(options.seed);
  for (let start = 0; start < size; start += BLOCK) {
    const block = out.subarray(start, Math.min(size, start + BLOCK));
    fillBlock(block, new Prng(mix(options.seed, start / BLOCK)), vocabulary);
  }
  // The build's own changes: a few short runs of different code, at places chosen by the build.
  const edits = new Prng(variantSeed(options.seed, options.variant));
  for (let i = 0; i < EDITS_PER_BUILD && size > 64; i++) {
    const length = 8 + edits.int(40);
    const at = edits.int(size - length);
    writeCode(out.subarray(at, at + length), edits, vocabulary);
  }
  return out;
}

type Kind = 'code' | 'strings' | 'table' | 'erased';
const KINDS: readonly Kind[] = [
  'code',
  'code',
  'code',
  'code',
  'code',
  'strings',
  'strings',
  'table',
  'erased',
];

function fillBlock(block: Uint8Array, rng: Prng, vocabulary: readonly number[]): void {
  const kind = KINDS[rng.int(KINDS.length)] ?? 'code';
  // Sections rarely end on a block boundary: the tail of most blocks is alignment padding.
  const used =
    kind === 'erased' ? rng.int(block.length / 4) : block.length - rng.int(block.length / 3);
  const body = block.subarray(0, used);
  if (kind === 'strings') writeStrings(body, rng);
  else if (kind === 'table') writeTable(body, rng);
  else writeCode(body, rng, vocabulary);
  block.fill(kind === 'erased' ? 0xff : 0x00, used);
}

// A few dozen 16-bit opcodes per product, most programs use the same handful most of the time.
function instructionVocabulary(seed: number): number[] {
  const rng = new Prng(mix(seed, 0x7fff_ffff));
  const common = [0xb5f0, 0xbdf0, 0x4770, 0xbf00, 0x2000, 0x6800, 0x6008, 0x4618, 0xf000, 0xd100];
  const rest = Array.from({ length: 38 }, () => rng.nextU32() & 0xfff8);
  return [...common, ...rest];
}

function writeCode(out: Uint8Array, rng: Prng, vocabulary: readonly number[]): void {
  let at = 0;
  const put16 = (v: number) => {
    if (at + 1 < out.length) {
      out[at] = v & 0xff;
      out[at + 1] = v >>> 8;
    }
    at += 2;
  };
  while (at < out.length) {
    put16(0xb500 | (rng.int(2) === 0 ? 0xf0 : 0x80)); // push {…, lr}
    const length = 4 + rng.int(40);
    for (let i = 0; i < length; i++) {
      // Skewed choice: low indices (the common instructions) come up most.
      const pick = Math.floor(vocabulary.length * rng.float() ** 3);
      put16((vocabulary[pick] ?? 0xbf00) | rng.int(8));
    }
    put16(0xbd00 | (rng.int(2) === 0 ? 0xf0 : 0x80)); // pop {…, pc}
    // Literal pool: addresses in flash and RAM.
    for (let n = rng.int(4); n > 0; n--) {
      const base = rng.int(2) === 0 ? 0x0800_0000 : 0x2000_0000;
      const v = base + (rng.int(0x4000) << 2);
      for (let b = 0; b < 4; b++) {
        if (at < out.length) out[at] = (v >>> (8 * b)) & 0xff;
        at += 1;
      }
    }
  }
}

function writeStrings(out: Uint8Array, rng: Prng): void {
  let at = 0;
  while (at < out.length) {
    const words = Array.from({ length: 1 + rng.int(5) }, () => WORDS[rng.int(WORDS.length)]);
    const text = `${words.join(' ')}${rng.int(2) === 0 ? (FORMATS[rng.int(FORMATS.length)] ?? '') : ''}`;
    const bytes = Buffer.from(text, 'latin1');
    out.set(bytes.subarray(0, Math.max(0, out.length - at)), at);
    at += bytes.length + 1; // NUL terminator (the array is zeroed)
    at = Math.ceil(at / 4) * 4;
  }
}

function writeTable(out: Uint8Array, rng: Prng): void {
  // Sorted 16-bit entries with small steps (calibration curves, lookup tables).
  let v = rng.int(0x1000);
  const step = 1 + rng.int(16);
  for (let at = 0; at + 1 < out.length; at += 2) {
    v = (v + step + rng.int(3)) & 0xffff;
    out[at] = v & 0xff;
    out[at + 1] = v >>> 8;
  }
}

function mix(seed: number, n: number): number {
  return (Math.imul(seed ^ 0x9e37_79b9, 0x85eb_ca6b) ^ Math.imul(n + 1, 0xc2b2_ae35)) >>> 0;
}

function variantSeed(seed: number, variant: string): number {
  return createHash('sha256').update(`${seed}/${variant}`).digest().readUInt32LE(0);
}
