import {
  actionTypeOf,
  BugError,
  CoreError,
  isUpdraftError,
  policyMayDefer,
  RecurringWindow,
  type UpdraftError,
} from '@updraft/core';
import { systemClock } from '../adapters/system/system-clock.js';
import { fullJitterDelay } from '../backoff.js';
import { installWithDelta } from '../delta/install-with-delta.js';
import { AgentError } from '../errors.js';
import { downloadComponent } from '../install/download-component.js';
import { slotDigest } from '../install/slot-digest.js';
import type { ActionRecord, PlannedComponent } from '../journal/journal.js';
import type { ComponentHandler } from '../ports/component-handler.js';
import type { Slot } from '../ports/slot.js';
import type { DeviceAction } from '../ports/transport.js';
import type { AgentEvent } from './agent-states.js';
import type { HandlerContext, Handlers } from './handler-context.js';

const FINISHED_KEPT = 16;
// Failures worth another attempt later; anything else ends the update.
const TRANSIENT = new Set([
  'AGENT_NETWORK_ERROR',
  'AGENT_SERVER_UNREACHABLE',
  // A signed download URL refused (expired): the refresh check-in brings a fresh one.
  'AGENT_AUTH_REJECTED',
  'AGENT_SERVER_ERROR',
  'AGENT_DOWNLOAD_STALLED',
  'AGENT_PAYLOAD_TRUNCATED',
]);

// Check-in failures logged as errors: they do not heal without someone fixing a token or a server.
const OPERATOR_ERRORS = new Set([
  'AGENT_AUTH_REJECTED',
  'AGENT_SERVER_UNREACHABLE',
  'AGENT_TLS_REFUSED',
]);

/** The behaviour of every state (see transitions.ts for where each event leads). */
export const HANDLERS: Handlers = {
  Idle: async (ctx) => {
    // A stop request ends the wait; the run loop then returns before the next step.
    // A push notice (Agent.wake) ends it too: the agent checks in at once.
    await ctx.idleWait(ctx.idleDelayMs);
    return 'tick';
  },

  CheckIn: async (ctx) => {
    // Before the check-in, so it already goes out with a renewed certificate; a failed renewal
    // keeps the current one (still valid) and never fails the check-in.
    await ctx.deps.identityRenewal?.renewIfDue().catch((error: unknown) => {
      if (!isUpdraftError(error)) throw error;
      ctx.log.warn({ code: error.code }, 'certificate renewal failed');
    });
    await ctx.flush();
    try {
      const result = await ctx.deps.transport.checkIn(
        { components: ctx.journal.installed, attributes: ctx.options.attributes },
        ctx.etag,
      );
      ctx.checkInFailures = 0;
      ctx.checkInError = null;
      if (result.status === 304) {
        ctx.deps.events?.emit({ type: 'check-in', action: null });
        return 'noUpdate';
      }
      ctx.etag = result.etag;
      ctx.journal.pollIntervalMs = clampPoll(result.body.pollIntervalSeconds, ctx);
      ctx.idleDelayMs = ctx.journal.pollIntervalMs;
      const action = result.body.action;
      const push = result.body.push;
      ctx.deps.events?.emit({
        type: 'check-in',
        action: action?.id ?? null,
        ...(push !== undefined ? { push } : {}),
      });
      if (action === null || ctx.journal.finished.includes(action.id)) return 'noUpdate';
      if (action.cancelRequested) {
        ctx.journal.outbox.push({
          actionId: action.id,
          report: newReport(ctx, 'canceled', null, null),
        });
        finish(ctx, action.id);
        await ctx.save();
        await ctx.flush();
        return 'noUpdate';
      }
      ctx.journal.action = newActionRecord(action);
      ctx.journal.stateWrites = 0;
      return 'update';
    } catch (error) {
      if (!isUpdraftError(error)) throw error;
      ctx.checkInFailures += 1;
      ctx.checkInError = error;
      ctx.idleDelayMs = backoff(ctx, ctx.checkInFailures, error);
      const fields = { code: error.code, delayMs: ctx.idleDelayMs, failures: ctx.checkInFailures };
      // A refused token or a dead service needs an operator; a one-off 503 does not.
      if (OPERATOR_ERRORS.has(error.code)) ctx.log.error(fields, 'check-in failed');
      else ctx.log.warn(fields, 'check-in failed');
      return 'failed';
    }
  },

  VerifyManifest: async (ctx) => {
    const record = ctx.action();
    let envelope: Uint8Array;
    try {
      envelope = await ctx.deps.transport.fetchEnvelope(
        record.action.envelopeUrl,
        ctx.options.maxEnvelopeBytes,
      );
    } catch (error) {
      return retryOrFail(ctx, error);
    }
    record.attempts = 0;
    try {
      const verified = await ctx.deps.verifier(envelope, ctx.journal.installed);
      const status = await ctx.deps.bootControl.status();
      const target = await ctx.deps.bootControl.updateSlot();
      const plan: PlannedComponent[] = [];
      for (const c of verified.components) {
        const slot = await slotFor(ctx, c.id, target);
        if (c.size > slot.size) {
          throw new AgentError('AGENT_SLOT_TOO_SMALL', 'the image does not fit its slot', {
            details: { component: c.id, size: c.size, slotSize: slot.size },
          });
        }
        plan.push({
          id: c.id,
          version: record.action.release.version,
          sequenceNumber: verified.sequenceNumber,
          size: c.size,
          digest: c.digest,
          payloadIndex: matchPayload(record.action, c, verified.components.length, plan.length),
          payloadSize: c.payloadSize,
          encryption: c.encryption ? Buffer.from(c.encryption).toString('base64') : null,
          written: 0,
          complete: false,
        });
      }
      record.plan = plan;
      record.allOrNothing = verified.allOrNothing;
      record.targetSlot = target.name;
      record.previousSlot = status.booted;
      return 'verified';
    } catch (error) {
      if (!isUpdraftError(error)) throw error;
      setError(record, error);
      return 'rejected';
    }
  },

  Download: async (ctx) => {
    const record = ctx.action();
    if (!record.reported.includes('downloading')) {
      ctx.report('downloading', { progress: 0 });
      // Tell the service now, not after the download: it is the start of a long step.
      await ctx.save();
      await ctx.flush();
    }
    const plan = planOf(record);
    const fallbacks: string[] = [];
    const total = plan.reduce((sum, c) => sum + c.size, 0);
    try {
      for (const component of plan) {
        if (component.complete) continue;
        const slot = await slotFor(ctx, component.id, await targetSlot(ctx));
        const payload = record.action.payloads[component.payloadIndex];
        if (payload === undefined) throw new AgentError('AGENT_PLAN_MISMATCH', 'payload missing');
        // A delta offer is tried first; any typed failure falls through to the full payload.
        const viaDelta = await installWithDelta(ctx, component, slot, payload);
        if (!viaDelta.used && viaDelta.fallback !== null)
          fallbacks.push(`${component.id}:${viaDelta.fallback}`);
        if (viaDelta.used) {
          // Kept in the plan: the service counts the delivery from the `downloaded` report.
          component.patchDigest = viaDelta.patchDigest;
          record.attempts = 0;
          await ctx.save();
          continue;
        }
        let sinceCheckpoint = 0;
        let last = component.written;
        await downloadComponent({
          transport: ctx.deps.transport,
          clock: ctx.deps.timeoutClock ?? systemClock,
          slot,
          component,
          url: payload.url,
          payloadSize: component.payloadSize,
          decipher: component.encryption
            ? openDecipher(ctx, Buffer.from(component.encryption, 'base64'))
            : null,
          stallTimeoutMs: ctx.options.stallTimeoutMs,
          onSector: async (written) => {
            sinceCheckpoint += written - last;
            last = written;
            ctx.deps.events?.emit({
              type: 'progress',
              component: component.id,
              offset: written,
              size: component.size,
            });
            if (sinceCheckpoint >= ctx.options.checkpointBytes) {
              sinceCheckpoint = 0;
              await slot.sync?.();
              await ctx.save();
              const done = plan.reduce((sum, c) => sum + (c.complete ? c.size : c.written), 0);
              await sendProgress(ctx, Math.min(99, Math.floor((100 * done) / Math.max(1, total))));
            }
          },
        });
        record.attempts = 0;
        await ctx.save();
      }
    } catch (error) {
      return retryOrFail(ctx, error);
    }
    // The patches applied: when they came from an object store or a CDN, this report is how the
    // service learns of the delivery (docs/device-api.md, "Feedback").
    const deltas = plan.flatMap((c) => (c.patchDigest === undefined ? [] : [c.patchDigest]));
    ctx.report('downloaded', {
      ...(fallbacks.length > 0 ? { message: `delta fallback ${fallbacks.join(',')}` } : {}),
      ...(deltas.length > 0 ? { deltas } : {}),
    });
    if (actionTypeOf(record.action) === 'download-only') {
      finish(ctx, record.action.id);
      return 'downloadOnly';
    }
    return 'downloaded';
  },

  InstallWait: async (ctx) => {
    const record = ctx.action();
    const action = record.action;
    const window = action.maintenanceWindow;
    const now = ctx.deps.clock.now();
    // From the persisted poll interval, never from memory: a restarted agent waits as long as the
    // one before it did (a zero here made a resumed agent check in thousands of times a second).
    const poll = pollIntervalMs(ctx);
    // Precedence (docs/agent.md, "Action types and maintenance windows"): windows first, for
    // every type: a forced action still installs only inside its window; the type only decides
    // whether the device's policy may defer it further.
    if (window) {
      const start = Date.parse(window.start);
      const end = Date.parse(window.end);
      if (!(now >= start && now < end)) {
        // Wait for the window to open, but check in again at least every poll interval.
        const wait = now < start ? Math.min(start - now, poll) : poll;
        ctx.log.info({ actionId: action.id, waitMs: wait }, 'outside maintenance window');
        return deferInstall(ctx, wait);
      }
    }
    if (action.recurringWindow) {
      let recurring: RecurringWindow;
      try {
        recurring = RecurringWindow.from(action.recurringWindow);
      } catch (error) {
        // A window this device cannot evaluate (an unknown zone in its runtime's time-zone data)
        // must not become "install any time".
        if (!isUpdraftError(error)) throw error;
        setError(record, error);
        return 'failed';
      }
      if (!recurring.isOpen(now)) {
        // Until the next opening (strictly after now, as now is outside every window), capped at
        // the poll interval so a cancel is still seen; never a zero wait.
        const next = recurring.nextOpening(now);
        const wait = next === null ? poll : Math.max(1, Math.min(next - now, poll));
        ctx.log.info(
          { actionId: action.id, waitMs: wait, nextOpening: next },
          'outside recurring maintenance window',
        );
        return deferInstall(ctx, wait);
      }
    }
    const type = actionTypeOf(action);
    if (policyMayDefer(type, action.forceAfter, now)) {
      const verdict = (await ctx.deps.policy?.canInstall?.({
        actionId: action.id,
        version: action.release.version,
        components: planOf(record).map((c) => c.id),
      })) ?? { ok: true };
      if (!verdict.ok) {
        // A time-forced action is asked again no later than its deadline.
        const deadline = type === 'time-forced' ? Date.parse(action.forceAfter ?? '') - now : poll;
        const wait = Number.isFinite(deadline) ? Math.max(1, Math.min(deadline, poll)) : poll;
        ctx.log.info({ actionId: action.id, reason: verdict.reason, type }, 'install deferred');
        return deferInstall(ctx, wait);
      }
    }
    return 'allowed';
  },

  ArtifactInstall: async (ctx) => {
    const record = ctx.action();
    ctx.report('installing');
    const plan = planOf(record);
    const target = await targetSlot(ctx);
    for (const component of plan) {
      const slot = await slotFor(ctx, component.id, target);
      if ((await slotDigest(slot, component.size)) !== component.digest) {
        throw new AgentError(
          'AGENT_READBACK_MISMATCH',
          'the written image does not read back as verified',
          { details: { component: component.id, slot: slot.name } },
        );
      }
    }
    for (const component of plan) {
      if (component.id === ctx.options.mainComponent) continue;
      // Recorded before acting, so a cut in the middle of apply() is reverted on failure.
      if (!record.applied.includes(component.id)) {
        record.applied.push(component.id);
        await ctx.save();
      }
      await handlerFor(ctx, component.id).apply({ size: component.size, digest: component.digest });
    }
    if (hasMain(ctx)) await ctx.deps.bootControl.markPending(target.name);
    return 'installed';
  },

  ArtifactReboot: async (ctx) => {
    const record = ctx.action();
    ctx.report('rebooting');
    if (!hasMain(ctx)) return 'rebooted';
    const status = await ctx.deps.bootControl.status();
    if (status.booted === record.targetSlot || status.pending !== record.targetSlot) {
      return 'rebooted';
    }
    await ctx.flush();
    ctx.halt = true;
    await ctx.deps.bootControl.reboot();
    return 'rebootRequested';
  },

  ArtifactVerifyReboot: async (ctx) => {
    const record = ctx.action();
    if (hasMain(ctx)) {
      if (record.targetSlot === null) throw new BugError('main image planned without a slot');
      const status = await ctx.deps.bootControl.status();
      if (status.booted !== record.targetSlot) {
        if (status.pending === record.targetSlot) return 'retry';
        record.error ??= {
          code: status.lastFailure ?? 'AGENT_BOOT_REVERTED',
          message: 'the bootloader did not keep the new image',
        };
        return 'reverted';
      }
      // Already confirmed: a cut fell between confirm and the next save.
      if (!status.trial) return 'healthy';
    }
    const verdict = await healthCheck(ctx);
    if (verdict.ok) return 'healthy';
    record.error ??= { code: 'AGENT_HEALTH_CHECK_FAILED', message: verdict.reason };
    return 'unhealthy';
  },

  ArtifactCommit: async (ctx) => {
    const record = ctx.action();
    const installed = planOf(record).map((c) => ({
      id: c.id,
      version: c.version,
      sequenceNumber: c.sequenceNumber,
      digest: c.digest,
    }));
    if (hasMain(ctx)) {
      if (record.targetSlot === null) throw new BugError('main image planned without a slot');
      const status = await ctx.deps.bootControl.status();
      if (status.booted !== record.targetSlot) {
        // The bootloader went back while we were away (a cut before the confirm): never confirm
        // the old image as if it were the new one.
        throw new AgentError('AGENT_BOOT_REVERTED', 'the new image is no longer running');
      }
      // Before the confirm: once the image is kept, a boot promotes this into the floor even
      // if the journal is lost; if it is not kept, a boot drops it (rollback-floor.ts).
      await ctx.floor?.prepare(status.booted, installed);
      await ctx.deps.bootControl.confirm();
    }
    for (const id of record.applied) await handlerFor(ctx, id).commit();
    for (const c of installed) {
      const at = ctx.journal.installed.findIndex((i) => i.id === c.id);
      if (at >= 0) ctx.journal.installed[at] = c;
      else ctx.journal.installed.push(c);
    }
    await ctx.floor?.raise(installed);
    ctx.report('success');
    finish(ctx, record.action.id);
    return 'committed';
  },

  ArtifactRollback: async (ctx) => {
    const record = ctx.action();
    await revertApplied(ctx);
    if (hasMain(ctx)) {
      const status = await ctx.deps.bootControl.status();
      if (status.booted === record.targetSlot && status.trial) {
        // An unconfirmed trial image is dropped by the bootloader at the next boot.
        await ctx.deps.bootControl.reject?.();
        await ctx.flush();
        ctx.halt = true;
        await ctx.deps.bootControl.reboot();
        return 'rebootRequested';
      }
    }
    return 'reverted';
  },

  ArtifactRollbackReboot: async (ctx) => {
    const record = ctx.action();
    const status = await ctx.deps.bootControl.status();
    if (hasMain(ctx) && status.booted === record.targetSlot && status.trial) return 'retry';
    return 'reverted';
  },

  ArtifactFailure: async (ctx) => {
    const record = ctx.action();
    if (hasMain(ctx) && record.targetSlot !== null) {
      const status = await ctx.deps.bootControl.status();
      if (status.booted === record.targetSlot && status.trial) return 'rollback';
      if (status.pending === record.targetSlot) await ctx.deps.bootControl.clearPending();
    }
    await revertApplied(ctx);
    ctx.report('failure', { code: record.error?.code ?? 'AGENT_INTERNAL_ERROR' });
    finish(ctx, record.action.id);
    return 'done';
  },

  Reject: async (ctx) => {
    const record = ctx.action();
    ctx.report('rejected', { code: record.error?.code ?? 'AGENT_INTERNAL_ERROR' });
    finish(ctx, record.action.id);
    return 'done';
  },

  Cleanup: async (ctx) => {
    ctx.journal.action = null;
    ctx.journal.stateWrites = 0;
    await ctx.save();
    await ctx.flush();
    return 'done';
  },
};

function newActionRecord(action: DeviceAction): ActionRecord {
  return {
    action,
    plan: null,
    allOrNothing: true,
    targetSlot: null,
    previousSlot: null,
    applied: [],
    error: null,
    reported: [],
    attempts: 0,
  };
}

function newReport(
  ctx: HandlerContext,
  status: 'canceled',
  code: string | null,
  progress: number | null,
) {
  return { reportId: ctx.deps.random.uuid(), status, progress, code, message: null };
}

function finish(ctx: HandlerContext, actionId: string): void {
  const finished = ctx.journal.finished.filter((id) => id !== actionId);
  finished.push(actionId);
  ctx.journal.finished = finished.slice(-FINISHED_KEPT);
}

function setError(record: ActionRecord, error: UpdraftError): void {
  record.error ??= { code: error.code, message: error.message };
}

// A service that said when to come back (Retry-After on 429/503) is not asked again sooner.
function backoff(ctx: HandlerContext, attempt: number, error?: UpdraftError): number {
  const jitter = fullJitterDelay(attempt, ctx.options.backoffBaseMs, ctx.options.backoffCapMs, () =>
    ctx.deps.random.next(),
  );
  const retryAfter = error?.details?.retryAfterSeconds;
  return typeof retryAfter === 'number' ? Math.max(jitter, retryAfter * 1000) : jitter;
}

/** The service's poll interval as persisted in the journal, or the default before any answer. */
function pollIntervalMs(ctx: HandlerContext): number {
  return ctx.journal.pollIntervalMs ?? ctx.options.defaultPollIntervalMs;
}

// Sleeps `waitMs` (a stop request ends it early), then asks the service whether to cancel.
async function deferInstall(ctx: HandlerContext, waitMs: number): Promise<AgentEvent> {
  try {
    await ctx.deps.clock.sleep(waitMs, ctx.signal);
  } catch (error) {
    // Stopped: the run loop returns before the next step. Anything else the clock throws (a
    // simulator's deadline or interrupt) ends the run here: swallowed, InstallWait spun forever.
    if (ctx.signal?.aborted) return 'deferred';
    throw error;
  }
  return (await refreshAction(ctx)) ? cancel(ctx) : 'deferred';
}

function clampPoll(seconds: number, ctx: HandlerContext): number {
  if (!Number.isFinite(seconds) || seconds <= 0) return ctx.options.defaultPollIntervalMs;
  return Math.min(Math.max(seconds, 1), 7 * 24 * 3600) * 1000;
}

// Network trouble is retried with backoff (from the checkpoint); anything else ends the update.
async function retryOrFail(ctx: HandlerContext, error: unknown): Promise<AgentEvent> {
  if (!isUpdraftError(error)) throw error;
  const record = ctx.action();
  if (TRANSIENT.has(error.code) && record.attempts + 1 < ctx.options.maxAttempts) {
    record.attempts += 1;
    const delay = backoff(ctx, record.attempts, error);
    ctx.log.warn({ code: error.code, attempt: record.attempts, delayMs: delay }, 'will retry');
    await ctx.save();
    try {
      await ctx.deps.clock.sleep(delay, ctx.signal);
    } catch {
      return 'retry'; // stopped: resumes from the saved attempt count
    }
    if (await refreshAction(ctx)) return cancel(ctx);
    return 'retry';
  }
  setError(record, error);
  return 'failed';
}

// Signed URLs expire: a check-in hands out fresh ones for the same action, and tells whether the
// operator asked to cancel it. Returns true when a cancel was requested.
async function refreshAction(ctx: HandlerContext): Promise<boolean> {
  const record = ctx.action();
  try {
    const result = await ctx.deps.transport.checkIn(
      { components: ctx.journal.installed, attributes: ctx.options.attributes },
      null,
    );
    if (result.status === 200) {
      ctx.journal.pollIntervalMs = clampPoll(result.body.pollIntervalSeconds, ctx);
    }
    if (result.status === 200 && result.body.action?.id === record.action.id) {
      ctx.journal.action = { ...record, action: result.body.action };
      return result.body.action.cancelRequested;
    }
  } catch (error) {
    if (!isUpdraftError(error)) throw error;
  }
  return false;
}

// Progress is informative: sent once, outside the outbox, and never worth failing a download for.
async function sendProgress(ctx: HandlerContext, progress: number): Promise<void> {
  const record = ctx.action();
  try {
    await ctx.deps.transport.sendFeedback(record.action.id, {
      reportId: ctx.deps.random.uuid(),
      status: 'downloading',
      progress,
      code: null,
      message: null,
    });
  } catch (error) {
    if (!isUpdraftError(error)) throw error;
  }
}

// Nothing is installed yet (the only states that cancel): acknowledge and drop the action.
function cancel(ctx: HandlerContext): AgentEvent {
  const record = ctx.action();
  ctx.report('canceled');
  finish(ctx, record.action.id);
  return 'canceled';
}

function matchPayload(
  action: DeviceAction,
  component: { digest: string; payloadDigest: string | null; payloadSize: number },
  count: number,
  index: number,
): number {
  const wanted = component.payloadDigest ?? component.digest;
  let at = action.payloads.findIndex((p) => p.digest === wanted);
  // Encrypted payloads without a stated ciphertext digest pair up by position.
  if (at < 0 && component.payloadDigest === null && action.payloads.length === count) at = index;
  const payload = action.payloads[at];
  if (payload === undefined || payload.size !== component.payloadSize) {
    throw new AgentError('AGENT_PLAN_MISMATCH', 'the action does not carry this payload', {
      details: { digest: wanted },
    });
  }
  return at;
}

// The plan is made in VerifyManifest; every state after it that finds none is a bug, not an
// empty update (an empty plan would "install" nothing and report success).
function planOf(record: ActionRecord): PlannedComponent[] {
  if (record.plan === null) throw new BugError('no verified plan for this step');
  return record.plan;
}

function hasMain(ctx: HandlerContext): boolean {
  return (ctx.action().plan ?? []).some((c) => c.id === ctx.options.mainComponent);
}

function handlerFor(ctx: HandlerContext, id: string): ComponentHandler {
  const handler = ctx.deps.components?.find((h) => h.id === id);
  if (handler === undefined) {
    throw new AgentError('AGENT_COMPONENT_UNKNOWN', 'no handler for this component', {
      details: { component: id },
    });
  }
  return handler;
}

async function targetSlot(ctx: HandlerContext): Promise<Slot> {
  const name = ctx.action().targetSlot;
  return name === null ? ctx.deps.bootControl.updateSlot() : ctx.deps.bootControl.slot(name);
}

async function slotFor(ctx: HandlerContext, id: string, main: Slot): Promise<Slot> {
  return id === ctx.options.mainComponent ? main : handlerFor(ctx, id).stagingSlot();
}

function openDecipher(ctx: HandlerContext, encryption: Uint8Array) {
  if (!ctx.deps.decryptor) {
    throw new CoreError('MANIFEST_UNSUPPORTED', 'encrypted payload but no device key configured');
  }
  return ctx.deps.decryptor.open(encryption);
}

async function revertApplied(ctx: HandlerContext): Promise<void> {
  const record = ctx.action();
  for (const id of [...record.applied].reverse()) await handlerFor(ctx, id).revert();
}

async function healthCheck(
  ctx: HandlerContext,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const hook = ctx.deps.policy?.healthCheck;
  if (!hook) return { ok: true };
  const timer = new AbortController();
  try {
    return await Promise.race([
      hook.call(ctx.deps.policy).catch((error: unknown) => ({
        ok: false as const,
        reason: error instanceof Error ? error.message : 'health check threw',
      })),
      (ctx.deps.timeoutClock ?? systemClock)
        .sleep(ctx.options.healthCheckTimeoutMs, timer.signal)
        .then(
          () => ({ ok: false as const, reason: 'health check timed out' }),
          () => ({ ok: false as const, reason: 'health check aborted' }),
        ),
    ]);
  } finally {
    timer.abort();
  }
}
