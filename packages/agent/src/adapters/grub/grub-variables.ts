/**
 * The GRUB environment variables `grub.cfg` and {@link GrubEnvBootControl} share. `saved_entry` and
 * `next_entry` are GRUB's own (what `grub-set-default` and `grub-reboot` write, what the stock
 * `00_header` reads); the menu entries' ids are the slot names (`menuentry … --id a`).
 */
export interface GrubVariables {
  /** The confirmed slot: GRUB boots it unless a one-shot entry is set (`grub-set-default`). */
  readonly savedEntry: string;
  /** The pending slot: booted once at the next boot, then cleared by grub.cfg (`grub-reboot`). */
  readonly nextEntry: string;
  /** Set by grub.cfg to the slot it booted from `next_entry`; cleared by a confirm. */
  readonly trial: string;
  /** Set by grub.cfg when it found an unconfirmed trial and went back (`BOOT_TRIAL_EXHAUSTED`). */
  readonly failure: string;
}

/** The default variable names (docs/agent.md, "Real boot chains"). */
export const DEFAULT_GRUB_VARIABLES: GrubVariables = Object.freeze({
  savedEntry: 'saved_entry',
  nextEntry: 'next_entry',
  trial: 'updraft_trial',
  failure: 'updraft_failure',
});
