import { BOOT_TRIAL_EXHAUSTED } from '../uboot/uboot-variables.js';
import { DEFAULT_GRUB_VARIABLES, type GrubVariables } from './grub-variables.js';

/** What grub.cfg found in the environment block. */
export const GRUB_CASES = ['one-shot', 'unconfirmed-trial', 'saved'] as const;
export type GrubCase = (typeof GRUB_CASES)[number];

/** The outcome of one simulated power-on under GRUB. */
export interface GrubBoot {
  readonly boots: string;
  readonly case: GrubCase;
  /** What grub.cfg's `save_env` wrote (`''` is a cleared variable). */
  readonly saved: Readonly<Record<string, string>>;
}

/**
 * Simulates the grub.cfg of docs/agent.md ("Real boot chains") on the environment block: a
 * `next_entry` is booted once (GRUB's boot-once, as `grub-reboot` uses it) and remembered as the
 * trial; a trial still recorded at the next boot was never confirmed, so GRUB boots `saved_entry`
 * again and records why. Pure: the caller writes `saved` back (tests do it with `grub-editenv`).
 */
export function simulateGrubBoot(
  env: ReadonlyMap<string, string>,
  slots: readonly [string, string],
  variables: GrubVariables = DEFAULT_GRUB_VARIABLES,
): GrubBoot {
  const get = (name: string) => env.get(name) || null;
  const saved = get(variables.savedEntry) ?? slots[0];
  const next = get(variables.nextEntry);
  if (next !== null) {
    return {
      boots: next,
      case: 'one-shot',
      saved: { [variables.nextEntry]: '', [variables.trial]: next },
    };
  }
  if (get(variables.trial) !== null) {
    return {
      boots: saved,
      case: 'unconfirmed-trial',
      saved: { [variables.trial]: '', [variables.failure]: BOOT_TRIAL_EXHAUSTED },
    };
  }
  return { boots: saved, case: 'saved', saved: {} };
}
