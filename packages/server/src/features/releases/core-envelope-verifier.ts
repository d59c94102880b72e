import {
  type CoreError,
  formatUuid,
  importPem,
  isUpdraftError,
  verifyEnvelope,
} from '@updraft/core';
import { ServerError, type ServerErrorCode } from '../../errors.js';
import type { EnvelopeVerifier, TrustedKeyInput, VerifiedEnvelope } from './envelope-verifier.js';
import type { ComponentExpectation } from './match-payloads.js';

const SHA256 = -16;

// Core's verdicts, as the release API names them.
const CODE_MAP: Readonly<Record<string, ServerErrorCode>> = {
  MANIFEST_SIGNATURE_INVALID: 'RELEASE_SIGNATURE_INVALID',
  MANIFEST_DIGEST_MISMATCH: 'RELEASE_SIGNATURE_INVALID',
  MANIFEST_UNTRUSTED_KEY: 'RELEASE_KEY_UNTRUSTED',
};

/**
 * {@link EnvelopeVerifier} over `@updraft/core`'s `verifyEnvelope`: decode, COSE signatures
 * against the class's trusted keys (by kid), manifest and severable-member digests. Keys are
 * given as SPKI PEM with the kid the platform stored for them.
 */
export const coreEnvelopeVerifier: EnvelopeVerifier = async (envelope, keys) => {
  if (keys.length === 0) {
    throw new ServerError(
      'RELEASE_KEY_UNTRUSTED',
      'the device class has no trusted (non-revoked) key',
    );
  }
  let summary: ReturnType<typeof verifyEnvelope>;
  try {
    summary = verifyEnvelope(envelope, { keys: keys.map(toTrustedKey) });
  } catch (error) {
    if (!isUpdraftError(error)) throw error;
    const core = error as CoreError;
    throw new ServerError(
      CODE_MAP[core.code] ?? 'RELEASE_ENVELOPE_INVALID',
      `${core.code}: ${core.message}`,
      {
        cause: error,
        details: { coreCode: core.code },
      },
    );
  }
  const components: ComponentExpectation[] = summary.components.map((c) => {
    const fetches = c.payloads.filter((op) => op.action === 'fetch');
    return {
      id: c.idHex,
      imageDigest:
        c.imageDigest?.algorithm === SHA256
          ? Buffer.from(c.imageDigest.bytes).toString('hex')
          : null,
      imageSize: c.imageSize ?? null,
      encrypted: c.payloads.some((op) => op.encryptionInfo !== undefined),
      // "Integrated" here: the component needs no separate artifact (nothing to fetch, or the
      // fetch is from a payload carried inside the envelope).
      integrated: !fetches.some((op) => !op.integrated),
    };
  });
  const vendor = summary.components.find((c) => c.vendorId !== undefined)?.vendorId;
  const cls = summary.components.find((c) => c.classId !== undefined)?.classId;
  const text = firstLanguageFields(summary.text);
  const result: VerifiedEnvelope = {
    sequenceNumber: summary.sequenceNumber,
    manifestDigest: Buffer.from(summary.manifestDigest.bytes).toString('hex'),
    signerKids: summary.signers.map((s) => s.kidHex),
    vendorId: vendor === undefined ? null : formatUuid(vendor),
    classId: cls === undefined ? null : formatUuid(cls),
    components,
    text,
    version: text?.componentVersion ?? null,
  };
  return result;
};

function toTrustedKey(k: TrustedKeyInput) {
  return { key: importPem(k.publicKeyPem), kid: Buffer.from(k.kid, 'hex') };
}

function firstLanguageFields(
  text: ReturnType<typeof verifyEnvelope>['text'],
): Record<string, string> | null {
  if (text === undefined) return null;
  for (const entry of text.languages.values()) {
    const fields: Record<string, string> = { ...entry.fields };
    for (const c of entry.components) {
      for (const [k, v] of Object.entries(c.fields)) fields[k] ??= v;
    }
    return Object.keys(fields).length > 0 ? fields : null;
  }
  return null;
}
