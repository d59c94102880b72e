import { hashNameOf } from '../cose/cose-algorithms.js';
import { coseToBeSigned, verifyCoseMac, verifyCoseSignature } from '../cose/cose-sign1.js';
import { CoreError } from '../errors.js';
import { type ComponentSurvey, surveyComponents } from './command-interpreter.js';
import { type DecodeEnvelopeOptions, decodeEnvelope } from './decode-envelope.js';
import { computeBstrWrappedDigest, digestEquals } from './suit-digest.js';
import type { SeverableMember } from './suit-labels.js';
import type {
  AuthenticationBlock,
  SuitDigest,
  SuitEnvelope,
  SuitManifest,
  SuitText,
} from './suit-model.js';
import { createTrustStore, type TrustEntry, type TrustInput, type TrustStore } from './trust.js';

/** A trusted key whose signature (or MAC) verified. */
export interface VerifiedSigner {
  readonly kid: Uint8Array;
  readonly kidHex: string;
  readonly alg: number;
  readonly role?: string;
  readonly name?: string;
}

/** What the update service learns from an authentic envelope (no device context). */
export interface EnvelopeSummary {
  readonly envelope: SuitEnvelope;
  readonly manifest: SuitManifest;
  readonly sequenceNumber: number;
  /** SHA-256 SUIT_Digest of the manifest, as signed. */
  readonly manifestDigest: SuitDigest;
  readonly signers: readonly VerifiedSigner[];
  /** Per component: what the manifest's sequences set for it (vendor/class ids, digest, size, URI, slot…). */
  readonly components: readonly ComponentSurvey[];
  readonly text?: SuitText;
  /** Severable members whose digest the manifest holds but the envelope does not carry. */
  readonly severedMembers: readonly SeverableMember[];
}

/**
 * Checks who signed: every COSE_Sign1/COSE_Mac0 block is checked against the trusted keys (by
 * kid; blocks without a kid, or with a kid no trusted key has, are tried against every trusted
 * key of the algorithm's family), then the policy. Then the manifest digest, then the digests of
 * severable members the envelope carries. Default-deny: it returns only when everything passed.
 *
 * Errors: MANIFEST_SIGNATURE_INVALID (a block whose kid names a trusted key does not verify, or a
 * block without kid that no trusted key verifies), MANIFEST_UNTRUSTED_KEY (no block from a trusted
 * key, or the policy is not met), MANIFEST_DIGEST_MISMATCH, MANIFEST_UNSUPPORTED (algorithms).
 */
export function verifyAuthentication(
  envelope: SuitEnvelope,
  trustInput: TrustInput | TrustStore,
): VerifiedSigner[] {
  const signers = verifySignatures(envelope, trustInput);
  checkSeverableDigests(envelope);
  return signers;
}

/**
 * The first half of {@link verifyAuthentication}: signatures, policy and the manifest digest. It needs
 * only the authentication wrapper and the manifest bytes, so it runs before the manifest is decoded.
 */
export function verifySignatures(
  envelope: Pick<SuitEnvelope, 'authentication' | 'manifestBytes'>,
  trustInput: TrustInput | TrustStore,
): VerifiedSigner[] {
  const trust = createTrustStore(trustInput);
  const { blocks, digest, digestBytes } = envelope.authentication;
  if (blocks.length === 0) {
    throw new CoreError('MANIFEST_UNTRUSTED_KEY', 'the envelope is not signed', {
      details: { reason: 'no authentication block' },
    });
  }
  const verified = new Map<TrustEntry, VerifiedSigner>();
  let unsupported = 0;
  let unknownKid = 0;
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!;
    const candidates = trust.forAlg(block.alg);
    if (candidates.length === 0 && !isKnownAlg(block.alg)) {
      unsupported++;
      continue;
    }
    // A kid selects the trusted key(s) it names and nothing else: a block whose kid no trusted
    // key has is from an untrusted signer (so a changed kid byte is caught too). Blocks without a
    // kid (the published SUIT examples) are tried against every key of the algorithm's family.
    if (candidates.length === 0) {
      // No trusted key of this algorithm's family: the signer cannot be a trusted one.
      unknownKid++;
      continue;
    }
    let tryList: readonly TrustEntry[] = candidates;
    if (block.kid) {
      const byKid: TrustEntry[] = [];
      for (const e of trust.byKid(block.kid)) if (candidates.includes(e)) byKid.push(e);
      if (byKid.length === 0) {
        unknownKid++;
        continue;
      }
      tryList = byKid;
    }
    let signer: TrustEntry | undefined;
    for (const entry of tryList) {
      if (checkBlock(block, entry, digestBytes)) {
        signer = entry;
        break;
      }
    }
    if (signer) {
      if (!verified.has(signer)) verified.set(signer, signer.verified(block.alg));
      continue;
    }
    throw new CoreError(
      'MANIFEST_SIGNATURE_INVALID',
      `authentication block ${i + 1} does not verify`,
      {
        details: {
          block: i + 1,
          alg: block.alg,
          kid: block.kid ? Buffer.from(block.kid).toString('hex') : null,
        },
      },
    );
  }
  const signers = [...verified.values()];
  if (signers.length === 0 && unsupported > 0 && unknownKid === 0) {
    throw new CoreError(
      'MANIFEST_UNSUPPORTED',
      'unsupported: no authentication block uses a supported algorithm',
      {
        details: { reason: 'signature algorithm', algs: blocks.map((b) => b.alg) },
      },
    );
  }
  const { minSigners, requiredRoles } = trust.policy;
  const missingRoles =
    requiredRoles.length === 0
      ? requiredRoles
      : requiredRoles.filter((r) => !signers.some((s) => s.role === r));
  if (signers.length < minSigners || missingRoles.length > 0) {
    throw new CoreError(
      'MANIFEST_UNTRUSTED_KEY',
      signers.length === 0
        ? 'no signature from a trusted key'
        : `the verifier policy is not met (${signers.length} of ${minSigners} signer(s)${missingRoles.length ? `; missing roles: ${missingRoles.join(', ')}` : ''})`,
      { details: { signers: signers.map((s) => s.kidHex), minSigners, missingRoles } },
    );
  }
  if (!hashNameOf(digest.algorithm)) {
    throw new CoreError(
      'MANIFEST_UNSUPPORTED',
      `unsupported: manifest digest algorithm ${digest.algorithm}`,
      {
        details: { reason: 'digest algorithm', algorithm: digest.algorithm },
      },
    );
  }
  if (!digestEquals(computeBstrWrappedDigest(envelope.manifestBytes, digest.algorithm), digest)) {
    throw new CoreError(
      'MANIFEST_DIGEST_MISMATCH',
      'the manifest does not match the signed SUIT_Digest',
      {
        details: { member: 'manifest' },
      },
    );
  }
  return signers;
}

function isKnownAlg(alg: number): boolean {
  return alg === -7 || alg === -9 || alg === -8 || alg === -19 || alg === 5;
}

function checkBlock(
  block: AuthenticationBlock,
  entry: TrustEntry,
  digestBytes: Uint8Array,
): boolean {
  if (block.kind === 'mac0') {
    return (
      entry.family === 'hmac' &&
      verifyCoseMac(
        block.alg,
        entry.key,
        coseToBeSigned('MAC0', block.protectedBytes, digestBytes),
        block.signature,
      )
    );
  }
  if (entry.family === 'hmac') return false;
  return verifyCoseSignature(
    block.alg,
    entry.key,
    coseToBeSigned('Signature1', block.protectedBytes, digestBytes),
    block.signature,
  );
}

/** Checks the severable members the envelope carries against the digests in the (verified) manifest. */
export function checkSeverableDigests(envelope: SuitEnvelope): void {
  const m = envelope.manifest;
  if (envelope.severed.size === 0) return;
  for (const member of envelope.severed.keys()) {
    const slot = m[member];
    if (slot?.source !== 'envelope') continue;
    const expected = slot.digest!;
    if (!hashNameOf(expected.algorithm)) {
      throw new CoreError(
        'MANIFEST_UNSUPPORTED',
        `unsupported: digest algorithm ${expected.algorithm} of ${member}`,
        {
          details: { reason: 'digest algorithm', member },
        },
      );
    }
    if (!digestEquals(computeBstrWrappedDigest(slot.bytes!, expected.algorithm), expected)) {
      throw new CoreError(
        'MANIFEST_DIGEST_MISMATCH',
        `the severable member ${member} does not match its digest in the manifest`,
        {
          details: { member },
        },
      );
    }
  }
}

/**
 * Verifies an envelope without device context (what the update service does on upload):
 * decode, signatures against the trust store and its policy, manifest digest, severable-member
 * digests. Returns a summary; throws a typed CoreError otherwise.
 *
 * Commands are not judged here (the service cannot know what a device implements); processEnvelope
 * on the device rejects what it does not implement.
 *
 * @example
 * const summary = verifyEnvelope(bytes, { keys: [{ key: releasePublicKey }] });
 * summary.sequenceNumber; summary.components[0]?.imageDigest;
 */
export function verifyEnvelope(
  bytes: Uint8Array,
  trust: TrustInput | TrustStore,
  options: Pick<DecodeEnvelopeOptions, 'limits'> = {},
): EnvelopeSummary {
  let signers: VerifiedSigner[] = [];
  const envelope = decodeEnvelope(bytes, {
    ...options,
    beforeManifest: (outer) => {
      signers = verifySignatures(outer, trust);
    },
  });
  checkSeverableDigests(envelope);
  const m = envelope.manifest;
  const severedMembers = (
    ['payloadFetch', 'install', 'dependencyResolution', 'text', 'coswid'] as const
  ).filter((k) => m[k]?.source === 'severed');
  return {
    envelope,
    manifest: m,
    sequenceNumber: m.sequenceNumber,
    manifestDigest: envelope.authentication.digest,
    signers,
    components: surveyComponents(envelope),
    ...(m.text?.value ? { text: m.text.value } : {}),
    severedMembers,
  };
}
