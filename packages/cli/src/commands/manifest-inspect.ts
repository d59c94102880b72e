import {
  type AuthenticationBlock,
  decodeCbor,
  decodeEnvelope,
  formatUuid,
  type SuitText,
  surveyComponents,
  toDiagnostic,
} from '@updraft/core';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { coseAlgName } from '../cose-names.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readInput } from '../read-input.js';
import { toHex } from '../to-json.js';

/**
 * `updraft manifest inspect <envelope>`: what the envelope says (nothing is verified) and its
 * CBOR diagnostic notation, embedded CBOR shown as `<< … >>`.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const path = ctx.path(args.requiredString('envelope'));
  const bytes = new Uint8Array(await readInput(path, 'envelope'));
  const envelope = decodeEnvelope(bytes);
  const diagnostic = toDiagnostic(decodeCbor(bytes, { context: 'envelope' }));
  const m = envelope.manifest;
  const result = {
    file: path,
    size: bytes.length,
    tagged: envelope.tagged,
    verified: false,
    manifest: {
      version: m.version,
      sequenceNumber: m.sequenceNumber,
      digest: toHex(envelope.authentication.digest.bytes),
      digestAlg: envelope.authentication.digest.algorithm,
      ...(m.referenceUri === undefined ? {} : { referenceUri: m.referenceUri }),
    },
    signatures: envelope.authentication.blocks.map(blockJson),
    components: surveyComponents(envelope).map((c) => ({
      index: c.index,
      id: c.idHex,
      vendorId: c.vendorId === undefined ? null : formatUuid(c.vendorId),
      classId: c.classId === undefined ? null : formatUuid(c.classId),
      size: c.imageSize ?? null,
      digest: c.imageDigest === undefined ? null : toHex(c.imageDigest.bytes),
      uri: c.uri ?? null,
      encrypted: c.payloads.some((p) => p.encryptionInfo !== undefined),
    })),
    text: m.text?.value === undefined ? null : textJson(m.text.value),
    severed: (
      ['payloadFetch', 'install', 'text', 'coswid', 'dependencyResolution'] as const
    ).filter((k) => m[k]?.source === 'severed'),
    diagnostic,
  };
  ctx.result(result, () => human(result));
  return EXIT_CODES.ok;
}

function blockJson(b: AuthenticationBlock) {
  return {
    kind: b.kind,
    alg: coseAlgName(b.alg),
    kid: b.kid === undefined ? null : toHex(b.kid),
  };
}

function textJson(text: SuitText) {
  const out: Record<string, unknown> = {};
  for (const [lang, entry] of text.languages) {
    out[lang === '' ? '(none)' : lang] = {
      ...entry.fields,
      components: entry.components.map((c) => ({
        id: c.id.map((p) => toHex(p)).join('/'),
        ...c.fields,
      })),
    };
  }
  return out;
}

function human(r: {
  file: string;
  size: number;
  tagged: boolean;
  manifest: { version: number; sequenceNumber: number; digest: string };
  signatures: ReturnType<typeof blockJson>[];
  components: Array<Record<string, unknown>>;
  text: Record<string, unknown> | null;
  severed: readonly string[];
  diagnostic: string;
}): string {
  const lines = [
    `${r.file}: SUIT envelope, ${r.size} bytes${r.tagged ? ' (tag 107)' : ''} — NOT verified (use manifest verify)`,
    `  manifest version ${r.manifest.version}, sequence number ${r.manifest.sequenceNumber}`,
    `  manifest digest  ${r.manifest.digest}`,
    `  signatures       ${r.signatures.length === 0 ? 'none (unsigned)' : ''}`,
    ...r.signatures.map((s) => `    ${s.kind} ${s.alg} kid ${s.kid ?? '(none)'}`),
    '  components',
    ...r.components.map(
      (c) =>
        `    [${c.index}] ${c.id}  ${c.size ?? '?'} bytes  sha256 ${c.digest ?? '?'}` +
        `\n        vendor-id ${c.vendorId ?? '?'}  class-id ${c.classId ?? '?'}` +
        `${c.uri === null ? '' : `\n        uri ${c.uri}`}${c.encrypted ? '  (encrypted)' : ''}`,
    ),
  ];
  if (r.text !== null) lines.push(`  text ${JSON.stringify(r.text)}`);
  if (r.severed.length > 0) lines.push(`  severed (digest only): ${r.severed.join(', ')}`);
  lines.push('', 'CBOR diagnostic notation:', r.diagnostic);
  return lines.join('\n');
}
