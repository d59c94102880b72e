import { APP_BEHAVIOURS, buildImage, imageSigningKey } from '@updraft/sim';
import { atomicWrite } from '../atomic-write.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readPrivateKey } from '../key-files.js';

/**
 * `updraft sim image --key <pem> --image-version <v> --sequence-number <n> [--behaviour b] [--size bytes] --out <file>`:
 * builds a signed firmware image for simulated devices whose body scripts what the application does.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const key = imageSigningKey(await readPrivateKey(ctx.path(args.requiredString('key'))));
  const behaviour = args.choice('behaviour', APP_BEHAVIOURS) ?? 'healthy';
  const image = buildImage({
    version: args.requiredString('image-version'),
    sequenceNumber: args.integer('sequence-number', 0xffffffff) ?? 0,
    behaviour,
    size: args.integer('size', 64 * 1024 * 1024) ?? 16 * 1024,
    key,
  });
  const out = ctx.path(args.requiredString('out'));
  await atomicWrite(out, image, { mode: 0o644, overwrite: args.flag('force') });
  ctx.result(
    { out, bytes: image.length, behaviour, kid: Buffer.from(key.kid).toString('hex') },
    `sim image ${out} (${image.length} bytes, behaviour ${behaviour})`,
  );
  return EXIT_CODES.ok;
}
