import type { Slot } from './slot.js';

/**
 * How one non-main component of a multi-component update is installed (a radio module's
 * firmware, a configuration blob, …). The main image is installed through {@link BootControl}
 * (write the inactive slot, trial boot, confirm); other components are staged, then applied,
 * and can be reverted until committed, which gives all-or-nothing updates:
 *
 *   stage (write `stagingSlot`) → apply() → [reboot, health check of the main image] → commit()
 *                                         ↘ on any failure: revert()
 *
 * Every method is idempotent and durable when it returns, because a power cut may repeat it.
 */
export interface ComponentHandler {
  /** SUIT component identifier (lowercase hex of its CBOR encoding), e.g. `"01"`. */
  readonly id: string;
  /** Where the new payload is written; never the storage the component currently runs from. */
  stagingSlot(): Promise<Slot>;
  /**
   * Makes the staged payload active (flash the radio from staging, swap a config file in).
   * `image` is the verified image now in the staging slot (its first `size` bytes).
   */
  apply(image: { readonly size: number; readonly digest: string }): Promise<void>;
  /** Restores the previous content after `apply()`; a no-op when nothing was applied. */
  revert(): Promise<void>;
  /** Drops the ability to revert: the applied content is now the installed one. */
  commit(): Promise<void>;
}
