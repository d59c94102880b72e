/**
 * The U-Boot environment variables the boot script and {@link UBootEnvBootControl} share. Keep the
 * names of your board's script; these defaults are the usual ones (U-Boot's own `bootcount`,
 * `bootlimit` and `upgrade_available`, as Mender and SWUpdate use them).
 */
export interface UBootVariables {
  /** The slot the boot script boots (`bootcmd` loads the kernel from it); its value is a slot name. */
  readonly slot: string;
  /** `1` while an update is on trial: U-Boot then counts boots in `bootcount`. */
  readonly upgradeAvailable: string;
  /** Boots since the update was marked; incremented and saved by U-Boot before every trial boot. */
  readonly bootcount: string;
  /** Trial boots allowed: when `bootcount` exceeds it, U-Boot runs `altbootcmd` (the revert). */
  readonly bootlimit: string;
  /** Set by `altbootcmd` to why it reverted (`BOOT_TRIAL_EXHAUSTED`); cleared by a confirm. */
  readonly failure: string;
}

/** The default variable names (docs/agent.md, "Real boot chains"). */
export const DEFAULT_UBOOT_VARIABLES: UBootVariables = Object.freeze({
  slot: 'boot_slot',
  upgradeAvailable: 'upgrade_available',
  bootcount: 'bootcount',
  bootlimit: 'bootlimit',
  failure: 'updraft_failure',
});

/** The code `altbootcmd` leaves in {@link UBootVariables.failure} when it reverted a trial. */
export const BOOT_TRIAL_EXHAUSTED = 'BOOT_TRIAL_EXHAUSTED';
