import { UpdraftError } from '@updraft/core';

/** Codes raised by `@updraft/sim`. Keep in sync with docs/errors.md (checked by a test). */
export const SIM_ERROR_CODES = [
  'SIM_IMAGE_MALFORMED',
  'SIM_IMAGE_DIGEST_MISMATCH',
  'SIM_IMAGE_SIGNATURE_INVALID',
  'SIM_IMAGE_UNTRUSTED_KEY',
  'SIM_IMAGE_ROLLBACK',
  'SIM_BOOT_NO_BOOTABLE_IMAGE',
  'SIM_BOOT_TRIAL_REVERTED',
  'SIM_APP_HUNG',
  'SIM_CONFIG_INVALID',
  'SIM_SERVER_AUTH_REJECTED',
  'SIM_SERVER_UNREACHABLE',
  'SIM_SERVER_RATE_LIMITED',
  'SIM_RUN_INCOMPLETE',
] as const;
export type SimErrorCode = (typeof SIM_ERROR_CODES)[number];

/** True when `value` is one of {@link SIM_ERROR_CODES}. */
export function isSimErrorCode(value: unknown): value is SimErrorCode {
  return typeof value === 'string' && (SIM_ERROR_CODES as readonly string[]).includes(value);
}

/** Expected, typed failure raised by the simulator (image verification, injected faults, config). */
export class SimError extends UpdraftError<SimErrorCode> {}

/**
 * The simulated power supply died. Not an error of the code under test: it is a signal that
 * stops the whole simulated run. The harness catches it and "reboots" the device. Once power is
 * cut every later flash operation throws it again, so code that swallows it cannot keep working.
 */
export class PowerCut extends Error {
  readonly code = 'SIM_POWER_CUT' as const;
  /** Index of the flash operation at which power was lost (0-based, over writes + erases). */
  readonly opIndex: number;
  constructor(opIndex: number, message = `power cut at flash operation ${opIndex}`) {
    super(message);
    this.name = 'PowerCut';
    this.opIndex = opIndex;
  }
}

/** True when `value` is a {@link PowerCut} signal. */
export function isPowerCut(value: unknown): value is PowerCut {
  return value instanceof PowerCut;
}

/** Why a device's run was stopped from outside (see {@link RunStopped}). */
export const STOP_REASONS = ['deadline', 'request-budget', 'interrupted', 'refused'] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/**
 * The device's run was stopped from outside: its deadline or request budget ran out, the user
 * interrupted it, or the service refused it in a way waiting does not fix (a rejected token).
 * Like {@link PowerCut} it is a signal, not an `UpdraftError`: it escapes the agent unchanged
 * and `SimDevice.runUntilIdle` ends with outcome `stopped`; the journal keeps where it was.
 */
export class RunStopped extends Error {
  readonly reason: StopReason;
  constructor(reason: StopReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RunStopped';
    this.reason = reason;
  }
}

/** True when `value` is a {@link RunStopped} signal. */
export function isRunStopped(value: unknown): value is RunStopped {
  return value instanceof RunStopped;
}
