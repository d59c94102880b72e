/**
 * Keeps the device's certificate fresh: asked before every check-in, it re-enrolls when the
 * certificate nears its end (identity/identity-rotation.ts). It must not fail the check-in: a
 * failed renewal leaves the current identity in use and is retried later.
 */
export interface IdentityRenewal {
  renewIfDue(): Promise<unknown>;
}
