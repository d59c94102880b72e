import { CoreError } from '../errors.js';
import {
  assertSupportedSequence,
  CommandInterpreter,
  type ConditionContext,
  type PayloadOperation,
} from './command-interpreter.js';
import { componentIdEquals, componentIdToHex } from './component-id.js';
import { type DecodeEnvelopeOptions, decodeEnvelope } from './decode-envelope.js';
import type { ComponentId, SuitDigest, SuitEnvelope, SuitText } from './suit-model.js';
import { uuidBytes } from './suit-uuid.js';
import type { TrustInput, TrustStore } from './trust.js';
import { checkSeverableDigests, type VerifiedSigner, verifySignatures } from './verify-envelope.js';

/** What the device has installed in one component. */
export interface DeviceComponent {
  /** Component identifier, or its hex form (lowercase hex of its CBOR encoding). */
  readonly id: ComponentId | string;
  /** Sequence number of the installed manifest; absent = nothing installed (anything is newer). */
  readonly sequenceNumber?: number;
  /** Digest of the installed image (a bare Uint8Array is SHA-256). */
  readonly digest?: SuitDigest | Uint8Array;
  /** The slot an update of this component would be written to (checked by condition-component-slot). */
  readonly slot?: number;
}

/** The device the envelope must fit. */
export interface DeviceIdentity {
  /** 16 bytes or UUID text. */
  readonly vendorId: Uint8Array | string;
  readonly classId: Uint8Array | string;
  readonly deviceId?: Uint8Array | string;
  readonly components: readonly DeviceComponent[];
}

export interface ProcessOptions extends Pick<DecodeEnvelopeOptions, 'limits'> {
  readonly trust: TrustInput | TrustStore;
  readonly device: DeviceIdentity;
  /** Current time for condition-use-before (default: the system clock). */
  readonly now?: Date;
  /**
   * Require the manifest to check vendor-id and class-id (accident protection). Default true;
   * a manifest that does not check them fails with MANIFEST_VENDOR_MISMATCH / MANIFEST_CLASS_MISMATCH.
   */
  readonly requireIdentityChecks?: boolean;
}

/** One component the update writes. The payload must be checked against `digest` and `size`. */
export interface InstallPlanComponent {
  readonly index: number;
  readonly id: ComponentId;
  /** Lowercase hex of the CBOR encoding of `id`. */
  readonly idHex: string;
  /** fetch: download `uri` (or take the integrated payload); write: `payload` is the content; copy: from `sourceComponent`. */
  readonly action: 'fetch' | 'write' | 'copy';
  readonly slot?: number;
  /** Expected digest of the component's new (plaintext) content. */
  readonly digest: SuitDigest;
  readonly size?: number;
  readonly uri?: string;
  /** SUIT_Encryption_Info bytes when the payload is encrypted (decrypt with the encryption module). */
  readonly encryptionInfo?: Uint8Array;
  /** True when the payload travels inside the envelope (integrated payload or write content). */
  readonly integrated: boolean;
  readonly payload?: Uint8Array;
  readonly sourceComponent?: {
    readonly index: number;
    readonly id: ComponentId;
    readonly idHex: string;
  };
}

/** The result of processEnvelope: everything checked; what to install where. */
export interface InstallPlan {
  readonly sequenceNumber: number;
  readonly manifestDigest: SuitDigest;
  readonly signers: readonly VerifiedSigner[];
  readonly components: readonly InstallPlanComponent[];
  /** Whether the manifest has an invoke sequence (boot the new image after install). */
  readonly invoke: boolean;
  readonly text?: SuitText;
  readonly envelope: SuitEnvelope;
}

/**
 * The device-side SUIT processor. It checks everything before anything is installed and returns an
 * install plan, or throws a typed CoreError. Default-deny: it returns only after every check passed.
 *
 * Order: decode the envelope and its authentication wrapper (MANIFEST_MALFORMED /
 * MANIFEST_UNSUPPORTED) → signatures and policy (MANIFEST_SIGNATURE_INVALID /
 * MANIFEST_UNTRUSTED_KEY) → manifest digest (MANIFEST_DIGEST_MISMATCH) → only then decode the
 * manifest → severable-member digests (MANIFEST_DIGEST_MISMATCH) → every sequence it would run uses only implemented commands and
 * parameters (MANIFEST_UNSUPPORTED) → shared + payload-fetch + install + validate run against the
 * device (MANIFEST_VENDOR_MISMATCH, MANIFEST_CLASS_MISMATCH, MANIFEST_CONDITION_FAILED,
 * MANIFEST_MEMBER_MISSING for severed sequences or integrated payloads that are absent,
 * MANIFEST_COMPONENT_UNKNOWN) → anti-rollback per written component (MANIFEST_ROLLBACK).
 * Errors raised while running a sequence carry `details.section` and `details.position`.
 *
 * @example
 * const plan = processEnvelope(bytes, {
 *   trust: { keys: [{ key: releasePublicKey }] },
 *   device: { vendorId, classId, components: [{ id: '814100', sequenceNumber: 12, slot: 1 }] },
 * });
 * for (const c of plan.components) await install(c); // check each payload with createDigestVerifier
 */
export function processEnvelope(bytes: Uint8Array, options: ProcessOptions): InstallPlan {
  let signers: VerifiedSigner[] = [];
  const envelope = decodeEnvelope(bytes, {
    ...(options.limits ? { limits: options.limits } : {}),
    beforeManifest: (outer) => {
      signers = verifySignatures(outer, options.trust);
    },
  });
  checkSeverableDigests(envelope);
  const m = envelope.manifest;
  const components = m.common.components;

  if (m.common.dependencies !== undefined || m.dependencyResolution) {
    throw new CoreError('MANIFEST_UNSUPPORTED', 'unsupported: dependencies (trust domains)', {
      details: { reason: 'dependencies' },
    });
  }
  for (const [member, slot] of [
    ['payload-fetch', m.payloadFetch],
    ['install', m.install],
  ] as const) {
    if (slot?.source === 'severed') {
      throw new CoreError(
        'MANIFEST_MEMBER_MISSING',
        `the ${member} sequence was severed and the envelope does not carry it`,
        {
          details: { member },
        },
      );
    }
  }
  const toRun = [
    ['payload-fetch', m.payloadFetch?.value],
    ['install', m.install?.value],
    ['validate', m.validate],
  ] as const;
  if (m.common.sharedSequence) assertSupportedSequence('shared-sequence', m.common.sharedSequence);
  for (const [section, seq] of toRun) if (seq) assertSupportedSequence(section, seq);
  if (m.load) assertSupportedSequence('load', m.load);
  if (m.invoke) assertSupportedSequence('invoke', m.invoke);

  const device = deviceContext(options, components);
  const interpreter = new CommandInterpreter(envelope, device.context);
  for (const [section, seq] of toRun) if (seq) interpreter.run(section, seq);

  if (options.requireIdentityChecks ?? true) {
    if (!interpreter.vendorChecked) {
      throw new CoreError('MANIFEST_VENDOR_MISMATCH', 'the manifest never checks the vendor-id', {
        details: { reason: 'vendor-id not checked' },
      });
    }
    if (!interpreter.classChecked) {
      throw new CoreError('MANIFEST_CLASS_MISMATCH', 'the manifest never checks the class-id', {
        details: { reason: 'class-id not checked' },
      });
    }
  }

  const plan: InstallPlanComponent[] = [];
  for (const op of interpreter.operations) {
    const i = op.componentIndex;
    const idHex = device.hex[i]!;
    const known = device.known[i];
    if (!known) {
      throw new CoreError('MANIFEST_COMPONENT_UNKNOWN', `the device has no component ${idHex}`, {
        details: { component: idHex },
      });
    }
    if (!op.digest) {
      throw new CoreError(
        'MANIFEST_UNSUPPORTED',
        `unsupported: component ${idHex} is written without an image digest`,
        { details: { reason: 'payload without digest', component: idHex } },
      );
    }
    if (known.sequenceNumber !== undefined && m.sequenceNumber <= known.sequenceNumber) {
      throw new CoreError(
        'MANIFEST_ROLLBACK',
        `sequence number ${m.sequenceNumber} is not newer than the installed ${known.sequenceNumber} (component ${idHex})`,
        {
          details: {
            sequenceNumber: m.sequenceNumber,
            installed: known.sequenceNumber,
            component: idHex,
          },
        },
      );
    }
    plan.push(planComponent(op, i, components, device.hex, known.slot));
  }
  const result: { -readonly [K in keyof InstallPlan]: InstallPlan[K] } = {
    sequenceNumber: m.sequenceNumber,
    manifestDigest: envelope.authentication.digest,
    signers,
    components: plan,
    invoke: m.invoke !== undefined,
    envelope,
  };
  if (m.text?.value) result.text = m.text.value;
  return result;
}

// Assignments rather than conditional spreads: this runs for every verified envelope.
function planComponent(
  op: PayloadOperation,
  i: number,
  components: readonly ComponentId[],
  hex: readonly string[],
  deviceSlot: number | undefined,
): InstallPlanComponent {
  const c: { -readonly [K in keyof InstallPlanComponent]: InstallPlanComponent[K] } = {
    index: i,
    id: components[i]!,
    idHex: hex[i]!,
    action: op.action,
    digest: op.digest!,
    integrated: op.integrated,
  };
  const slot = op.slot ?? deviceSlot;
  if (slot !== undefined) c.slot = slot;
  if (op.size !== undefined) c.size = op.size;
  if (op.uri !== undefined) c.uri = op.uri;
  if (op.encryptionInfo) c.encryptionInfo = op.encryptionInfo;
  if (op.payload) c.payload = op.payload;
  const src = op.sourceComponentIndex;
  if (src !== undefined) c.sourceComponent = { index: src, id: components[src]!, idHex: hex[src]! };
  return c;
}

interface KnownComponent {
  sequenceNumber?: number;
  digest?: SuitDigest;
  slot?: number;
}

function deviceContext(options: ProcessOptions, components: readonly ComponentId[]) {
  const d = options.device;
  const hex: string[] = [];
  const known: (KnownComponent | undefined)[] = [];
  for (const id of components) {
    const h = componentIdToHex(id);
    hex.push(h);
    let entry: DeviceComponent | undefined;
    for (const c of d.components) {
      if (typeof c.id === 'string' ? c.id.toLowerCase() === h : componentIdEquals(c.id, id)) {
        entry = c;
        break;
      }
    }
    if (!entry) {
      known.push(undefined);
      continue;
    }
    const k: KnownComponent = {};
    if (entry.sequenceNumber !== undefined) k.sequenceNumber = entry.sequenceNumber;
    if (entry.digest)
      k.digest =
        entry.digest instanceof Uint8Array ? { algorithm: -16, bytes: entry.digest } : entry.digest;
    if (entry.slot !== undefined) k.slot = entry.slot;
    known.push(k);
  }
  const context: { -readonly [K in keyof ConditionContext]: ConditionContext[K] } = {
    vendorId: uuidBytes(d.vendorId),
    classId: uuidBytes(d.classId),
    now: Math.floor((options.now ? options.now.getTime() : Date.now()) / 1000),
    components: known,
  };
  if (d.deviceId !== undefined) context.deviceId = uuidBytes(d.deviceId);
  return { context, known, hex };
}
