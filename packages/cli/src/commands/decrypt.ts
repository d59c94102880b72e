import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createDecryptStream, decodeEnvelope, surveyComponents } from '@updraft/core';
import { createAtomicFile } from '@updraft/core/fs';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
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
  const info = await encryptionInfo(ctx, args);
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
  const out = createAtomicFile(outPath, { mode: 0o600 });
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

/**
 * The SUIT_Encryption_Info: from `--info`, or from the manifest of `--envelope` (the component
 * named by `--component`, its hex id or index, or the only encrypted one).
 */
async function encryptionInfo(ctx: CommandContext, args: CommandArgs): Promise<Uint8Array> {
  const infoPath = args.string('info');
  const envelopePath = args.string('envelope');
  if ((infoPath === undefined) === (envelopePath === undefined)) {
    throw new CliError('CLI_USAGE', 'give exactly one of --info <file> or --envelope <file>');
  }
  if (infoPath !== undefined)
    return new Uint8Array(await readInput(ctx.path(infoPath), 'encryption info file'));
  const envelope = decodeEnvelope(
    new Uint8Array(await readInput(ctx.path(envelopePath!), 'envelope')),
  );
  const encrypted = surveyComponents(envelope).flatMap((c) =>
    c.payloads.flatMap((p) =>
      p.encryptionInfo === undefined ? [] : [{ component: c, info: p.encryptionInfo }],
    ),
  );
  const wanted = args.string('component');
  const matches =
    wanted === undefined
      ? encrypted
      : encrypted.filter(
          (e) => e.component.idHex === wanted.toLowerCase() || String(e.component.index) === wanted,
        );
  if (matches.length !== 1) {
    const known =
      encrypted.map((e) => `${e.component.index} (${e.component.idHex})`).join(', ') || 'none';
    throw new CliError(
      'CLI_USAGE',
      matches.length === 0
        ? `no encrypted component ${wanted ?? ''} in the envelope (encrypted components: ${known})`
        : `several encrypted components: choose one with --component (${known})`,
    );
  }
  return matches[0]!.info;
}
