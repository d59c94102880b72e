import type { DevicePrincipal } from '../../auth/principal.js';

/**
 * The optional `delta` of a check-in payload entry (docs/device-api.md, "Delta delivery"): a patch
 * that turns the device's installed image (`baseDigest`) into this payload. A transport encoding
 * only: the device still verifies the release's signed envelope and the rebuilt image's digest.
 */
export interface DeltaOffer {
  readonly baseDigest: string;
  readonly patchDigest: string;
  readonly patchSize: number;
  /** Signed URL, like the payload's own. */
  readonly url: string;
}

/** One payload of the action as the check-in lists it. */
export interface OfferedPayload {
  readonly component: string;
  readonly digest: string;
  readonly size: number;
}

/**
 * What the check-in asks for the payloads of an action: the delta offers by payload digest (none
 * for payloads whose patch is not ready, not smaller, or whose base the device does not run).
 */
export interface DeltaOfferSource {
  offers(
    device: DevicePrincipal,
    releaseId: string,
    payloads: readonly OfferedPayload[],
    nowMs: number,
    /** The open action the offers are for: its signed URLs stop working once it closes. */
    actionId?: string,
  ): Promise<ReadonlyMap<string, DeltaOffer>>;
}
