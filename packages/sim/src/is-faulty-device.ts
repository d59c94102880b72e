import { createHash } from 'node:crypto';
import { SimError } from './errors.js';

/**
 * The device's place in [0, 1): the first 48 bits of SHA-256(`<seed>:<name>`) (UTF-8) as a
 * fraction of 2^48. Stable across runs and machines, so a rehearsal's faulty subset can be
 * computed by anyone who knows the seed and the device names (docs/flash-simulator.md).
 */
export function faultFraction(seed: string, name: string): number {
  const digest = createHash('sha256').update(`${seed}:${name}`, 'utf8').digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

/**
 * True when device `name` belongs to the faulty subset of a fleet with this fault `rate`
 * (0..1): its {@link faultFraction} is below the rate. Rate 0 selects no device, 1 every one;
 * about `rate` of a large fleet is selected, and raising the rate only adds devices.
 *
 * @example
 * isFaultyDevice('sensor-0042', 0.5, 'rehearsal-1'); // the same answer on every run
 */
export function isFaultyDevice(name: string, rate: number, seed: string): boolean {
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) {
    throw new SimError('SIM_CONFIG_INVALID', `fault rate must be a number from 0 to 1`, {
      details: { rate },
    });
  }
  return faultFraction(seed, name) < rate;
}
