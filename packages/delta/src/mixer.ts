/**
 * Logistic mixing of binary predictions (as in the PAQ family): each model's probability is
 * mapped to the stretch domain ln(p / (1 - p)), a weighted sum is mapped back, and the weights
 * learn online from each coded bit. Integer-only so that a C decoder reproduces it exactly
 * (docs/delta-format.md, "Mixer").
 */
import { PROB_BITS } from './range-coder.js';

/** squash(d) = 4096 / (1 + e^(-d / 256)), interpolated from 33 points; d in [-2047, 2047]. */
const SQUASH_POINTS = [
  1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348, 3607,
  3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094,
];

export function squash(d: number): number {
  if (d > 2047) return 4095;
  if (d < -2047) return 1;
  const w = d & 127;
  const i = (d >> 7) + 16;
  return (SQUASH_POINTS[i]! * (128 - w) + SQUASH_POINTS[i + 1]! * w + 64) >> 7;
}

/** stretch(p) = the d with squash(d) nearest below-or-at p: inverse of squash on 12-bit p. */
const STRETCH = (() => {
  const table = new Int16Array(4096);
  let pi = 0;
  for (let x = -2047; x <= 2047; x++) {
    const v = squash(x);
    for (let i = pi; i <= v; i++) table[i] = x;
    pi = v + 1;
  }
  for (let i = pi; i < 4096; i++) table[i] = 2047;
  return table;
})();

export function stretch(p12: number): number {
  return STRETCH[p12]!;
}

const WEIGHT_LIMIT = 1 << 19;
const LEARNING_RATE = 6;

/**
 * Mixes `inputs` predictions with one weight vector per selector value. Usage per bit:
 * `setInput(i, p0)` for each input, `p0 = mix(selector)`, code the bit, `update(bit)`.
 */
export class Mixer {
  private readonly weights: Int32Array;
  private readonly st: Int32Array;
  private selected = 0;
  private p1 = 2048;

  constructor(
    private readonly inputs: number,
    selectors: number,
  ) {
    this.weights = new Int32Array(inputs * selectors).fill(Math.floor(65536 / inputs));
    this.st = new Int32Array(inputs);
  }

  /** Input i's probability of a zero, in the range coder's 11-bit scale. */
  setInput(i: number, p0: number): void {
    // P(1) on 12 bits: (2048 - p0) * 2, kept inside 1..4095.
    this.st[i] = stretch(Math.min(4095, Math.max(1, (2048 - p0) * 2)));
  }

  /** The mixed probability of a zero (11-bit scale, 1..2047). */
  mix(selector: number): number {
    this.selected = selector * this.inputs;
    let dot = 0;
    for (let i = 0; i < this.inputs; i++) dot += this.st[i]! * this.weights[this.selected + i]!;
    this.p1 = squash(Math.floor(dot / 65536));
    return Math.min((1 << PROB_BITS) - 1, Math.max(1, (4096 - this.p1) >> 1));
  }

  update(bit: number): void {
    const err = ((bit << 12) - this.p1) * LEARNING_RATE;
    for (let i = 0; i < this.inputs; i++) {
      const k = this.selected + i;
      const w = this.weights[k]! + Math.floor((this.st[i]! * err + 0x8000) / 65536);
      this.weights[k] = Math.max(-WEIGHT_LIMIT, Math.min(WEIGHT_LIMIT - 1, w));
    }
  }
}
