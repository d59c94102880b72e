import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient } from '../service.js';

/**
 * An operator's admission decision: `accept` lets a device registered by its birth certificate
 * enroll; `reject` bars it.
 */
export async function admissionDecision(
  ctx: CommandContext,
  args: CommandArgs,
  decision: 'accept' | 'reject',
): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const device = args.requiredString('device');
  const done = await api.json<{ deviceId: string; admission: string }>(
    `/api/v1/devices/${seg(device)}/admission`,
    { method: 'POST', body: { decision } },
  );
  ctx.result(done, `device ${device} (${done.deviceId}): ${done.admission}`);
  return EXIT_CODES.ok;
}
