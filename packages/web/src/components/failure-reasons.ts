/**
 * Failure codes a device or a campaign's health check gives, in words (docs/errors.md says
 * more). Codes not listed here are shown with the device's own message.
 */
export const FAILURE_REASONS: Readonly<Record<string, string>> = {
  DEVICE_REVERTED: 'The device went back to an older image after the update succeeded.',
  DEVICE_SILENT: 'The device did not check in again in time after the update.',
  AGENT_HEALTH_CHECK_FAILED: 'The new image booted but failed its health check; reverted.',
  AGENT_BOOT_REVERTED: 'The bootloader did not keep the new image.',
  AGENT_DOWNLOAD_STALLED: 'No payload bytes arrived within the stall timeout.',
  AGENT_PAYLOAD_TRUNCATED: 'The payload ended early and could not be resumed.',
  AGENT_PAYLOAD_TOO_LONG: 'The service sent more bytes than the manifest declares.',
  AGENT_CHUNK_CORRUPT: 'A payload chunk did not match its announced digest.',
  AGENT_READBACK_MISMATCH: 'The image read back from flash does not match its digest.',
  AGENT_SLOT_TOO_SMALL: 'The image does not fit in the target slot.',
  AGENT_PLAN_MISMATCH: 'The signed manifest and the action disagree.',
  AGENT_COMPONENT_UNKNOWN: 'The manifest names a component the device cannot handle.',
  AGENT_STATE_LOOP: 'The update looped through its states and was abandoned.',
  AGENT_INTERNAL_ERROR: 'An unexpected error in the agent; the device kept a verified image.',
  MANIFEST_ROLLBACK: 'The release is not newer than what the device runs.',
  MANIFEST_SIGNATURE_INVALID: 'A signature of the release does not verify.',
  MANIFEST_UNTRUSTED_KEY: 'The release is signed by a key the device does not trust.',
  MANIFEST_DIGEST_MISMATCH: 'The manifest or a payload does not match its digest.',
  MANIFEST_VENDOR_MISMATCH: "The release is for another vendor's devices.",
  MANIFEST_CLASS_MISMATCH: 'The release is for another device class.',
  MANIFEST_CONDITION_FAILED: 'A condition of the manifest failed on the device.',
  DELTA_BASE_MISMATCH: 'The installed image is not the one the delta was made from.',
  DELTA_RESULT_MISMATCH: 'The image rebuilt from the delta has the wrong digest.',
};

/** A failure code in words: the known meaning, else the device's message, else a fallback. */
export function failureReason(code: string | null, exampleMessage: string | null): string {
  if (code === null) return exampleMessage ?? 'The device reported no code.';
  return FAILURE_REASONS[code] ?? exampleMessage ?? 'No description for this code.';
}
