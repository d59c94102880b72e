import type { paths } from '../api/openapi';

/** The body of POST /api/v1/campaigns, as the generated API types have it. */
export type CreateCampaignBody =
  paths['/api/v1/campaigns']['post']['requestBody']['content']['application/json'];

export const ACTION_TYPES = ['forced', 'soft', 'download-only', 'time-forced'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];
export const CAMPAIGN_TYPES = ['one-shot', 'continuous'] as const;
export type CampaignType = (typeof CAMPAIGN_TYPES)[number];

/** An error threshold as the form holds it: a share of the phase's targets or a device count. */
export interface ThresholdDraft {
  readonly kind: 'percent' | 'count';
  /** '' in a phase: the campaign's threshold. */
  readonly value: number | '';
}

export interface PhaseDraft {
  /** Stable React key; not sent. */
  readonly key: number;
  readonly size: 'percent' | 'count';
  readonly value: number | '';
  /** Optional extra filter: the phase only takes targets that also match it. */
  readonly filter: string;
  /** '' means "the campaign's". */
  readonly successThreshold: number | '';
  readonly errorThreshold: ThresholdDraft;
  readonly manualGate: boolean;
}

/** Everything the wizard asks, before it becomes a request body. */
export interface CampaignDraft {
  readonly name: string;
  readonly releaseId: string;
  readonly type: CampaignType;
  readonly filter: string;
  readonly phases: readonly PhaseDraft[];
  readonly successThreshold: number | '';
  readonly errorThreshold: ThresholdDraft;
  readonly soakMinutes: number | '';
  readonly healthTimeoutMinutes: number | '';
  readonly actionType: ActionType;
  /** `datetime-local` value (the browser's time zone), only for `time-forced`. */
  readonly forceAfter: string;
  readonly windowEnabled: boolean;
  readonly windowCron: string;
  readonly windowMinutes: number | '';
  readonly windowTimeZone: string;
}

/** Mirrors the service's limits (docs/campaigns.md, CAMPAIGN_LIMITS). */
export const LIMITS = {
  nameLength: 128,
  phases: 20,
  phaseCount: 10_000_000,
  soakMinutes: 30 * 24 * 60,
  healthTimeoutMinutes: { min: 1, max: 30 * 24 * 60 },
} as const;

let nextKey = 0;
/** A phase with the campaign's thresholds. */
export function newPhase(size: PhaseDraft['size'], value: number | ''): PhaseDraft {
  nextKey += 1;
  return {
    key: nextKey,
    size,
    value,
    filter: '',
    successThreshold: '',
    errorThreshold: { kind: 'percent', value: '' },
    manualGate: false,
  };
}

/** A canary rollout: 1 % (held for an operator), 10 %, then everyone. */
export function initialDraft(timeZone: string): CampaignDraft {
  return {
    name: '',
    releaseId: '',
    type: 'one-shot',
    filter: '',
    phases: [
      { ...newPhase('percent', 1), manualGate: true },
      newPhase('percent', 10),
      newPhase('percent', 100),
    ],
    successThreshold: 95,
    errorThreshold: { kind: 'percent', value: 10 },
    soakMinutes: 10,
    healthTimeoutMinutes: 30,
    actionType: 'soft',
    forceAfter: '',
    windowEnabled: false,
    windowCron: '0 2 * * *',
    windowMinutes: 120,
    windowTimeZone: timeZone,
  };
}

/** The wizard's steps, in order; each validates its own fields. */
export const STEPS = ['release', 'targets', 'phases', 'delivery', 'review'] as const;
export type Step = (typeof STEPS)[number];

/** Field path (e.g. `phases.1.value`) → what is wrong with it, in words. */
export type FieldErrors = Record<string, string>;

const isNumber = (v: number | ''): v is number => typeof v === 'number' && Number.isFinite(v);

function checkPercent(errors: FieldErrors, path: string, v: number | '', optional: boolean) {
  if (!isNumber(v)) {
    if (!optional) errors[path] = 'Enter a percentage';
  } else if (v < 0 || v > 100) errors[path] = 'Between 0 and 100';
}

function checkErrorThreshold(
  errors: FieldErrors,
  path: string,
  t: ThresholdDraft,
  optional: boolean,
) {
  if (!isNumber(t.value)) {
    if (!optional) errors[path] = 'Enter a threshold';
  } else if (t.kind === 'percent' && (t.value < 0 || t.value > 100)) {
    errors[path] = 'Between 0 and 100';
  } else if (t.kind === 'count' && (t.value < 1 || !Number.isInteger(t.value))) {
    errors[path] = 'A whole number of devices, at least 1';
  }
}

/** What is wrong with the fields of `step` (empty when it may be left). */
export function validateStep(step: Step, d: CampaignDraft): FieldErrors {
  const errors: FieldErrors = {};
  if (step === 'release') {
    if (d.name.trim() === '') errors.name = 'Give the campaign a name';
    else if (d.name.length > LIMITS.nameLength)
      errors.name = `At most ${LIMITS.nameLength} characters`;
    if (d.releaseId === '') errors.releaseId = 'Choose a release';
  }
  if (step === 'targets' && d.filter.trim() === '') {
    errors.filter = 'Enter a filter (true takes every device of the release’s class)';
  }
  if (step === 'phases') {
    if (d.phases.length === 0) errors.phases = 'At least one phase';
    let lastPercent = 0;
    d.phases.forEach((p, i) => {
      const at = `phases.${i}`;
      if (!isNumber(p.value)) errors[`${at}.value`] = 'Enter a size';
      else if (p.size === 'percent') {
        if (p.value <= 0 || p.value > 100) errors[`${at}.value`] = 'More than 0, at most 100';
        else if (p.value <= lastPercent) {
          errors[`${at}.value`] = `Must be more than the previous phase's ${lastPercent} %`;
        } else lastPercent = p.value;
      } else if (!Number.isInteger(p.value) || p.value < 1 || p.value > LIMITS.phaseCount) {
        errors[`${at}.value`] =
          `A whole number of devices, 1 to ${LIMITS.phaseCount.toLocaleString('en')}`;
      }
      checkPercent(errors, `${at}.successThreshold`, p.successThreshold, true);
      checkErrorThreshold(errors, `${at}.errorThreshold`, p.errorThreshold, true);
    });
    checkPercent(errors, 'successThreshold', d.successThreshold, false);
    checkErrorThreshold(errors, 'errorThreshold', d.errorThreshold, false);
    if (!isNumber(d.soakMinutes)) errors.soakMinutes = 'Enter a soak time (0 for none)';
    else if (d.soakMinutes < 0 || d.soakMinutes > LIMITS.soakMinutes) {
      errors.soakMinutes = `0 to ${LIMITS.soakMinutes.toLocaleString('en')} minutes (30 days)`;
    }
    const h = LIMITS.healthTimeoutMinutes;
    if (!isNumber(d.healthTimeoutMinutes)) errors.healthTimeoutMinutes = 'Enter a health timeout';
    else if (d.healthTimeoutMinutes < h.min || d.healthTimeoutMinutes > h.max) {
      errors.healthTimeoutMinutes = `${h.min} to ${h.max.toLocaleString('en')} minutes (30 days)`;
    }
  }
  if (step === 'delivery') {
    if (d.actionType === 'time-forced') {
      if (d.forceAfter === '' || Number.isNaN(new Date(d.forceAfter).getTime())) {
        errors.forceAfter = 'When must the install be forced?';
      }
    }
    if (d.windowEnabled) {
      if (d.windowCron.trim().split(/\s+/).length !== 5) {
        errors.windowCron = 'Five cron fields: minute hour day-of-month month day-of-week';
      }
      if (!isNumber(d.windowMinutes) || d.windowMinutes < 1 || !Number.isInteger(d.windowMinutes)) {
        errors.windowMinutes = 'A whole number of minutes, at least 1';
      }
      if (d.windowTimeZone.trim() === '') errors.windowTimeZone = 'Enter an IANA time zone';
    }
  }
  return errors;
}

function threshold(t: ThresholdDraft): { percent: number } | { count: number } {
  return t.kind === 'percent' ? { percent: Number(t.value) } : { count: Number(t.value) };
}

/** The request body for a draft that passed {@link validateStep} on every step. */
export function toCreateBody(d: CampaignDraft): CreateCampaignBody {
  return {
    name: d.name.trim(),
    releaseId: d.releaseId,
    filter: d.filter.trim(),
    type: d.type,
    phases: d.phases.map((p) => ({
      ...(p.size === 'percent' ? { percent: Number(p.value) } : { count: Number(p.value) }),
      ...(p.filter.trim() === '' ? {} : { filter: p.filter.trim() }),
      ...(isNumber(p.successThreshold) ? { successThreshold: p.successThreshold } : {}),
      ...(isNumber(p.errorThreshold.value) ? { errorThreshold: threshold(p.errorThreshold) } : {}),
      manualGate: p.manualGate,
    })),
    successThreshold: Number(d.successThreshold),
    errorThreshold: threshold(d.errorThreshold),
    soakSeconds: Math.round(Number(d.soakMinutes) * 60),
    healthTimeoutSeconds: Math.round(Number(d.healthTimeoutMinutes) * 60),
    actionType: d.actionType,
    forceAfter: d.actionType === 'time-forced' ? new Date(d.forceAfter).toISOString() : null,
    recurringWindow: d.windowEnabled
      ? {
          cron: d.windowCron.trim().replace(/\s+/g, ' '),
          durationSeconds: Number(d.windowMinutes) * 60,
          timeZone: d.windowTimeZone.trim(),
        }
      : null,
  };
}

/** A size in words: "10 %" (cumulative) or "+25 devices". */
export function sizeText(p: { percent?: number | null; count?: number | null }): string {
  return p.percent != null ? `${p.percent} % of targets` : `+${p.count} devices`;
}

/** A threshold in words. */
export function errorThresholdText(t: { percent: number } | { count: number }): string {
  if ('percent' in t) return `more than ${t.percent} % failed`;
  return `at least ${t.count} failed device${t.count === 1 ? '' : 's'}`;
}
