// Shared by the `updraft campaign …` commands: the campaign and status documents as the service
// shows them (docs/campaigns.md), the flag parsers of `campaign create`, and the human renderings.
import type { ApiClient } from '../api-client.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient, table } from '../service.js';

/** Target statuses in the order the status table shows them. */
export const TARGET_COUNT_KEYS = [
  'targets',
  'scheduled',
  'pending',
  'downloading',
  'installing',
  'confirming',
  'succeeded',
  'failed',
  'rejected',
  'cancelled',
  'skipped',
] as const;
export type TargetCountKey = (typeof TARGET_COUNT_KEYS)[number];
export type TargetCounts = Readonly<Record<TargetCountKey, number>>;

export type ErrorThreshold = { readonly percent: number } | { readonly count: number };

/** A phase as `campaign create` sends it. */
export type PhaseSize = { readonly percent: number } | { readonly count: number };

/** A campaign as the API shows it. */
export interface CampaignView {
  readonly id: string;
  readonly name: string;
  readonly releaseId: string;
  readonly filter: string;
  readonly type: string;
  readonly state: string;
  readonly stateReason: string | null;
  readonly actionType: string;
  readonly forceAfter: string | null;
  readonly recurringWindow: {
    readonly cron: string;
    readonly durationSeconds: number;
    readonly timeZone: string;
  } | null;
  readonly successThreshold: number;
  readonly errorThreshold: ErrorThreshold;
  readonly soakSeconds: number;
  readonly currentPhase: number;
  readonly phases: ReadonlyArray<{
    readonly index: number;
    readonly percent: number | null;
    readonly count: number | null;
    readonly state: string;
  }>;
  readonly startAt: string | null;
  readonly review: { readonly decision: string; readonly by: string } | null;
  readonly createdBy: string | null;
  readonly createdAt: string;
}

/** `GET /campaigns/{id}/status`. */
export interface CampaignStatus {
  readonly id: string;
  readonly state: string;
  readonly stateReason: string | null;
  readonly currentPhase: number;
  readonly phases: ReadonlyArray<{
    readonly index: number;
    readonly state: string;
    readonly size: number;
    readonly counts: TargetCounts;
  }>;
  readonly totals: TargetCounts;
  readonly failureReasons: ReadonlyArray<{
    readonly code: string;
    readonly count: number;
    readonly devices?: readonly string[];
  }>;
  readonly bytesSaved?: number;
}

/** States after which nothing more happens to a campaign. */
export const FINAL_STATES: readonly string[] = ['finished', 'cancelled'];

/** Most phases a campaign has (docs/campaigns.md limits). */
const MAX_PHASES = 20;
const MAX_PHASE_COUNT = 10_000_000;

/** A percent such as `95`, `95%` or `99.5%` (at most two decimals). */
function percentOf(raw: string): number | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,2})?)%?$/.exec(raw.trim());
  return m === null ? undefined : Number(m[1]);
}

function usage(message: string, option: string, value: string): CliError {
  return new CliError('CLI_USAGE', message, { details: { option, value } });
}

/** `--phase 10%` (cumulative percent of all targets) or `--phase 25` (this phase adds 25). */
export function parsePhase(raw: string): PhaseSize {
  const text = raw.trim();
  if (text.endsWith('%')) {
    const percent = percentOf(text);
    if (percent !== undefined && percent > 0 && percent <= 100) return { percent };
  } else if (/^\d{1,8}$/.test(text)) {
    const count = Number(text);
    if (count >= 1 && count <= MAX_PHASE_COUNT) return { count };
  }
  throw usage(
    `--phase is a percent of all targets above 0 and at most 100 (e.g. 10%) or a number of devices from 1 to ${MAX_PHASE_COUNT} (e.g. 25) (got "${raw}")`,
    'phase',
    raw,
  );
}

/** The `--phase` values in order (at most 20; none: the service's one phase of 100 %). */
export function parsePhases(raws: readonly string[]): PhaseSize[] | undefined {
  if (raws.length === 0) return undefined;
  if (raws.length > MAX_PHASES) {
    throw usage(
      `at most ${MAX_PHASES} --phase values (got ${raws.length})`,
      'phase',
      String(raws.length),
    );
  }
  const phases = raws.map(parsePhase);
  // Percent phases are cumulative: a later one below an earlier one would add nobody.
  let last = 0;
  for (const [i, phase] of phases.entries()) {
    if (!('percent' in phase)) continue;
    if (phase.percent <= last) {
      throw usage(
        `--phase percents are cumulative: phase ${i + 1} (${phase.percent}%) is not above an earlier one (${last}%)`,
        'phase',
        raws[i]!,
      );
    }
    last = phase.percent;
  }
  return phases;
}

/** `--success-threshold 95%` or `95`: a percent from 0 to 100. */
export function parseSuccessThreshold(raw: string): number {
  const percent = percentOf(raw);
  if (percent === undefined || percent > 100) {
    throw usage(
      `--success-threshold is a percent from 0 to 100, e.g. 95% (got "${raw}")`,
      'success-threshold',
      raw,
    );
  }
  return percent;
}

/** `--error-threshold 20%` → `{percent: 20}`; `--error-threshold 3` → `{count: 3}`. */
export function parseErrorThreshold(raw: string): ErrorThreshold {
  const text = raw.trim();
  if (text.endsWith('%')) {
    const percent = percentOf(text);
    if (percent !== undefined && percent <= 100) return { percent };
  } else if (/^\d{1,8}$/.test(text) && Number(text) >= 1) {
    return { count: Number(text) };
  }
  throw usage(
    `--error-threshold is a percent of a phase's targets (e.g. 20%) or a number of failed devices of at least 1 (e.g. 3) (got "${raw}")`,
    'error-threshold',
    raw,
  );
}

/** An ISO 8601 date-time option, as UTC ISO text. */
export function isoTime(args: CommandArgs, name: string): string | undefined {
  const raw = args.string(name);
  if (raw === undefined) return undefined;
  // Date.parse accepts "1" or "March 7"; insist on a date that starts like ISO 8601.
  const ms = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw usage(`--${name} must be an ISO 8601 date-time (got "${raw}")`, name, raw);
  }
  return new Date(ms).toISOString();
}

/** The campaign id argument, checked for shape so that it cannot change the route. */
export function campaignId(args: CommandArgs): string {
  const id = args.requiredString('id');
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
    throw usage(`<id> is a campaign id such as cmp_… (got "${id}")`, 'id', id);
  }
  return id;
}

/** Human text of a phase size. */
export function phaseSizeText(phase: { percent?: number | null; count?: number | null }): string {
  if (phase.percent !== null && phase.percent !== undefined) return `${phase.percent}%`;
  if (phase.count !== null && phase.count !== undefined) return `+${phase.count}`;
  return '-';
}

function thresholdText(t: ErrorThreshold): string {
  return 'percent' in t ? `${t.percent}%` : `${t.count} devices`;
}

/** A few lines about a campaign. */
export function describeCampaign(c: CampaignView): string {
  const reason = c.stateReason ? ` (${c.stateReason})` : '';
  const lines = [
    `campaign ${c.id} "${c.name}": ${c.state}${reason}`,
    `  release ${c.releaseId}, ${c.type}, ${c.actionType} actions${c.forceAfter ? ` forced from ${c.forceAfter}` : ''}`,
    `  filter ${c.filter}`,
    `  phases ${c.phases.map((p) => phaseSizeText(p)).join(', ') || '100%'}; success ${c.successThreshold}%, pause on errors above ${thresholdText(c.errorThreshold)}, soak ${c.soakSeconds}s`,
  ];
  if (c.recurringWindow) {
    const w = c.recurringWindow;
    lines.push(`  window '${w.cron}' for ${w.durationSeconds}s (${w.timeZone})`);
  }
  if (c.startAt) lines.push(`  starts at ${c.startAt}`);
  if (c.review) lines.push(`  ${c.review.decision} by ${c.review.by}`);
  return lines.join('\n');
}

const COUNT_HEADERS = [
  'TARGETS',
  'SCHED',
  'PENDING',
  'DOWNLOAD',
  'INSTALL',
  'CONFIRM',
  'OK',
  'FAILED',
  'REJECTED',
  'CANCELLED',
  'SKIPPED',
];

/** The status as text: a table per phase with counts, a totals row, the failure reasons. */
export function renderStatus(s: CampaignStatus): string {
  const counts = (c: TargetCounts) => TARGET_COUNT_KEYS.map((k) => c[k] ?? 0);
  const rows: (string | number)[][] = s.phases.map((p) => [
    String(p.index + 1),
    p.state,
    p.size,
    ...counts(p.counts),
  ]);
  rows.push(['total', '', '', ...counts(s.totals)]);
  const reason = s.stateReason ? ` (${s.stateReason})` : '';
  const phase = s.currentPhase >= 0 ? `, phase ${s.currentPhase + 1} of ${s.phases.length}` : '';
  const lines = [
    `campaign ${s.id}: ${s.state}${reason}${phase}`,
    table(['PHASE', 'STATE', 'SIZE', ...COUNT_HEADERS], rows),
  ];
  if (s.failureReasons.length > 0) {
    lines.push('failure reasons:');
    for (const r of s.failureReasons) {
      const examples = r.devices?.length ? ` (e.g. ${r.devices.join(', ')})` : '';
      lines.push(`  ${r.code}: ${r.count}${examples}`);
    }
  }
  return lines.join('\n');
}

/** Runs one state operation (`POST /campaigns/{id}/<op>`) and prints the campaign it answers. */
export async function campaignOperation(
  ctx: CommandContext,
  args: CommandArgs,
  op: string,
  body: Record<string, unknown>,
  done: string,
): Promise<ExitCode> {
  const id = campaignId(args);
  const api = await serviceClient(ctx, args);
  // The service itself asks again when the engine changed the campaign meanwhile
  // (CAMPAIGN_CHANGED); one that still reaches us is reported, not retried a second time here.
  const campaign = await api.json<CampaignView>(`/api/v1/campaigns/${seg(id)}/${op}`, {
    method: 'POST',
    body,
  });
  ctx.result(campaign, () => `${done}: ${describeCampaign(campaign)}`);
  return EXIT_CODES.ok;
}

/** The status document of a campaign. */
export function fetchStatus(api: ApiClient, id: string): Promise<CampaignStatus> {
  return api.json<CampaignStatus>(`/api/v1/campaigns/${seg(id)}/status`);
}
