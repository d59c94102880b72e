import type { DeltaOffer } from '@updraft/core';
import type { DevicePrincipal } from '../../auth/principal.js';
import type { DownloadLinks } from '../../ports/download-links.js';

/** The optional `delta` of a check-in payload entry: the device API's wire type, from core. */
export type { DeltaOffer } from '@updraft/core';

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
    /** Direct links for the patches (absent: the service's own signed URLs). */
    links?: DownloadLinks,
  ): Promise<ReadonlyMap<string, DeltaOffer>>;
}
