import type { Slot } from './slot.js';

/**
 * What the bootloader did on the last boot, as the running application sees it.
 * Modelled on MCUboot's trailer: a slot marked pending is booted once as a trial (`trial: true`);
 * if the application does not confirm it (`imageOk`), the bootloader reverts on a later boot.
 */
export interface BootStatus {
  /** Name of the slot the running image was booted from. */
  readonly booted: string;
  /** True while the running image is on trial (booted from a pending slot, not yet confirmed). */
  readonly trial: boolean;
  /** Slot marked for a trial boot on the next reboot, or null when none is. */
  readonly pending: string | null;
  /**
   * Why the bootloader refused or reverted an image since the last confirm, as a stable error code
   * (the bootloader's own, e.g. `BOOT_TRIAL_EXHAUSTED`, `BOOT_IMAGE_INVALID`), or null. The agent
   * puts it verbatim in its failure report.
   */
  readonly lastFailure: string | null;
}

/**
 * The device's boot control: which slot runs, which slot an update goes to, trial boots.
 * Implementations: the simulator's MCUboot-like bootloader (`@updraft/sim`), the agent's JSON-state
 * file adapter, and the U-Boot (`fw_setenv`) and GRUB (`grub-editenv`) environment adapters
 * (docs/agent.md, "Real boot chains").
 */
export interface BootControl {
  /** What booted, whether it is a trial, what is pending. */
  status(): Promise<BootStatus>;
  /**
   * The slot an update of the main image should be written to: never the booted one, never the
   * factory slot. Stable across calls while nothing changes, so a resumed write goes to the same slot.
   */
  updateSlot(): Promise<Slot>;
  /** Opens a slot by name (to read back, or to report what it holds). */
  slot(name: string): Promise<Slot>;
  /**
   * Marks `slotName` for a single trial boot on the next reboot (MCUboot's "test" swap type).
   * Idempotent. Durable when it returns.
   */
  markPending(slotName: string): Promise<void>;
  /** Clears a pending mark that has not been booted yet (an install abandoned before reboot). */
  clearPending(): Promise<void>;
  /** Confirms the running trial image (`imageOk`) so it stays. Idempotent. Durable when it returns. */
  confirm(): Promise<void>;
  /**
   * Optional: the running trial image failed its health check; make the next boot revert at once
   * (and report why). Without it, an unconfirmed trial is reverted by the bootloader anyway.
   */
  reject?(): Promise<void>;
  /**
   * Asks the platform to reboot. On real hardware it does not return; where it returns (the
   * simulator, tests, a service manager that restarts us), the agent stops its run loop at once and
   * the host starts a fresh agent after the boot.
   */
  reboot(): Promise<void>;
}
