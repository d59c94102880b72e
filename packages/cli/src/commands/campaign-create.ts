import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { parseDuration } from '../parse-duration.js';
import { resolveReleaseId, serviceClient } from '../service.js';
import {
  type CampaignView,
  describeCampaign,
  isoTime,
  parseErrorThreshold,
  parsePhases,
  parseSuccessThreshold,
} from './campaign-common.js';

/** Longest soak (docs/campaigns.md): 30 days. */
const MAX_SOAK_SECONDS = 30 * 86_400;

/**
 * The `POST /campaigns` body of a `campaign create` command line. Every flag is checked here, so
 * a bad value is a usage error and nothing is sent; the service checks the filter and the cron.
 */
export function createBody(args: CommandArgs): Record<string, unknown> {
  const name = args.requiredString('name');
  if (name.length > 128) {
    throw new CliError('CLI_USAGE', `--name is 1 to 128 characters (got ${name.length})`);
  }
  const filter = args.requiredString('filter');
  const type = args.choice('type', ['one-shot', 'continuous'] as const);
  const phases = parsePhases(args.strings('phase'));
  const success = args.string('success-threshold');
  const error = args.string('error-threshold');
  const soakText = args.string('soak');
  const soakSeconds = soakText === undefined ? undefined : parseDuration(soakText, 'soak');
  if (soakSeconds !== undefined && soakSeconds > MAX_SOAK_SECONDS) {
    throw new CliError('CLI_USAGE', `--soak is at most 30 days (got "${soakText}")`);
  }
  const actionType = args.choice('action', [
    'forced',
    'soft',
    'download-only',
    'time-forced',
  ] as const);
  const forceAfter = isoTime(args, 'force-after');
  if ((actionType === 'time-forced') !== (forceAfter !== undefined)) {
    throw new CliError(
      'CLI_USAGE',
      '--action time-forced needs --force-after <ISO time>, and --force-after goes only with it',
    );
  }
  const cron = args.string('window');
  const durationText = args.string('window-duration');
  const timeZone = args.string('window-tz');
  if (cron === undefined && (durationText !== undefined || timeZone !== undefined)) {
    throw new CliError('CLI_USAGE', '--window-duration and --window-tz go with --window');
  }
  if (cron !== undefined && durationText === undefined) {
    throw new CliError('CLI_USAGE', "--window '<cron>' needs --window-duration (e.g. 30m, 2h)");
  }
  return {
    name,
    releaseId: args.requiredString('release'),
    filter,
    ...(type === undefined ? {} : { type }),
    ...(phases === undefined ? {} : { phases }),
    ...(success === undefined ? {} : { successThreshold: parseSuccessThreshold(success) }),
    ...(error === undefined ? {} : { errorThreshold: parseErrorThreshold(error) }),
    ...(soakSeconds === undefined ? {} : { soakSeconds }),
    ...(actionType === undefined ? {} : { actionType }),
    ...(forceAfter === undefined ? {} : { forceAfter }),
    ...(cron === undefined
      ? {}
      : {
          recurringWindow: {
            cron,
            durationSeconds: parseDuration(durationText as string, 'window-duration'),
            timeZone: timeZone ?? 'UTC',
          },
        }),
  };
}

/**
 * `updraft campaign create --name <name> --release <release> --filter '<filter>' [--type …]
 * [--phase <10%|25>]… [--success-threshold <p%>] [--error-threshold <p%|n>] [--soak <d>]
 * [--action …] [--force-after <iso>] [--window '<cron>' --window-duration <d> --window-tz <tz>]`:
 * a draft campaign. `--release` is a release id, or a version that names exactly one release.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const body = createBody(args);
  const api = await serviceClient(ctx, args);
  body.releaseId = await resolveReleaseId(api, body.releaseId as string);
  const campaign = await api.json<CampaignView>('/api/v1/campaigns', { method: 'POST', body });
  ctx.result(campaign, () => `created ${describeCampaign(campaign)}`);
  return EXIT_CODES.ok;
}
