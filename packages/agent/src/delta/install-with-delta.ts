import { isUpdraftError } from '@updraft/core';
import { systemClock } from '../adapters/system/system-clock.js';
import type { PlannedComponent } from '../journal/journal.js';
import type { HandlerContext } from '../machine/handler-context.js';
import type { Slot } from '../ports/slot.js';
import { deltaOfferOf, installFromDelta } from './delta-install.js';

/** How a component's download went: through its delta, or not (with why, when a delta was offered). */
export type DeltaAttempt =
  | { readonly used: true; readonly patchDigest: string }
  | { readonly used: false; readonly fallback: string | null };

/**
 * The Download state's delta step for one component: when the payload offers a delta, the
 * component is the main image (its active slot can be read) in clear, no full download is under
 * way, and the installed image is the offer's base, the new image is rebuilt from the active
 * slot into `target`. Any typed failure (`DELTA_*`, a download error) is logged and answered with
 * `fallback: <code>`: the caller then downloads the full payload. Anything else (a power cut, a
 * bug) propagates.
 */
export async function installWithDelta(
  ctx: HandlerContext,
  component: PlannedComponent,
  target: Slot,
  payload: unknown,
): Promise<DeltaAttempt> {
  const offer = deltaOfferOf(payload);
  if (offer === null) return { used: false, fallback: null };
  const eligible =
    component.id === ctx.options.mainComponent &&
    component.encryption === null &&
    component.written === 0 &&
    !component.complete;
  if (!eligible) return { used: false, fallback: null };
  const installed = ctx.journal.installed.find((c) => c.id === component.id);
  if (installed?.digest !== offer.baseDigest) {
    ctx.log.warn({ component: component.id }, 'delta offered for another base; full download');
    return { used: false, fallback: 'DELTA_BASE_MISMATCH' };
  }
  try {
    const status = await ctx.deps.bootControl.status();
    await installFromDelta({
      transport: ctx.deps.transport,
      clock: ctx.deps.timeoutClock ?? systemClock,
      stallTimeoutMs: ctx.options.stallTimeoutMs,
      active: await ctx.deps.bootControl.slot(status.booted),
      target,
      image: { size: component.size, digest: component.digest },
      offer,
      onSector: async (written) => {
        ctx.deps.events?.emit({
          type: 'progress',
          component: component.id,
          offset: written,
          size: component.size,
        });
      },
    });
  } catch (error) {
    if (!isUpdraftError(error)) throw error;
    ctx.log.warn({ component: component.id, code: error.code }, 'delta failed; full download');
    return { used: false, fallback: error.code };
  }
  component.written = component.size;
  component.complete = true;
  ctx.log.info({ component: component.id, patchSize: offer.patchSize }, 'installed from delta');
  return { used: true, patchDigest: offer.patchDigest };
}
