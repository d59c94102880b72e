import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { CONTENT_ENCRYPTION_ALGS, createEncryptStream } from '@updraft/core';
import { createAtomicFile } from '@updraft/core/fs';
import { atomicWrite } from '../atomic-write.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readKeyFile, recipientFromKeyFile } from '../key-files.js';
import { MeteredStream } from '../payload-stream.js';
import { fileError } from '../read-input.js';
import { toHex } from '../to-json.js';

/**
 * `updraft encrypt <image> --recipient <key>... --out <file> [--alg A128CTR] [--info <file>]`:
 * encrypts a payload once for every recipient (class KEKs and/or device public keys) and writes
 * the ciphertext and its SUIT_Encryption_Info (for suit-parameter-encryption-info).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const imagePath = ctx.path(args.requiredString('image'));
  const outPath = ctx.path(args.requiredString('out'));
  const infoPath = ctx.path(args.string('info') ?? `${args.requiredString('out')}.info`);
  const contentAlg = args.choice('alg', CONTENT_ENCRYPTION_ALGS) ?? 'A128CTR';
  const recipients = [];
  for (const path of args.strings('recipient')) {
    recipients.push(recipientFromKeyFile(await readKeyFile(ctx.path(path), 'recipient key')));
  }

  let total: number;
  try {
    total = (await stat(imagePath)).size;
  } catch (error) {
    throw fileError(error, imagePath, 'image');
  }
  const { encryptionInfo, info, stream } = createEncryptStream({ contentAlg, recipients });
  const progress = ctx.progress('encrypting', total);
  const metered = new MeteredStream(progress);
  const ciphertext = new MeteredStream({ update() {}, stop() {} });
  const out = createAtomicFile(outPath, { mode: 0o644 });
  try {
    await pipeline(
      createReadStream(imagePath, { highWaterMark: 1024 * 1024 }),
      metered,
      stream,
      ciphertext,
      out.stream,
    );
    await out.commit();
  } catch (error) {
    await out.abort();
    throw fileError(error, imagePath, 'image');
  } finally {
    progress.stop();
  }
  await atomicWrite(infoPath, encryptionInfo);

  const ciphertextSize = ciphertext.size;
  const result = {
    out: outPath,
    info: infoPath,
    contentAlg,
    plaintextSize: metered.size,
    plaintextSha256: toHex(metered.sha256()),
    ciphertextSize,
    recipients: info.recipients.map((r) => ({
      alg: r.alg,
      kid: r.kid === undefined ? null : toHex(r.kid),
    })),
    encryptionInfo: toHex(encryptionInfo),
  };
  ctx.result(
    result,
    [
      `encrypted ${imagePath} with ${contentAlg} for ${recipients.length} recipient(s)`,
      `  ciphertext       ${outPath} (${ciphertextSize} bytes)`,
      `  encryption info  ${infoPath}`,
      `  plaintext sha256 ${result.plaintextSha256}`,
      ...result.recipients.map((r) => `  recipient        ${r.alg} kid ${r.kid}`),
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
