import type { KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  classIdFromName,
  createDecryptStream,
  createDigestVerifier,
  type DeviceIdentity,
  decodeEnvelope,
  formatUuid,
  type InstallPlan,
  isUpdraftError,
  processEnvelope,
  surveyComponents,
  type TrustedKey,
  uuidBytes,
  vendorIdFromDomain,
} from '@updraft/core';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { coseAlgName } from '../cose-names.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode, exitCodeForError } from '../exit-codes.js';
import { readKeyFile, readPublicKey } from '../key-files.js';
import { fileError, readInput } from '../read-input.js';
import { toHex } from '../to-json.js';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/**
 * `updraft manifest verify <envelope> --trust <pub>... [--vendor-id] [--class-id]
 * [--installed-seq] [--image <file>...]`: runs the device-side SUIT processor (core's
 * processEnvelope) and prints the install plan, or the typed error with a non-zero exit.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const envelopePaths = args.strings('envelope').map((p) => ctx.path(p));
  if (envelopePaths.length === 0) throw new CliError('CLI_USAGE', 'missing required <envelope>');
  const trustPaths = args.strings('trust');
  if (trustPaths.length === 0)
    throw new CliError('CLI_USAGE', 'give at least one --trust <public key>');
  const installedSeq = args.integer('installed-seq');
  const images = args.strings('image').map((p) => ctx.path(p));
  if (images.length > 0 && envelopePaths.length > 1) {
    throw new CliError('CLI_USAGE', '--image works with one envelope at a time');
  }
  const keys: TrustedKey[] = [];
  for (const path of trustPaths) {
    keys.push({ key: await readPublicKey(ctx.path(path), 'trusted key'), name: basename(path) });
  }
  if (envelopePaths.length === 1) {
    const keyPath = args.string('decrypt-key');
    const keyFile =
      keyPath === undefined ? undefined : await readKeyFile(ctx.path(keyPath), 'decryption key');
    const decryptKey =
      keyFile === undefined ? undefined : keyFile.kind === 'kek' ? keyFile.bytes : keyFile.key;
    const result = await verifyOne(
      ctx,
      args,
      envelopePaths[0]!,
      keys,
      installedSeq,
      images,
      decryptKey,
    );
    ctx.result(result, () => humanPlan(envelopePaths[0]!, result));
    return EXIT_CODES.ok;
  }
  // Several envelopes: a status per file instead of stopping at the first failure.
  const results: VerifyResult[] = [];
  let exitCode: ExitCode = EXIT_CODES.ok;
  for (const file of envelopePaths) {
    try {
      const plan = await verifyOne(ctx, args, file, keys, installedSeq, []);
      results.push({ file, ok: true, sequenceNumber: plan.sequenceNumber, plan });
    } catch (error) {
      if (!isUpdraftError(error)) throw error;
      const code = exitCodeForError(error);
      if (exitCode === EXIT_CODES.ok) exitCode = code;
      results.push({
        file,
        ok: false,
        error: { code: error.code, message: error.message, exitCode: code },
      });
    }
  }
  ctx.result({ results }, () =>
    results
      .map((r) =>
        r.ok
          ? `${r.file}: verified (sequence number ${r.sequenceNumber})`
          : `${r.file}: ${r.error.message} [${r.error.code}]`,
      )
      .join('\n'),
  );
  return exitCode;
}

/** One envelope's outcome when several are verified. */
type VerifyResult =
  | { file: string; ok: true; sequenceNumber: number; plan: ReturnType<typeof planJson> }
  | { file: string; ok: false; error: { code: string; message: string; exitCode: ExitCode } };

async function verifyOne(
  ctx: CommandContext,
  args: CommandArgs,
  envelopePath: string,
  keys: readonly TrustedKey[],
  installedSeq: number | undefined,
  images: readonly string[],
  decryptKey?: KeyObject | Uint8Array,
) {
  const bytes = new Uint8Array(await readInput(envelopePath, 'envelope'));
  const { device, identitySource } = deviceIdentity(bytes, args, installedSeq);
  const plan = processEnvelope(bytes, { trust: { keys }, device });

  if (images.length > plan.components.length) {
    throw new CliError(
      'CLI_USAGE',
      `${images.length} --image files for ${plan.components.length} component(s)`,
    );
  }
  const checked: Array<{ file: string; component: string }> = [];
  for (const [i, file] of images.entries()) {
    const step = plan.components[i]!;
    const verifier = createDigestVerifier(step.digest, step.size);
    const progress = ctx.progress(`checking ${basename(file)}`, step.size ?? 0);
    const sink = async (chunks: AsyncIterable<Buffer>) => {
      for await (const chunk of chunks) {
        verifier.update(chunk);
        progress.update(verifier.bytesSeen);
      }
    };
    try {
      const source = createReadStream(file, { highWaterMark: 1024 * 1024 });
      // An encrypted component's payload is checked as the device will: decrypted, then digested.
      if (step.encryptionInfo !== undefined && decryptKey !== undefined) {
        await pipeline(source, createDecryptStream(step.encryptionInfo, decryptKey), sink);
      } else {
        await pipeline(source, sink);
      }
    } catch (error) {
      throw fileError(error, file, 'image');
    } finally {
      progress.stop();
    }
    try {
      verifier.verify();
    } catch (error) {
      // Say which file failed: the core error alone names no file.
      if (error instanceof Error)
        error.message = `${basename(file)} (component ${step.idHex}): ${error.message}`;
      throw error;
    }
    checked.push({ file, component: step.idHex });
  }

  return planJson(plan, device, identitySource, checked);
}

function deviceIdentity(
  bytes: Uint8Array,
  args: CommandArgs,
  installedSeq: number | undefined,
): { device: DeviceIdentity; identitySource: 'options' | 'manifest' } {
  const vendorArg = args.string('vendor-id');
  const classArg = args.string('class-id');
  // decodeEnvelope throws the typed MANIFEST_MALFORMED for garbage before anything else runs.
  const envelope = decodeEnvelope(bytes);
  const survey = surveyComponents(envelope);
  // The CLI has no slot layout of its own: it accepts the slot the manifest names.
  const components = survey.map((c) => {
    const slot = c.payloads.find((p) => p.slot !== undefined)?.slot;
    return {
      id: c.id,
      ...(installedSeq === undefined ? {} : { sequenceNumber: installedSeq }),
      ...(slot === undefined ? {} : { slot }),
    };
  });
  if (vendorArg === undefined && classArg === undefined) {
    // No device given: check against the manifest's own identity, so signatures, digests,
    // supported commands and anti-rollback are still checked. The output says so.
    const first = survey.find((c) => c.vendorId !== undefined && c.classId !== undefined);
    return {
      device: {
        vendorId: first?.vendorId ?? new Uint8Array(16),
        classId: first?.classId ?? new Uint8Array(16),
        components,
      },
      identitySource: 'manifest',
    };
  }
  if (vendorArg === undefined || classArg === undefined) {
    throw new CliError('CLI_USAGE', 'give both --vendor-id and --class-id (or neither)');
  }
  const vendorId = UUID.test(vendorArg) ? uuidBytes(vendorArg) : vendorIdFromDomain(vendorArg);
  const classId = UUID.test(classArg) ? uuidBytes(classArg) : classIdFromName(vendorId, classArg);
  return { device: { vendorId, classId, components }, identitySource: 'options' };
}

function planJson(
  plan: InstallPlan,
  device: DeviceIdentity,
  identitySource: 'options' | 'manifest',
  images: ReadonlyArray<{ file: string; component: string }>,
) {
  return {
    verified: true,
    sequenceNumber: plan.sequenceNumber,
    manifestDigest: toHex(plan.manifestDigest.bytes),
    signers: plan.signers.map((s) => ({
      kid: s.kidHex,
      alg: coseAlgName(s.alg),
      key: s.name ?? null,
    })),
    device: {
      vendorId: formatUuid(uuidBytes(device.vendorId)),
      classId: formatUuid(uuidBytes(device.classId)),
      identityFrom: identitySource,
    },
    components: plan.components.map((c) => ({
      index: c.index,
      id: c.idHex,
      action: c.action,
      slot: c.slot ?? null,
      size: c.size ?? null,
      digest: toHex(c.digest.bytes),
      digestAlg: c.digest.algorithm,
      uri: c.uri ?? null,
      encrypted: c.encryptionInfo !== undefined,
      integrated: c.integrated,
    })),
    invoke: plan.invoke,
    imagesChecked: images,
  };
}

function humanPlan(file: string, r: ReturnType<typeof planJson>): string {
  const lines = [
    `${file}: verified`,
    `  sequence number ${r.sequenceNumber}, manifest digest ${r.manifestDigest}`,
    ...r.signers.map((s) => `  signed by ${s.key ?? 'trusted key'} (${s.alg}, kid ${s.kid})`),
    `  device vendor-id ${r.device.vendorId} class-id ${r.device.classId}` +
      (r.device.identityFrom === 'manifest'
        ? ' (taken from the manifest: pass --vendor-id/--class-id to check a device)'
        : ''),
    'install plan:',
    ...r.components.map(
      (c) =>
        `  [${c.index}] component ${c.id}: ${c.action} ${c.size ?? '?'} bytes` +
        `${c.slot === null ? '' : ` into slot ${c.slot}`}${c.uri === null ? '' : ` from ${c.uri}`}` +
        `${c.encrypted ? ' (encrypted)' : ''}${c.integrated ? ' (integrated)' : ''}\n      sha256 ${c.digest}`,
    ),
    ...r.imagesChecked.map((i) => `  image ${i.file} matches component ${i.component}`),
  ];
  if (r.invoke) lines.push('  then invoke (boot) the new image');
  return lines.join('\n');
}
