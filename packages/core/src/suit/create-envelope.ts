import { decodeCbor } from '../cbor/cbor-decode.js';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, CborTag, type CborValue } from '../cbor/cbor-types.js';
import { createCoseSign1 } from '../cose/cose-sign1.js';
import type { Signer } from '../cose/signer.js';
import { CoreError } from '../errors.js';
import { componentIdFromHex } from './component-id.js';
import { decodeEnvelope } from './decode-envelope.js';
import { computeBstrWrappedDigest, digestEquals } from './suit-digest.js';
import {
  COMMON_KEY,
  CONDITION,
  DIRECTIVE,
  ENVELOPE_KEY,
  MANIFEST_KEY,
  PARAMETER,
  SUIT_ENVELOPE_TAG,
} from './suit-labels.js';
import type { ComponentId, SuitDigest } from './suit-model.js';
import { encodeSuitText, type SuitTextInput } from './suit-text.js';
import { uuidBytes } from './suit-uuid.js';

/** One component of a release, as the build side describes it. */
export interface ComponentDescription {
  /** Component identifier, or its hex form (lowercase hex of its CBOR encoding, e.g. "814100"). */
  readonly id: ComponentId | string;
  /** Digest of the plaintext image (a bare Uint8Array is SHA-256). */
  readonly digest: SuitDigest | Uint8Array;
  readonly size: number;
  /** Where the device downloads the payload. Omit when `payload` is given. */
  readonly uri?: string;
  /** Integrate the payload into the envelope (small images); the URI becomes "#<component hex>". */
  readonly payload?: Uint8Array;
  /** Slot the image is built for; the manifest then requires the device to install into it. */
  readonly slot?: number;
  /** SUIT_Encryption_Info bytes when the payload is encrypted (from the encryption module). */
  readonly encryptionInfo?: Uint8Array;
}

/** What `createEnvelope` builds a manifest from. */
export interface EnvelopeDescription {
  /** 16 bytes or UUID text (see vendorIdFromDomain). */
  readonly vendorId: Uint8Array | string;
  /** 16 bytes or UUID text (see classIdFromName). */
  readonly classId: Uint8Array | string;
  readonly sequenceNumber: number;
  readonly components: readonly ComponentDescription[];
  /** SUIT text by language tag (e.g. `{ en: { fields: { updateDescription: '…' } } }`); carried severable. */
  readonly text?: Readonly<Record<string, SuitTextInput>>;
  readonly referenceUri?: string;
  /** Add an invoke sequence that boots the first component after install. Default false. */
  readonly invoke?: boolean;
}

const REPORT_ON_FAILURE = 15; // send record + sysinfo on success and failure (suit-reporting-bits 0..3)

function invalid(reason: string): CoreError {
  return new CoreError('MANIFEST_MALFORMED', `invalid release description: ${reason}`, {
    details: { reason },
  });
}

/**
 * Builds an unsigned SUIT envelope (tag 107) from a typed description: common section with the
 * components and a shared sequence that sets vendor-id/class-id and each component's image digest,
 * size (and slot) and checks vendor, class (and slot); an install sequence that sets the URI (and
 * encryption info), fetches and checks the image; a validate sequence with image-match; severable
 * text. The encoding is deterministic: the same description gives the same bytes.
 * Sign it with {@link signEnvelope}.
 *
 * @example
 * const unsigned = createEnvelope({
 *   vendorId: vendorIdFromDomain('example.com'), classId: classIdFromName(vendorId, 'sensor-x'),
 *   sequenceNumber: sequenceNumberFromVersion('1.4.0'),
 *   components: [{ id: '814100', digest: sha256, size: 1024, uri: 'https://cdn.example/fw.bin' }],
 * });
 * const signed = await signEnvelope(unsigned, createKeySigner(privateKey));
 */
export function createEnvelope(description: EnvelopeDescription): Uint8Array {
  const d = description;
  if (!Number.isSafeInteger(d.sequenceNumber) || d.sequenceNumber < 0)
    throw invalid('sequenceNumber must be an unsigned integer');
  if (d.components.length === 0) throw invalid('at least one component is needed');
  const vendorId = uuidBytes(d.vendorId);
  const classId = uuidBytes(d.classId);
  const components = d.components.map((c) => {
    const id = typeof c.id === 'string' ? componentIdFromHex(c.id) : c.id;
    const digest = c.digest instanceof Uint8Array ? { algorithm: -16, bytes: c.digest } : c.digest;
    if (!Number.isSafeInteger(c.size) || c.size < 0)
      throw invalid('component size must be an unsigned integer');
    if (c.payload && c.uri) throw invalid('a component has either a uri or an integrated payload');
    if (!c.payload && !c.uri) throw invalid('a component needs a uri or an integrated payload');
    if (c.payload && c.payload.length !== c.size)
      throw invalid('the integrated payload does not have the stated size');
    const uri = c.uri ?? `#${Buffer.from(encodeCbor(id as Uint8Array[])).toString('hex')}`;
    return { ...c, id, digest, uri };
  });
  const many = components.length > 1;
  const digestBstr = (digest: SuitDigest) => encodeCbor([digest.algorithm, digest.bytes]);

  const shared: CborValue[] = [];
  if (many) shared.push(DIRECTIVE.setComponentIndex, true);
  shared.push(
    DIRECTIVE.overrideParameters,
    CborMap.of([PARAMETER.vendorIdentifier, vendorId], [PARAMETER.classIdentifier, classId]),
    CONDITION.vendorIdentifier,
    REPORT_ON_FAILURE,
    CONDITION.classIdentifier,
    REPORT_ON_FAILURE,
  );
  components.forEach((c, i) => {
    if (many) shared.push(DIRECTIVE.setComponentIndex, i);
    const params: [CborValue, CborValue][] = [
      [PARAMETER.imageDigest, digestBstr(c.digest)],
      [PARAMETER.imageSize, c.size],
    ];
    if (c.slot !== undefined) params.push([PARAMETER.componentSlot, c.slot]);
    shared.push(DIRECTIVE.overrideParameters, new CborMap(params));
    if (c.slot !== undefined) shared.push(CONDITION.componentSlot, REPORT_ON_FAILURE);
  });

  const install: CborValue[] = [];
  const validate: CborValue[] = [];
  components.forEach((c, i) => {
    if (many) install.push(DIRECTIVE.setComponentIndex, i);
    const params: [CborValue, CborValue][] = [[PARAMETER.uri, c.uri]];
    if (c.encryptionInfo) params.push([PARAMETER.encryptionInfo, c.encryptionInfo]);
    install.push(
      DIRECTIVE.overrideParameters,
      new CborMap(params),
      DIRECTIVE.fetch,
      REPORT_ON_FAILURE,
      CONDITION.imageMatch,
      REPORT_ON_FAILURE,
    );
    if (many) validate.push(DIRECTIVE.setComponentIndex, i);
    validate.push(CONDITION.imageMatch, REPORT_ON_FAILURE);
  });

  const common = CborMap.of(
    [COMMON_KEY.components, components.map((c) => c.id as Uint8Array[])],
    [COMMON_KEY.sharedSequence, encodeCbor(shared)],
  );
  const manifestEntries: [CborValue, CborValue][] = [
    [MANIFEST_KEY.version, 1],
    [MANIFEST_KEY.sequenceNumber, d.sequenceNumber],
    [MANIFEST_KEY.common, encodeCbor(common)],
    [MANIFEST_KEY.install, encodeCbor(install)],
    [MANIFEST_KEY.validate, encodeCbor(validate)],
  ];
  if (d.referenceUri !== undefined)
    manifestEntries.push([MANIFEST_KEY.referenceUri, d.referenceUri]);
  if (d.invoke)
    manifestEntries.push([
      MANIFEST_KEY.invoke,
      encodeCbor(
        many
          ? [DIRECTIVE.setComponentIndex, 0, DIRECTIVE.invoke, REPORT_ON_FAILURE]
          : [DIRECTIVE.invoke, REPORT_ON_FAILURE],
      ),
    ]);
  let textBytes: Uint8Array | undefined;
  if (d.text && Object.keys(d.text).length > 0) {
    textBytes = encodeSuitText(d.text);
    const td = computeBstrWrappedDigest(textBytes);
    manifestEntries.push([MANIFEST_KEY.text, [td.algorithm, td.bytes]]);
  }
  const manifest = encodeCbor(new CborMap(manifestEntries));
  const digest = computeBstrWrappedDigest(manifest);
  const envelope: [CborValue, CborValue][] = [
    [
      ENVELOPE_KEY.authenticationWrapper,
      encodeCbor([encodeCbor([digest.algorithm, digest.bytes])]),
    ],
    [ENVELOPE_KEY.manifest, manifest],
  ];
  if (textBytes) envelope.push([ENVELOPE_KEY.text, textBytes]);
  for (const c of components) if (c.payload) envelope.push([c.uri, c.payload]);
  return encodeCbor(new CborTag(SUIT_ENVELOPE_TAG, new CborMap(envelope)));
}

/**
 * Adds a COSE_Sign1 signature to an envelope (signed or not): a second signature keeps the first.
 * The manifest bytes are not touched; the digest in the wrapper is checked against them first.
 *
 * @example
 * const twiceSigned = await signEnvelope(await signEnvelope(unsigned, releaseSigner), deploymentSigner);
 */
export async function signEnvelope(bytes: Uint8Array, signer: Signer): Promise<Uint8Array> {
  const envelope = decodeEnvelope(bytes);
  const { digest, digestBytes, blocks } = envelope.authentication;
  if (!digestEquals(computeBstrWrappedDigest(envelope.manifestBytes, digest.algorithm), digest)) {
    throw new CoreError(
      'MANIFEST_DIGEST_MISMATCH',
      'the manifest does not match the digest in the authentication wrapper: refusing to sign',
      {
        details: { member: 'manifest' },
      },
    );
  }
  const block = await createCoseSign1(digestBytes, signer);
  const wrapper = encodeCbor([digestBytes, ...blocks.map((b) => b.bytes), block]);
  return replaceMember(bytes, envelope.tagged, ENVELOPE_KEY.authenticationWrapper, wrapper);
}

/**
 * Removes severable members (e.g. text) from an envelope; the manifest keeps their digests, so the
 * signatures stay valid (SUIT severing).
 */
export function severEnvelope(
  bytes: Uint8Array,
  members: readonly ('text' | 'install' | 'payloadFetch' | 'coswid')[],
): Uint8Array {
  const envelope = decodeEnvelope(bytes);
  const keys = new Set<CborValue>(members.map((m) => ENVELOPE_KEY[m]));
  const map = rawEnvelopeMap(bytes);
  return encodeCbor(wrap(envelope.tagged, new CborMap(map.entries.filter(([k]) => !keys.has(k)))));
}

function rawEnvelopeMap(bytes: Uint8Array): CborMap {
  let value = decodeCbor(bytes, { context: 'envelope' });
  if (value instanceof CborTag) value = value.value;
  return value as CborMap;
}

function wrap(tagged: boolean, map: CborMap): CborValue {
  return tagged ? new CborTag(SUIT_ENVELOPE_TAG, map) : map;
}

function replaceMember(
  bytes: Uint8Array,
  tagged: boolean,
  key: number,
  value: Uint8Array,
): Uint8Array {
  const map = rawEnvelopeMap(bytes);
  const entries = map.entries.map(([k, v]) => [k, k === key ? value : v] as const);
  return encodeCbor(wrap(tagged, new CborMap(entries)));
}
