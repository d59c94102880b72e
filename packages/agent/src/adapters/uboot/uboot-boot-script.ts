import { BugError } from '@updraft/core';
import {
  BOOT_TRIAL_EXHAUSTED,
  DEFAULT_UBOOT_VARIABLES,
  type UBootVariables,
} from './uboot-variables.js';

/** What U-Boot runs at power-on, given the environment. */
export const UBOOT_COMMANDS = ['bootcmd', 'altbootcmd'] as const;
export type UBootCommand = (typeof UBOOT_COMMANDS)[number];

/** One row of {@link UBOOT_BOOT_DECISION}: when it applies, what runs, why. */
export interface UBootDecisionRow {
  readonly when: { readonly trial: boolean; readonly limitExceeded: boolean | 'ANY' };
  readonly runs: UBootCommand;
  readonly countsBoot: boolean;
  readonly why: string;
}

/**
 * The boot script's decision, first matching row wins: U-Boot's bootcount logic (with
 * `CONFIG_BOOTCOUNT_ENV` it increments and saves `bootcount` only while `upgrade_available=1`, and
 * runs `altbootcmd` instead of `bootcmd` when `bootcount > bootlimit`), and the `altbootcmd` that
 * docs/agent.md shows (switch the slot back, end the trial, record why, saveenv).
 */
export const UBOOT_BOOT_DECISION: readonly UBootDecisionRow[] = [
  {
    when: { trial: false, limitExceeded: 'ANY' },
    runs: 'bootcmd',
    countsBoot: false,
    why: 'no update on trial: boot the confirmed slot, count nothing',
  },
  {
    when: { trial: true, limitExceeded: false },
    runs: 'bootcmd',
    countsBoot: true,
    why: 'trial boot: count the attempt (saved before booting), boot the new slot',
  },
  {
    when: { trial: true, limitExceeded: true },
    runs: 'altbootcmd',
    countsBoot: true,
    why: 'attempts used up without a confirm: altbootcmd switches back to the other slot',
  },
];

/** The outcome of one simulated power-on. */
export interface UBootBoot {
  /** The slot the kernel is loaded from. */
  readonly boots: string;
  readonly row: UBootDecisionRow;
  /** What U-Boot saved to the environment before booting (`null` deletes). */
  readonly saved: Readonly<Record<string, string | null>>;
}

/**
 * Simulates a U-Boot-style boot script on the environment: the same variables the
 * {@link UBootEnvBootControl} writes, the decision of {@link UBOOT_BOOT_DECISION}. Pure: the caller
 * writes `saved` back (tests do it with `fw_setenv`, as U-Boot's `saveenv` would).
 *
 * @example
 * const boot = simulateUBootBoot(env, ['a', 'b']);
 * await new UBootEnv({ config }).write(boot.saved);
 */
export function simulateUBootBoot(
  env: ReadonlyMap<string, string>,
  slots: readonly [string, string],
  variables: UBootVariables = DEFAULT_UBOOT_VARIABLES,
): UBootBoot {
  const slot = env.get(variables.slot) ?? slots[0];
  const trial = env.get(variables.upgradeAvailable) === '1';
  const bootcount =
    (Number.parseInt(env.get(variables.bootcount) ?? '0', 10) || 0) + (trial ? 1 : 0);
  // U-Boot treats a missing or zero bootlimit as "no limit".
  const bootlimit = Number.parseInt(env.get(variables.bootlimit) ?? '0', 10) || 0;
  const limitExceeded = bootlimit > 0 && bootcount > bootlimit;
  const row = UBOOT_BOOT_DECISION.find(
    (r) =>
      r.when.trial === trial &&
      (r.when.limitExceeded === 'ANY' || r.when.limitExceeded === limitExceeded),
  );
  if (row === undefined) throw new BugError('the decision table covers every case');
  const saved: Record<string, string | null> = {};
  if (row.countsBoot) saved[variables.bootcount] = String(bootcount);
  if (row.runs === 'altbootcmd') {
    const other = slot === slots[0] ? slots[1] : slots[0];
    saved[variables.slot] = other;
    saved[variables.upgradeAvailable] = '0';
    saved[variables.failure] = BOOT_TRIAL_EXHAUSTED;
    return { boots: other, row, saved };
  }
  return { boots: slot, row, saved };
}
