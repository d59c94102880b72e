import type { FastifyBaseLogger } from 'fastify';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
import { ServerError } from '../../errors.js';
import type { PushNotices } from '../../mqtt/push-notifier.js';
import { revokedKids } from '../actions/action.repository.js';
import type { ResolvedFilter } from '../filters/filter.repository.js';
import { findRelease } from '../releases/release.repository.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import type { CampaignPhaseTable, CampaignTable } from './campaign.table.js';
import type { CampaignEngineHandle } from './campaign-engine-port.js';
import { recordCampaignEvent } from './campaign-events.js';
import {
  type CampaignRelease,
  campaignPhases,
  campaignsToStep,
  dueScheduledCampaigns,
  fanOut,
  gateHealth,
  insertSample,
  latestSample,
  lockCampaign,
  materialiseTargets,
  skipTargets,
  type TargetKey,
  takeTargets,
  updateCampaign,
  updatePhase,
  waitingBatch,
} from './campaign-fanout.repository.js';
import type { CampaignEventType, StateReason, TargetStatus } from './campaign-states.js';
import { type CampaignCounts, campaignCounts, emptyCounts } from './campaign-stats.repository.js';
import { campaignFinished, phaseTake, phaseVerdict } from './phase-plan.js';

/** What the engine is built from (wired in build-server.ts). */
export interface CampaignEngineDeps {
  readonly db: Kysely<Database>;
  readonly support: DialectSupport;
  readonly now: () => Date;
  readonly logger: FastifyBaseLogger;
  /** Where campaign webhook events are queued (in the step's transaction). */
  readonly events: WebhookPublisher;
  /** Resolves a campaign's or phase's filter (DeviceFilterService). */
  readonly filters: { resolve(tenantId: string, source: string): Promise<ResolvedFilter> };
  /** `campaigns.tickSeconds`. */
  readonly tickSeconds: number;
  /** How long pokes of one campaign are gathered before its step runs (default 20 ms). */
  readonly pokeDelayMs?: number;
  /** `campaigns.fanOutBatch`: most targets one step takes into a phase or gives an action. */
  readonly fanOutBatch?: number;
  /** Push notices for the actions a step created and for a pause (after its commit). */
  readonly push?: PushNotices;
}

/** What a step did that devices are told of once it committed. */
interface StepEffects {
  tenantId: string | undefined;
  /** The step's time, when it created actions (they carry it as `created_at`). */
  fannedOutAt: string | undefined;
  paused: boolean;
}

/**
 * What one step did: `locked` (another replica holds the campaign), `idle` (nothing to do),
 * `stepped`, or `more` (stepped, and a batch was full: the next step continues the fan-out).
 */
export type StepOutcome = 'locked' | 'idle' | 'stepped' | 'more';

const DEFAULT_FANOUT_BATCH = 5_000;

/** A campaign's filter and its phases' filters, resolved for one step. */
interface StepFilters {
  readonly campaign: ResolvedFilter;
  readonly phases: ReadonlyMap<number, ResolvedFilter>;
}

/** The campaign's release as a step needs it. */
interface StepRelease extends CampaignRelease {
  /** Signed by a revoked key: no more actions are given (as a hand assignment is refused). */
  readonly revoked: boolean;
}

// A sample of the totals is kept at most this often per campaign (the time series).
const SAMPLE_EVERY_MS = 60_000;

/**
 * The campaign engine (docs/campaigns.md, "The engine"). Every replica runs one: a tick every
 * `tickSeconds` steps the running campaigns (and starts scheduled ones whose time came); a poke
 * after a device report steps that campaign soon, so a phase advances without waiting for the
 * tick. One step is one transaction holding the campaign's row; replicas coordinate only through
 * the database (SKIP LOCKED: a campaign another replica is stepping is skipped). All work on
 * targets is set-based SQL (campaign-fanout.repository.ts); every step is idempotent.
 */
export class CampaignEngine implements CampaignEngineHandle {
  readonly #deps: CampaignEngineDeps;
  readonly #poked = new Set<string>();
  /** Per campaign: the last waiting target the previous (full) batch covered. */
  readonly #cursors = new Map<string, TargetKey>();
  #pokeTimer: NodeJS.Timeout | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  #queue: Promise<void> = Promise.resolve();
  /** The effects of the step under way, per campaign (steps of one campaign never overlap). */
  readonly #effects = new Map<string, StepEffects>();
  #started = false;
  #closed = false;

  constructor(deps: CampaignEngineDeps) {
    this.#deps = deps;
  }

  /** Starts ticking (the first tick at once). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#scheduleTick(0);
  }

  /** Stops ticking and poking and waits for the pass under way. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#tickTimer) clearTimeout(this.#tickTimer);
    if (this.#pokeTimer) clearTimeout(this.#pokeTimer);
    await this.#queue;
  }

  /** Steps this campaign soon; pokes arriving meanwhile are coalesced into one step each. */
  poke(_tenantId: string, campaignId: string): void {
    if (this.#closed) return;
    this.#poked.add(campaignId);
    if (this.#pokeTimer !== undefined) return;
    this.#pokeTimer = setTimeout(() => {
      this.#pokeTimer = undefined;
      const ids = [...this.#poked];
      this.#poked.clear();
      void this.#enqueue(() => this.#stepEach(ids));
    }, this.#deps.pokeDelayMs ?? 20);
    this.#pokeTimer.unref();
  }

  /**
   * One pass over every campaign that needs one: scheduled ones whose time came, running ones,
   * and paused or finished ones with targets awaiting their health verdict. Runs after any pass
   * under way (passes of one engine never overlap).
   */
  tick(): Promise<void> {
    return this.#enqueue(async () => {
      const due = await dueScheduledCampaigns(this.#deps.db, this.#deps.now().toISOString());
      const active = (await campaignsToStep(this.#deps.db)).map((c) => c.id);
      await this.#stepEach([...new Set([...due, ...active])]);
    });
  }

  /** Runs `work` after the pass under way; a failure is logged, never stops later passes. */
  #enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(work).catch((error: unknown) => {
      this.#deps.logger.error({ err: error }, 'campaign engine pass failed');
    });
    this.#queue = next;
    return next;
  }

  #scheduleTick(delayMs: number): void {
    if (this.#closed) return;
    this.#tickTimer = setTimeout(() => {
      void this.tick().finally(() => this.#scheduleTick(this.#deps.tickSeconds * 1000));
    }, delayMs);
    this.#tickTimer.unref();
  }

  async #stepEach(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      if (this.#closed) return;
      try {
        // A full batch: the campaign's next batch runs right after the work queued meanwhile
        // (pokes, a tick's other campaigns), each batch in its own transaction.
        if ((await this.step(id)) === 'more') void this.#enqueue(() => this.#stepEach([id]));
      } catch (error) {
        // One campaign's failure (a bad filter, a lost connection) must not stop the others.
        this.#deps.logger.error({ err: error, campaignId: id }, 'campaign step failed');
      }
    }
  }

  /**
   * One step of one campaign, in one transaction (docs/campaigns.md, "The engine"): start it if
   * scheduled and due; materialise or admit targets; gate health; evaluate the current phase
   * (pause, pass, advance, gate); skip the waiting targets that no longer need the release and
   * fan out the others of the phases reached; finish; sample the totals. Paused and finished
   * campaigns only get their health verdicts.
   */
  async step(campaignId: string): Promise<StepOutcome> {
    const effects: StepEffects = { tenantId: undefined, fannedOutAt: undefined, paused: false };
    this.#effects.set(campaignId, effects);
    try {
      const outcome = await this.#step(campaignId);
      // Committed: tell the devices (a rolled-back step threw and tells nothing).
      const push = this.#deps.push;
      if (push !== undefined && effects.tenantId !== undefined) {
        if (effects.fannedOutAt !== undefined)
          push.campaignActionsCreated(effects.tenantId, campaignId, effects.fannedOutAt);
        if (effects.paused) push.campaignPaused(effects.tenantId, campaignId);
      }
      return outcome;
    } finally {
      this.#effects.delete(campaignId);
    }
  }

  async #step(campaignId: string): Promise<StepOutcome> {
    const { db } = this.#deps;
    const at = this.#deps.now().toISOString();
    // Read and resolved before the transaction: on SQLite a query outside the transaction (the
    // filter service reads groups) would wait for it.
    const head = await db
      .selectFrom('campaigns')
      .selectAll()
      .where('id', '=', campaignId)
      .executeTakeFirst();
    if (head === undefined) return 'idle';
    const due = head.state === 'scheduled' && head.start_at !== null && head.start_at <= at;
    if (!['running', 'paused', 'finished'].includes(head.state) && !due) return 'idle';
    const works = head.state === 'running' || due;
    const release = await this.#release(head);
    if (release === undefined) {
      if (!works) return 'idle';
      return this.#block(
        campaignId,
        'release-unavailable',
        `release ${head.release_id} is gone`,
        at,
      );
    }
    if (works && release.revoked)
      return this.#block(
        campaignId,
        'release-revoked',
        `release ${release.id} is signed by a revoked key`,
        at,
      );
    let filters: StepFilters | undefined;
    if (works) {
      try {
        filters = await this.#filters(head);
      } catch (error) {
        // A group it names was deleted or redefined: stop and say so, never guess the targets.
        if (!(error instanceof ServerError) || !error.code.startsWith('FILTER_')) throw error;
        return this.#block(campaignId, 'filter-invalid', error.message, at);
      }
    }

    return db.transaction().execute(async (trx) => {
      let c = await lockCampaign(trx, this.#deps.support, campaignId);
      if (c === undefined) return 'locked';
      if (c.state === 'scheduled') {
        if (c.start_at === null || c.start_at > at || filters === undefined) return 'idle';
        await updateCampaign(trx, c, { state: 'running', state_reason: null, started_at: at }, at);
        await this.#event(
          trx,
          c,
          'state_changed',
          { from: 'scheduled', to: 'running', reason: null },
          at,
        );
        c = { ...c, state: 'running', state_reason: null, started_at: at };
      }
      if (c.state === 'paused' || c.state === 'finished') {
        await gateHealth(trx, c.id, release, at);
        return 'stepped';
      }
      if (c.state !== 'running' || filters === undefined) return 'idle';
      return (await this.#running(trx, c, release, filters, at)) ? 'more' : 'stepped';
    });
  }

  async #release(c: CampaignTable): Promise<StepRelease | undefined> {
    const release = await findRelease(this.#deps.db, c.tenant_id, c.release_id);
    if (release === undefined) {
      this.#deps.logger.warn(
        { campaignId: c.id, releaseId: c.release_id },
        'campaign release is gone; campaign not stepped',
      );
      return undefined;
    }
    return {
      id: release.id,
      deviceClassId: release.deviceClassId,
      sequenceNumber: release.sequenceNumber,
      componentIds: release.components.map((component) => component.id),
      revoked:
        (await revokedKids(this.#deps.db, c.tenant_id, release.deviceClassId, release.signerKids))
          .length > 0,
    };
  }

  /** The campaign's filter and its phases' filters, resolved (groups looked up). */
  async #filters(c: CampaignTable): Promise<StepFilters> {
    const phases = new Map<number, ResolvedFilter>();
    for (const phase of await campaignPhases(this.#deps.db, c.id)) {
      if (phase.filter !== null && phase.filter.trim() !== '')
        phases.set(phase.idx, await this.#deps.filters.resolve(c.tenant_id, phase.filter));
    }
    return { campaign: await this.#deps.filters.resolve(c.tenant_id, c.filter), phases };
  }

  async #running(
    trx: Transaction<Database>,
    campaign: CampaignTable,
    release: StepRelease,
    filters: StepFilters,
    at: string,
  ): Promise<boolean> {
    let c = campaign;
    const batch = this.#deps.fanOutBatch ?? DEFAULT_FANOUT_BATCH;
    // The cursor holds only while this step takes nobody into a phase (a take adds targets
    // anywhere in the order); otherwise the fan-out starts again from the first waiting one.
    let after = this.#cursors.get(c.id) ?? null;
    this.#cursors.delete(c.id);
    let more = false;
    const phases = await campaignPhases(trx, c.id);
    if (phases.length === 0) {
      this.#deps.logger.error({ campaignId: c.id }, 'campaign has no phases; not stepped');
      return false;
    }
    const last = phases.length - 1;
    // Joiners enter the phase in progress at once when it takes every target anyway (100 %, no
    // filter: the common single phase, and a continuous campaign's last one).
    const joinIdx = Math.max(0, Math.min(c.current_phase, last));
    const join = phases[joinIdx]!;
    const joinPhase =
      join.size_percent !== null &&
      Number(join.size_percent) >= 100 &&
      (join.filter === null || join.filter.trim() === '') &&
      join.state !== 'paused'
        ? joinIdx
        : null;
    if (c.materialised_at === null) {
      await materialiseTargets(trx, c, release, filters.campaign, at, false, joinPhase);
      await updateCampaign(trx, c, { materialised_at: at }, at);
      c = { ...c, materialised_at: at };
    } else if (c.type === 'continuous') {
      await materialiseTargets(trx, c, release, filters.campaign, at, true, joinPhase);
    }
    await gateHealth(trx, c.id, release, at);

    let counts = await campaignCounts(trx, c.id);
    // Bounded: each round starts, passes or advances one phase, or stops.
    for (let round = 0; round <= 2 * phases.length + 1; round++) {
      if (c.current_phase < 0) {
        await updatePhase(trx, c.id, 0, { state: 'running', started_at: at });
        phases[0] = { ...phases[0]!, state: 'running', started_at: at };
        await updateCampaign(trx, c, { current_phase: 0 }, at);
        c = { ...c, current_phase: 0 };
        await this.#event(trx, c, 'phase_started', { phase: 0 }, at);
      }
      const idx = Math.min(c.current_phase, last);
      const phase = phases[idx]!;
      if (phase.state === 'pending') {
        // Not started by whoever moved current_phase: start it now.
        await updatePhase(trx, c.id, idx, { state: 'running', started_at: at });
        phases[idx] = { ...phase, state: 'running', started_at: at };
        continue;
      }
      if (phase.state !== 'running' && phase.state !== 'passed') break; // paused: wait for resume
      const took = await this.#take(trx, c, phase, counts, filters.phases.get(idx), batch, at);
      if (took.counts !== counts) after = null;
      counts = took.counts;
      if (took.capped) {
        // The phase asks for more than one batch: the rest in the next step, no verdict yet.
        more = true;
        break;
      }
      if (phase.state === 'running') {
        const verdict = phaseVerdict(counts.byPhase.get(idx) ?? emptyCounts(), {
          successThreshold: Number(phase.success_threshold),
          errorPercent: nullableNumber(phase.error_threshold_percent),
          errorCount: nullableNumber(phase.error_threshold_count),
          errorsAcknowledged: Number(phase.errors_acknowledged),
        });
        if (verdict === 'wait') break;
        if (verdict === 'pause') {
          await updatePhase(trx, c.id, idx, { state: 'paused' });
          await this.#pause(trx, c, 'error-threshold', at);
          await this.#event(trx, c, 'phase_paused', { phase: idx, reason: 'error-threshold' }, at);
          return false;
        }
        await updatePhase(trx, c.id, idx, { state: 'passed', passed_at: at });
        phases[idx] = { ...phase, state: 'passed', passed_at: at };
        // A gate holds the way to the next phase; after the last there is none to hold.
        if (Number(phase.manual_gate) === 1 && idx < last) {
          await this.#pause(trx, c, 'manual-gate', at);
          return false;
        }
        continue;
      }
      // The current phase has passed: on to the next one, or done with the last.
      if (idx >= last) break;
      await updatePhase(trx, c.id, idx + 1, { state: 'running', started_at: at });
      phases[idx + 1] = { ...phases[idx + 1]!, state: 'running', started_at: at };
      await updateCampaign(trx, c, { current_phase: idx + 1 }, at);
      c = { ...c, current_phase: idx + 1 };
      await this.#event(trx, c, 'phase_advanced', { phase: idx, next: idx + 1 }, at);
    }

    const current = Math.min(c.current_phase, last);
    // (A revoked release never gets here: the step pauses the campaign first.)
    {
      const next = await waitingBatch(trx, c.id, current, after, batch);
      const skipped = await skipTargets(trx, c.id, release, current, at, next.range);
      const given = await fanOut(trx, c, release.id, current, at, next.range);
      if (given > 0) this.#note(c, { fannedOutAt: at });
      if (next.more && next.range.upTo !== null) {
        this.#cursors.set(c.id, next.range.upTo);
        more = true;
      }
      // Only the totals are read after this (finish, sample): moved in memory, exactly as the
      // statements moved the rows, instead of another GROUP BY over every target.
      counts = withTotalsMoved(counts, [
        ['scheduled', 'skipped', skipped],
        ['scheduled', 'pending', given],
      ]);
    }
    if (phases[last]!.state === 'passed' && campaignFinished(c.type, true, counts.totals)) {
      await updateCampaign(
        trx,
        c,
        { state: 'finished', state_reason: 'completed', finished_at: at },
        at,
      );
      await this.#event(
        trx,
        c,
        'state_changed',
        { from: 'running', to: 'finished', reason: 'completed' },
        at,
      );
    }
    await this.#sample(trx, c, counts, at);
    return more;
  }

  /**
   * The current phase takes the targets its size still asks for, at most `batch` (`capped` when
   * it asks for more); answers the counts with the taken ones moved (they were all unphased and
   * `scheduled`), no second GROUP BY.
   */
  async #take(
    trx: Transaction<Database>,
    c: CampaignTable,
    phase: CampaignPhaseTable,
    counts: CampaignCounts,
    phaseFilter: ResolvedFilter | undefined,
    batch: number,
    at: string,
  ): Promise<{ counts: CampaignCounts; capped: boolean }> {
    const unphased = counts.byPhase.get(null) ?? emptyCounts();
    // Targets that left before entering a phase do not count towards the phases' shares.
    const total = counts.totals.targets - unphased.skipped - unphased.cancelled;
    const entered = counts.totals.targets - unphased.targets;
    const take = phaseTake(
      { percent: nullableNumber(phase.size_percent), count: nullableNumber(phase.size_count) },
      total,
      entered,
      (counts.byPhase.get(Number(phase.idx)) ?? emptyCounts()).targets,
    );
    if (take === 0 || unphased.scheduled === 0) return { counts, capped: false };
    const idx = Number(phase.idx);
    const count = Math.min(take, batch);
    const taken = await takeTargets(
      trx,
      c,
      idx,
      count,
      phaseFilter,
      at,
      count >= unphased.scheduled,
    );
    // Full batch short of the take: the phase may take more in the next step.
    const capped = count < take && taken === count;
    if (taken === 0) return { counts, capped: false };
    const byPhase = new Map(counts.byPhase);
    const from = { ...unphased, scheduled: unphased.scheduled - taken };
    from.targets -= taken;
    const into = { ...(byPhase.get(idx) ?? emptyCounts()) };
    into.scheduled += taken;
    into.targets += taken;
    byPhase.set(null, from);
    byPhase.set(idx, into);
    return { counts: { byPhase, totals: counts.totals }, capped };
  }

  /**
   * Pauses a running (or due scheduled) campaign that cannot go on as defined: its release is
   * gone or signed by a revoked key, or its filter no longer resolves. The reason and the detail
   * go to the event log and the `campaign.state_changed` webhook; `resume` tries again.
   */
  async #block(
    campaignId: string,
    reason: StateReason,
    detail: string,
    at: string,
  ): Promise<StepOutcome> {
    return this.#deps.db.transaction().execute(async (trx) => {
      const c = await lockCampaign(trx, this.#deps.support, campaignId);
      if (c === undefined) return 'locked';
      const due = c.state === 'scheduled' && c.start_at !== null && c.start_at <= at;
      if (c.state !== 'running' && !due) return 'idle';
      await updateCampaign(trx, c, { state: 'paused', state_reason: reason }, at);
      this.#note(c, { paused: true });
      await this.#event(
        trx,
        c,
        'state_changed',
        { from: c.state, to: 'paused', reason, detail },
        at,
      );
      this.#deps.logger.warn({ campaignId, reason, detail }, 'campaign paused');
      return 'stepped';
    });
  }

  async #pause(
    trx: Transaction<Database>,
    c: CampaignTable,
    reason: StateReason,
    at: string,
  ): Promise<void> {
    await updateCampaign(trx, c, { state: 'paused', state_reason: reason }, at);
    await this.#event(trx, c, 'state_changed', { from: 'running', to: 'paused', reason }, at);
    this.#note(c, { paused: true });
  }

  #note(c: CampaignTable, what: Partial<Omit<StepEffects, 'tenantId'>>): void {
    const effects = this.#effects.get(c.id);
    if (effects === undefined) return;
    effects.tenantId = c.tenant_id;
    Object.assign(effects, what);
  }

  async #sample(
    trx: Transaction<Database>,
    c: CampaignTable,
    counts: CampaignCounts,
    at: string,
  ): Promise<void> {
    const totals = JSON.stringify(counts.totals);
    const previous = await latestSample(trx, c.id);
    if (previous !== undefined) {
      if (previous.counts === totals) return;
      if (Date.parse(at) - Date.parse(previous.at) < SAMPLE_EVERY_MS) return;
    }
    await insertSample(trx, c, at, totals);
  }

  #event(
    trx: Transaction<Database>,
    c: CampaignTable,
    type: CampaignEventType,
    data: Record<string, unknown>,
    at: string,
  ): Promise<string> {
    return recordCampaignEvent(
      trx,
      this.#deps.events,
      { id: c.id, tenantId: c.tenant_id, name: c.name },
      type,
      data,
      at,
    );
  }
}

/** `counts` with `n` targets moved from one status to another in the totals. */
function withTotalsMoved(
  counts: CampaignCounts,
  moves: ReadonlyArray<readonly [TargetStatus, TargetStatus, number]>,
): CampaignCounts {
  const totals = { ...counts.totals };
  for (const [from, to, n] of moves) {
    totals[from] -= n;
    totals[to] += n;
  }
  return { byPhase: counts.byPhase, totals };
}

function nullableNumber(value: number | null): number | null {
  return value === null ? null : Number(value);
}
