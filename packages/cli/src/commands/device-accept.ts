import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import type { ExitCode } from '../exit-codes.js';
import { admissionDecision } from './device-admission.js';

/** `updraft device accept <device>`: see {@link admissionDecision}. */
export function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  return admissionDecision(ctx, args, 'accept');
}
