import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  type ComponentDescription,
  classIdFromName,
  createEncryptStream,
  createEnvelope,
  formatUuid,
  isUpdraftError,
  parseUuid,
  type SuitTextInput,
  sequenceNumberFromVersion,
  vendorIdFromDomain,
} from '@updraft/core';
import { createAtomicFile } from '@updraft/core/fs';
import { atomicWrite } from '../atomic-write.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { hashFile } from '../hash-file.js';
import { readKeyFile, recipientFromKeyFile } from '../key-files.js';
import { MeteredStream } from '../payload-stream.js';
import { fileError, readInput } from '../read-input.js';
import {
  MAX_RELEASE_DESCRIPTION_BYTES,
  parseReleaseDescription,
  type ReleaseComponent,
  type ReleaseDescription,
} from '../release-description.js';
import { toHex } from '../to-json.js';

/** One component as `manifest create` reports it. */
interface CreatedComponent {
  readonly name: string;
  readonly id: string;
  readonly image: string;
  readonly size: number;
  readonly sha256: string;
  readonly slot?: number;
  readonly uri: string;
  /** The encrypted payload to upload instead of the image, when the component is encrypted. */
  readonly payload?: string;
  readonly encryption?: { readonly algorithm: string; readonly recipients: number };
}

/**
 * `updraft manifest create <release.yaml|json> --out <file> [--payload-dir <dir>] [--force]`: an
 * unsigned SUIT envelope from a release description (docs/release-description.md). Existing
 * outputs (the envelope, encrypted payloads) are refused without `--force`, before anything is
 * written.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const descriptionPath = ctx.path(args.requiredString('release'));
  const outPath = ctx.path(args.requiredString('out'));
  const payloadDir = ctx.path(args.string('payload-dir') ?? dirname(outPath));
  const text = await readInput(
    descriptionPath,
    'release description',
    MAX_RELEASE_DESCRIPTION_BYTES,
  );
  const release = await parseReleaseDescription(text.toString('utf8'), descriptionPath);

  const vendorId =
    'id' in release.vendor ? parseUuid(release.vendor.id) : vendorIdFromDomain(release.vendor.name);
  const classId =
    'id' in release.class
      ? parseUuid(release.class.id)
      : classIdFromName(vendorId, release.class.name);
  const sequenceNumber = resolveSequenceNumber(release, descriptionPath);
  const force = args.flag('force');
  const payloadPaths = release.components.map((c) =>
    c.encryption === undefined ? undefined : join(payloadDir, payloadFileName(c)),
  );
  if (!force) await refuseExisting([outPath, ...payloadPaths]);

  const components: ComponentDescription[] = [];
  const created: CreatedComponent[] = [];
  for (const [index, component] of release.components.entries()) {
    const { sha256, size } = await hashFile(ctx, component.image, `image ${component.name}`);
    const uri = component.uri ?? component.image.split(/[\\/]/).at(-1)!;
    let encryptionInfo: Uint8Array | undefined;
    let payload: string | undefined;
    if (component.encryption !== undefined) {
      await mkdir(payloadDir, { recursive: true });
      payload = payloadPaths[index]!;
      encryptionInfo = await encryptImage(ctx, component, payload, size);
    }
    components.push({
      id: component.id.map((hex) => new Uint8Array(Buffer.from(hex, 'hex'))),
      digest: sha256,
      size,
      uri,
      ...(component.slot === undefined ? {} : { slot: component.slot }),
      ...(encryptionInfo === undefined ? {} : { encryptionInfo }),
    });
    created.push({
      name: component.name,
      id: component.id.join('/'),
      image: component.image,
      size,
      sha256: toHex(sha256),
      ...(component.slot === undefined ? {} : { slot: component.slot }),
      uri,
      ...(payload === undefined ? {} : { payload }),
      ...(component.encryption === undefined
        ? {}
        : {
            encryption: {
              algorithm: component.encryption.algorithm,
              recipients: component.encryption.recipients.length,
            },
          }),
    });
  }

  const envelope = createEnvelope({
    vendorId,
    classId,
    sequenceNumber,
    components,
    text: { en: suitText(release, components) },
  });
  // `overwrite: force` closes the race with a file created since the check above.
  await atomicWrite(outPath, envelope, { overwrite: force });

  const result = {
    out: outPath,
    signed: false,
    version: release.version,
    sequenceNumber,
    vendorId: formatUuid(vendorId),
    classId: formatUuid(classId),
    envelopeSize: envelope.length,
    components: created,
  };
  ctx.result(result, () =>
    [
      `created ${outPath} (${envelope.length} bytes, unsigned: run \`updraft manifest sign\`)`,
      `  version ${release.version}, sequence number ${sequenceNumber}`,
      `  vendor-id ${result.vendorId}`,
      `  class-id  ${result.classId}`,
      ...created.map(
        (c) =>
          `  component ${c.name} [${c.id}] ${c.size} bytes sha256 ${c.sha256}${c.slot === undefined ? '' : ` slot ${c.slot}`}` +
          (c.payload === undefined ? '' : `\n    encrypted payload ${c.payload}`),
      ),
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}

/** The encrypted payload's file name: the component's name, made safe for a path. */
function payloadFileName(component: ReleaseComponent): string {
  return `${component.name.replace(/[^A-Za-z0-9._-]/g, '_')}.enc`;
}

/** `CLI_FILE_EXISTS` for the first of `paths` that exists (like `atomicWrite` without overwrite). */
async function refuseExisting(paths: ReadonlyArray<string | undefined>): Promise<void> {
  for (const path of paths) {
    if (path === undefined) continue;
    const exists = await stat(path).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw fileError(error, path, 'output file');
      },
    );
    if (exists) {
      throw new CliError('CLI_FILE_EXISTS', `refusing to overwrite ${path} (use --force)`, {
        details: { path },
      });
    }
  }
}

function resolveSequenceNumber(release: ReleaseDescription, file: string): number {
  if (release.sequenceNumber !== 'auto') return release.sequenceNumber;
  try {
    return sequenceNumberFromVersion(release.version);
  } catch (error) {
    if (!isUpdraftError(error)) throw error;
    throw new CliError('CLI_RELEASE_INVALID', `${file}: 1 problem in the release description`, {
      cause: error,
      details: {
        file,
        problems: [
          {
            path: 'sequenceNumber',
            message: `auto does not work for this version: ${error.message}; give a number`,
          },
        ],
      },
    });
  }
}

function suitText(
  release: ReleaseDescription,
  components: readonly ComponentDescription[],
): SuitTextInput {
  return {
    fields: {
      ...(release.text?.description === undefined
        ? {}
        : { manifestDescription: release.text.description }),
      ...(release.text?.updateDescription === undefined
        ? {}
        : { updateDescription: release.text.updateDescription }),
    },
    components: release.components.map((c, i) => ({
      id: components[i]!.id as Uint8Array[],
      fields: {
        // The semantic version travels in the signed text, so every reader sees it.
        componentVersion: c.text?.version ?? release.version,
        ...(c.text?.vendorName === undefined ? {} : { vendorName: c.text.vendorName }),
        ...(c.text?.modelName === undefined ? {} : { modelName: c.text.modelName }),
        ...(c.text?.vendorDomain === undefined ? {} : { vendorDomain: c.text.vendorDomain }),
        ...(c.text?.modelInfo === undefined ? {} : { modelInfo: c.text.modelInfo }),
        ...(c.text?.description === undefined ? {} : { componentDescription: c.text.description }),
      },
    })),
  };
}

async function encryptImage(
  ctx: CommandContext,
  component: ReleaseComponent,
  payloadPath: string,
  size: number,
): Promise<Uint8Array> {
  const encryption = component.encryption!;
  const recipients = [];
  for (const r of encryption.recipients) {
    recipients.push(recipientFromKeyFile(await readKeyFile(r.keyFile, 'recipient key'), r.alg));
  }
  const { encryptionInfo, stream } = createEncryptStream({
    contentAlg: encryption.algorithm,
    recipients,
  });
  const progress = ctx.progress(`encrypting ${component.name}`, size);
  const out = createAtomicFile(payloadPath, { mode: 0o644 });
  try {
    await pipeline(
      createReadStream(component.image, { highWaterMark: 1024 * 1024 }),
      new MeteredStream(progress),
      stream,
      out.stream,
    );
    await out.commit();
  } catch (error) {
    await out.abort();
    throw fileError(error, component.image, `image ${component.name}`);
  } finally {
    progress.stop();
  }
  // The image must not change between hashing and encrypting: the digest is over the plaintext.
  if ((await stat(component.image)).size !== size) {
    throw new CliError(
      'CLI_FILE_UNREADABLE',
      `image ${component.image} changed while the manifest was created`,
    );
  }
  return encryptionInfo;
}
