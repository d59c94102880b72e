import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createDecryptStream } from '@updraft/core';
import { createAtomicFile } from '../atomic-file.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readKeyFile } from '../key-files.js';
import { MeteredStream } from '../payload-stream.js';
import { fileError, readInput } from '../read-input.js';
import { toHex } from '../to-json.js';

/**
 * `updraft decrypt <payload> --info <file> --key <key> --out <file>`: decrypts with a class KEK
 * or a device private key. The output file appears only when decryption (and, for AES-GCM, the
 * tag check) succeeded.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const payloadPath = ctx.path(args.requiredString('payload'));
  const outPath = ctx.path(args.requiredString('out'));
  const info = await readInput(ctx.path(args.requiredString('info')), 'encryption info file');
  const keyFile = await readKeyFile(ctx.path(args.requiredString('key')), 'decryption key');
  const key = keyFile.kind === 'kek' ? keyFile.bytes : keyFile.key;

  let total: number;
  try {
    total = (await stat(payloadPath)).size;
  } catch (error) {
    throw fileError(error, payloadPath, 'payload');
  }
  // Opening the info unwraps the content key: a wrong key fails here, before any output.
  const decrypt = createDecryptStream(new Uint8Array(info), key);
  const progress = ctx.progress('decrypting', total);
  const input = new MeteredStream(progress);
  const metered = new MeteredStream({ update() {}, stop() {} });
  const out = createAtomicFile(outPath, 0o600);
  try {
    await pipeline(
      createReadStream(payloadPath, { highWaterMark: 1024 * 1024 }),
      input,
      decrypt,
      metered,
      out.stream,
    );
    await out.commit();
  } catch (error) {
    await out.abort();
    throw fileError(error, payloadPath, 'payload');
  } finally {
    progress.stop();
  }
  const sha256 = toHex(metered.sha256());
  ctx.result(
    { out: outPath, plaintextSize: metered.size, plaintextSha256: sha256 },
    `decrypted ${payloadPath}\n  plaintext        ${outPath} (${metered.size} bytes)\n  plaintext sha256 ${sha256}`,
  );
  return EXIT_CODES.ok;
}
