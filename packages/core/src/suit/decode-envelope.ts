import { type CborLimits, DEFAULT_CBOR_LIMITS, decodeCbor } from '../cbor/cbor-decode.js';
import { CborMap, CborTag, type CborValue } from '../cbor/cbor-types.js';
import { COSE_HEADER, COSE_TAG } from '../cose/cose-sign1.js';
import { CoreError } from '../errors.js';
import {
  COMMON_KEY,
  CONDITION,
  DIRECTIVE,
  ENVELOPE_KEY,
  MANIFEST_KEY,
  PARAMETER,
  type SeverableMember,
  SUIT_ENVELOPE_TAG,
  TEXT_COMPONENT_KEY,
  TEXT_KEY,
} from './suit-labels.js';
import type {
  AuthenticationBlock,
  ComponentId,
  SeverableSlot,
  SuitCommand,
  SuitCommandSequence,
  SuitCommon,
  SuitDigest,
  SuitEnvelope,
  SuitManifest,
  SuitParameters,
  SuitText,
  SuitTextEntry,
} from './suit-model.js';

/** Limits of the envelope decoder (on top of the CBOR limits, which apply to every nested item). */
export interface EnvelopeLimits extends CborLimits {
  /** Deepest nesting of command sequences (try-each / run-sequence inside each other). */
  readonly maxSequenceDepth: number;
  /** Most authentication blocks (signatures/MACs). */
  readonly maxAuthenticationBlocks: number;
  /** Most components in suit-components. */
  readonly maxComponents: number;
}

/** Default envelope limits: 1 MiB envelope, CBOR depth 32, 65 536 items, 8 nested sequences, 8 signatures, 64 components. */
export const DEFAULT_ENVELOPE_LIMITS: EnvelopeLimits = Object.freeze({
  ...DEFAULT_CBOR_LIMITS,
  maxSequenceDepth: 8,
  maxAuthenticationBlocks: 8,
  maxComponents: 64,
});

export interface DecodeEnvelopeOptions {
  readonly limits?: Partial<EnvelopeLimits>;
  /**
   * Called after the envelope and its authentication wrapper are decoded and before the manifest
   * is: verifyEnvelope/processEnvelope check signatures and the manifest digest here, so that
   * unauthenticated bytes never reach the manifest decoder.
   */
  readonly beforeManifest?: (outer: Pick<SuitEnvelope, 'authentication' | 'manifestBytes'>) => void;
}

const SEVERABLE_BY_ENVELOPE_KEY: ReadonlyMap<number, SeverableMember> = new Map([
  [ENVELOPE_KEY.coswid, 'coswid'],
  [ENVELOPE_KEY.dependencyResolution, 'dependencyResolution'],
  [ENVELOPE_KEY.payloadFetch, 'payloadFetch'],
  [ENVELOPE_KEY.install, 'install'],
  [ENVELOPE_KEY.text, 'text'],
]);

const POLICY_CONDITIONS: ReadonlySet<number> = new Set(Object.values(CONDITION));
const POLICY_DIRECTIVES: ReadonlySet<number> = new Set([
  DIRECTIVE.processDependency,
  DIRECTIVE.write,
  DIRECTIVE.fetch,
  DIRECTIVE.copy,
  DIRECTIVE.invoke,
  DIRECTIVE.wait,
  DIRECTIVE.swap,
  DIRECTIVE.unlink,
]);

/**
 * Decodes a SUIT envelope (tagged 107 or untagged) into its typed model, strictly and within the
 * limits. It checks structure only: no digest, signature or device check (see verifyEnvelope and
 * processEnvelope). Throws `CoreError` MANIFEST_MALFORMED (with `details.offset`) or
 * MANIFEST_UNSUPPORTED (a member or structure Updraft does not implement); never anything else.
 *
 * @example
 * const envelope = decodeEnvelope(readFileSync('update.suit'));
 * envelope.manifest.sequenceNumber;
 */
export function decodeEnvelope(
  bytes: Uint8Array,
  options: DecodeEnvelopeOptions = {},
): SuitEnvelope {
  const limits: EnvelopeLimits = options.limits
    ? { ...DEFAULT_ENVELOPE_LIMITS, ...options.limits }
    : DEFAULT_ENVELOPE_LIMITS;
  return new EnvelopeDecoder(bytes, limits).envelope(options.beforeManifest);
}

/** Decodes an encoded SUIT_Digest (`[alg, bytes]`). */
export function decodeSuitDigest(bytes: Uint8Array): SuitDigest {
  const d = new EnvelopeDecoder(bytes, DEFAULT_ENVELOPE_LIMITS);
  return d.digest(d.cbor(bytes, 'SUIT_Digest'), 'SUIT_Digest');
}

/** Decodes an encoded SUIT_Text_Map. */
export function decodeSuitText(bytes: Uint8Array): SuitText {
  const d = new EnvelopeDecoder(bytes, DEFAULT_ENVELOPE_LIMITS);
  return d.text(d.cbor(bytes, 'text'));
}

class EnvelopeDecoder {
  readonly #root: Uint8Array;
  readonly #limits: EnvelopeLimits;

  readonly #rootOffset: number;

  constructor(root: Uint8Array, limits: EnvelopeLimits) {
    this.#root = root;
    this.#rootOffset = root.byteOffset;
    this.#limits = limits;
  }

  // Every byte string this decoder sees is a view into the root input.
  #offsetOf(part: Uint8Array): number {
    const o = part.byteOffset - this.#rootOffset;
    return o >= 0 && o <= this.#root.length ? o : 0;
  }

  malformed(reason: string, where?: Uint8Array): never {
    const offset = where ? this.#offsetOf(where) : undefined;
    throw new CoreError('MANIFEST_MALFORMED', `malformed envelope: ${reason}`, {
      details: { reason, ...(offset !== undefined ? { offset } : {}) },
    });
  }

  unsupported(reason: string, details: Record<string, unknown> = {}): never {
    throw new CoreError('MANIFEST_UNSUPPORTED', `unsupported: ${reason}`, {
      details: { reason, ...details },
    });
  }

  /** Decodes a nested bstr .cbor item; errors report offsets in the whole envelope. */
  cbor(bytes: Uint8Array, context: string): CborValue {
    return decodeCbor(bytes, { limits: this.#limits, context, baseOffset: this.#offsetOf(bytes) });
  }

  envelope(beforeManifest?: DecodeEnvelopeOptions['beforeManifest']): SuitEnvelope {
    const root = this.#root;
    let value = this.cbor(root, 'envelope');
    let tagged = false;
    if (value instanceof CborTag) {
      if (value.tag !== SUIT_ENVELOPE_TAG)
        this.malformed(`envelope tag ${value.tag} (expected ${SUIT_ENVELOPE_TAG} or none)`);
      tagged = true;
      value = value.value;
    }
    if (!(value instanceof CborMap)) this.malformed('the envelope is not a map');
    let authBytes: Uint8Array | undefined;
    let manifestBytes: Uint8Array | undefined;
    let severed: Map<SeverableMember, Uint8Array> | undefined;
    let integrated: Map<string | number, Uint8Array> | undefined;
    for (let e = 0; e < value.size; e++) {
      const key = value.keyAt(e);
      const member = value.valueAt(e);
      if (key === ENVELOPE_KEY.authenticationWrapper)
        authBytes = this.bstr(member, 'authentication-wrapper');
      else if (key === ENVELOPE_KEY.manifest) manifestBytes = this.bstr(member, 'manifest');
      else if (typeof key === 'number' && SEVERABLE_BY_ENVELOPE_KEY.has(key)) {
        severed ??= new Map();
        severed.set(
          SEVERABLE_BY_ENVELOPE_KEY.get(key)!,
          this.bstr(member, 'severable envelope member'),
        );
      } else if (typeof key === 'string' || (typeof key === 'number' && (key < 0 || key >= 24))) {
        integrated ??= new Map();
        integrated.set(key, this.bstr(member, 'integrated payload'));
      } else if (key === ENVELOPE_KEY.delegation) {
        this.unsupported('delegation chains (envelope member 1)', { member: 1 });
      } else {
        this.unsupported(`envelope member ${String(key)}`, { member: String(key) });
      }
    }
    if (!authBytes) this.malformed('the envelope has no authentication wrapper (2)');
    if (!manifestBytes) this.malformed('the envelope has no manifest (3)');
    const authentication = this.authentication(authBytes);
    beforeManifest?.({ authentication, manifestBytes });
    const manifest = this.manifest(manifestBytes, severed ?? NONE);
    return {
      tagged,
      authentication,
      manifestBytes,
      manifest,
      severed: severed ?? NONE,
      integrated: integrated ?? NONE,
    };
  }

  bstr(v: CborValue | undefined, what: string): Uint8Array {
    if (!(v instanceof Uint8Array)) this.malformed(`${what} must be a byte string`);
    return v;
  }

  uint(v: CborValue | undefined, what: string): number {
    if (typeof v === 'bigint' && v >= 0n) this.unsupported(`${what} above 2^53-1`);
    if (typeof v !== 'number' || v < 0) this.malformed(`${what} must be an unsigned integer`);
    return v;
  }

  map(v: CborValue | undefined, what: string): CborMap {
    if (!(v instanceof CborMap)) this.malformed(`${what} must be a map`);
    return v;
  }

  array(v: CborValue | undefined, what: string): readonly CborValue[] {
    if (!Array.isArray(v)) this.malformed(`${what} must be an array`);
    return v as readonly CborValue[];
  }

  digest(v: CborValue, what: string): SuitDigest {
    const a = this.array(v, what);
    if (a.length !== 2) this.malformed(`${what} must be [algorithm, bytes]`);
    const algorithm = a[0];
    if (typeof algorithm !== 'number') this.malformed(`${what} algorithm must be an integer`);
    return { algorithm, bytes: this.bstr(a[1], `${what} bytes`) };
  }

  authentication(bytes: Uint8Array): SuitEnvelope['authentication'] {
    const wrapper = this.array(
      this.cbor(bytes, 'authentication-wrapper'),
      'authentication-wrapper',
    );
    if (wrapper.length < 1) this.malformed('the authentication wrapper is empty');
    if (wrapper.length - 1 > this.#limits.maxAuthenticationBlocks) {
      this.malformed(`more than ${this.#limits.maxAuthenticationBlocks} authentication blocks`);
    }
    const digestBytes = this.bstr(wrapper[0], 'SUIT_Digest');
    const digest = this.digest(this.cbor(digestBytes, 'SUIT_Digest'), 'SUIT_Digest');
    const blocks = wrapper
      .slice(1)
      .map((b) => this.authBlock(this.bstr(b, 'authentication block'), digestBytes));
    return { digest, digestBytes, blocks };
  }

  authBlock(bytes: Uint8Array, digestBytes: Uint8Array): AuthenticationBlock {
    const value = this.cbor(bytes, 'authentication block');
    if (!(value instanceof CborTag))
      this.malformed('an authentication block must be a tagged COSE structure', bytes);
    const kind =
      value.tag === COSE_TAG.Sign1 ? 'sign1' : value.tag === COSE_TAG.Mac0 ? 'mac0' : undefined;
    if (!kind) {
      if (value.tag === COSE_TAG.Sign || value.tag === COSE_TAG.Mac) {
        this.unsupported(
          `COSE_${value.tag === COSE_TAG.Sign ? 'Sign' : 'Mac'} (multi-recipient) authentication blocks; use several COSE_Sign1 blocks`,
        );
      }
      this.malformed(
        `authentication block tag ${value.tag} is not COSE_Sign1 (18) or COSE_Mac0 (17)`,
        bytes,
      );
    }
    const parts = this.array(value.value, 'COSE structure');
    if (parts.length !== 4) this.malformed('a COSE_Sign1/COSE_Mac0 has 4 elements', bytes);
    const protectedBytes = this.bstr(parts[0], 'COSE protected header');
    const prot =
      protectedBytes.length === 0
        ? new CborMap([])
        : this.map(this.cbor(protectedBytes, 'COSE protected header'), 'COSE protected header');
    const unprot = this.map(parts[1], 'COSE unprotected header');
    const payload = parts[2];
    if (payload !== null) {
      // SUIT detaches the payload; an attached one must at least be the digest it claims to sign.
      const p = this.bstr(payload, 'COSE payload');
      if (Buffer.compare(p, digestBytes) !== 0)
        this.malformed('the COSE payload is not the SUIT_Digest', bytes);
    }
    const signature = this.bstr(parts[3], kind === 'sign1' ? 'COSE signature' : 'COSE tag');
    for (let e = 0; e < prot.size; e++) {
      const label = prot.keyAt(e);
      if (typeof label !== 'number' && typeof label !== 'string')
        this.malformed('COSE header labels are integers or text', bytes);
      if (unprot.has(label))
        this.malformed(`COSE header ${String(label)} is both protected and unprotected`, bytes);
    }
    if (prot.has(COSE_HEADER.crit) || unprot.has(COSE_HEADER.crit)) {
      this.unsupported('COSE critical headers (crit)');
    }
    // Only alg (protected) and kid are understood; any other header is rejected rather than
    // ignored, so no byte of a block can change without the block being refused.
    for (let e = 0; e < prot.size; e++) {
      const label = prot.keyAt(e);
      if (label !== COSE_HEADER.alg && label !== COSE_HEADER.kid)
        this.unsupported(`COSE protected header ${String(label)}`);
    }
    for (let e = 0; e < unprot.size; e++) {
      if (unprot.keyAt(e) !== COSE_HEADER.kid)
        this.unsupported(`COSE unprotected header ${String(unprot.keyAt(e))}`);
    }
    const alg = prot.get(COSE_HEADER.alg);
    if (typeof alg !== 'number')
      this.malformed('the COSE protected header has no integer alg', bytes);
    const kidValue = prot.get(COSE_HEADER.kid) ?? unprot.get(COSE_HEADER.kid);
    const kid = kidValue === undefined ? undefined : this.bstr(kidValue, 'COSE kid');
    return { kind, alg, ...(kid ? { kid } : {}), protectedBytes, signature, bytes };
  }

  manifest(bytes: Uint8Array, severed: ReadonlyMap<SeverableMember, Uint8Array>): SuitManifest {
    const m = this.map(this.cbor(bytes, 'manifest'), 'manifest');
    const version = m.get(MANIFEST_KEY.version);
    if (version === undefined) this.malformed('the manifest has no manifest-version');
    if (version !== 1) this.unsupported(`manifest version ${String(version)}`);
    const sequenceNumber = this.uint(
      m.get(MANIFEST_KEY.sequenceNumber),
      'manifest-sequence-number',
    );
    const commonBytes = m.get(MANIFEST_KEY.common);
    if (commonBytes === undefined) this.malformed('the manifest has no common section');
    const common = this.common(this.bstr(commonBytes, 'common'));
    let extensions: Map<number, CborValue> | undefined;
    let referenceUri: string | undefined;
    let manifestComponentId: ComponentId | undefined;
    const sequences: Partial<Record<'validate' | 'load' | 'invoke', SuitCommandSequence>> = {};
    for (let e = 0; e < m.size; e++) {
      const key = m.keyAt(e);
      const v = m.valueAt(e);
      switch (key) {
        case MANIFEST_KEY.version:
        case MANIFEST_KEY.sequenceNumber:
        case MANIFEST_KEY.common:
        case MANIFEST_KEY.payloadFetch:
        case MANIFEST_KEY.install:
        case MANIFEST_KEY.text:
        case MANIFEST_KEY.coswid:
        case MANIFEST_KEY.dependencyResolution:
          break;
        case MANIFEST_KEY.referenceUri:
          if (typeof v !== 'string') this.malformed('reference-uri must be text');
          referenceUri = v;
          break;
        case MANIFEST_KEY.manifestComponentId:
          manifestComponentId = this.componentId(v, 'manifest-component-id');
          break;
        case MANIFEST_KEY.validate:
          sequences.validate = this.sequence(this.bstr(v, 'validate'), 0);
          break;
        case MANIFEST_KEY.load:
          sequences.load = this.sequence(this.bstr(v, 'load'), 0);
          break;
        case MANIFEST_KEY.invoke:
          sequences.invoke = this.sequence(this.bstr(v, 'invoke'), 0);
          break;
        case MANIFEST_KEY.setVersion:
        case MANIFEST_KEY.uninstall:
        case MANIFEST_KEY.candidateVerification:
          extensions ??= new Map();
          extensions.set(key, v);
          break;
        default:
          this.unsupported(`manifest member ${String(key)}`, { member: String(key) });
      }
    }
    const payloadFetch = this.severable(
      m.get(MANIFEST_KEY.payloadFetch),
      'payloadFetch',
      severed,
      'sequence',
    );
    const install = this.severable(m.get(MANIFEST_KEY.install), 'install', severed, 'sequence');
    const dependencyResolution = this.severable(
      m.get(MANIFEST_KEY.dependencyResolution),
      'dependencyResolution',
      severed,
      'sequence',
    );
    const text = this.severable(m.get(MANIFEST_KEY.text), 'text', severed, 'text');
    const coswid = this.severable(m.get(MANIFEST_KEY.coswid), 'coswid', severed, 'cbor');
    // Plain assignments, not spreads: this runs for every envelope verified.
    const out: { -readonly [K in keyof SuitManifest]: SuitManifest[K] } = {
      version,
      sequenceNumber,
      common,
      extensions: extensions ?? NONE,
    };
    if (referenceUri !== undefined) out.referenceUri = referenceUri;
    if (manifestComponentId) out.manifestComponentId = manifestComponentId;
    if (sequences.validate) out.validate = sequences.validate;
    if (sequences.load) out.load = sequences.load;
    if (sequences.invoke) out.invoke = sequences.invoke;
    if (payloadFetch) out.payloadFetch = payloadFetch;
    if (install) out.install = install;
    if (dependencyResolution) out.dependencyResolution = dependencyResolution;
    if (text) out.text = text;
    if (coswid) out.coswid = coswid;
    for (const member of severed.keys()) {
      if (out[member]?.source !== 'envelope') {
        this.malformed(`the envelope carries ${member} but the manifest holds no digest for it`);
      }
    }
    return out;
  }

  severable(
    v: CborValue | undefined,
    member: SeverableMember,
    severed: ReadonlyMap<SeverableMember, Uint8Array>,
    kind: 'sequence',
  ): SeverableSlot<SuitCommandSequence> | undefined;
  severable(
    v: CborValue | undefined,
    member: SeverableMember,
    severed: ReadonlyMap<SeverableMember, Uint8Array>,
    kind: 'text',
  ): SeverableSlot<SuitText> | undefined;
  severable(
    v: CborValue | undefined,
    member: SeverableMember,
    severed: ReadonlyMap<SeverableMember, Uint8Array>,
    kind: 'cbor',
  ): SeverableSlot<CborValue> | undefined;
  severable(
    inManifest: CborValue | undefined,
    member: SeverableMember,
    severed: ReadonlyMap<SeverableMember, Uint8Array>,
    kind: 'sequence' | 'text' | 'cbor',
  ): SeverableSlot<unknown> | undefined {
    if (inManifest === undefined) return undefined;
    if (inManifest instanceof Uint8Array) {
      return { source: 'inline', bytes: inManifest, value: this.#severableValue(inManifest, kind) };
    }
    const digest = this.digest(inManifest, 'severable member digest');
    const inEnvelope = severed.get(member);
    if (!inEnvelope) return { source: 'severed', digest };
    return {
      source: 'envelope',
      digest,
      bytes: inEnvelope,
      value: this.#severableValue(inEnvelope, kind),
    };
  }

  #severableValue(bytes: Uint8Array, kind: 'sequence' | 'text' | 'cbor'): unknown {
    if (kind === 'sequence') return this.sequence(bytes, 0);
    if (kind === 'text') return this.text(this.cbor(bytes, 'text'));
    return this.cbor(bytes, 'coswid');
  }

  common(bytes: Uint8Array): SuitCommon {
    const c = this.map(this.cbor(bytes, 'common'), 'common');
    let components: ComponentId[] = [];
    let dependencies: CborValue | undefined;
    let sharedSequence: SuitCommandSequence | undefined;
    for (let e = 0; e < c.size; e++) {
      const key = c.keyAt(e);
      const v = c.valueAt(e);
      if (key === COMMON_KEY.components) {
        const list = this.array(v, 'components');
        if (list.length === 0) this.malformed('components must not be empty');
        if (list.length > this.#limits.maxComponents)
          this.malformed(`more than ${this.#limits.maxComponents} components`);
        components = [];
        for (const id of list) components.push(this.componentId(id, 'component id'));
      } else if (key === COMMON_KEY.dependencies) {
        dependencies = this.map(v, 'dependencies');
      } else if (key === COMMON_KEY.sharedSequence) {
        sharedSequence = this.sequence(this.bstr(v, 'shared-sequence'), 0);
      } else {
        this.unsupported(`common member ${String(key)}`, { member: String(key) });
      }
    }
    return {
      components,
      ...(dependencies !== undefined ? { dependencies } : {}),
      ...(sharedSequence ? { sharedSequence } : {}),
    };
  }

  componentId(v: CborValue | undefined, what: string): ComponentId {
    const list = this.array(v, what);
    const id: Uint8Array[] = [];
    for (const part of list) id.push(this.bstr(part, 'component id element'));
    return id;
  }

  sequence(bytes: Uint8Array, depth: number): SuitCommandSequence {
    if (depth >= this.#limits.maxSequenceDepth) {
      this.malformed(
        `command sequences nested deeper than ${this.#limits.maxSequenceDepth}`,
        bytes,
      );
    }
    const list = this.array(this.cbor(bytes, 'command sequence'), 'command sequence');
    if (list.length === 0 || list.length % 2 !== 0) {
      this.malformed('a command sequence is a non-empty list of (command, argument) pairs', bytes);
    }
    const commands: SuitCommand[] = new Array(list.length / 2);
    for (let i = 0; i < list.length; i += 2) {
      const code = list[i];
      const arg = list[i + 1]!;
      const position = i / 2;
      if (typeof code !== 'number') this.malformed(`command ${position} is not an integer`, bytes);
      commands[position] = this.command(code, arg, position, depth, bytes);
    }
    return { bytes, commands };
  }

  command(
    code: number,
    arg: CborValue,
    position: number,
    depth: number,
    where: Uint8Array,
  ): SuitCommand {
    if (code === DIRECTIVE.setComponentIndex) {
      if (arg === true) return { kind: 'set-component-index', code, position, index: true };
      if (Array.isArray(arg)) {
        if (arg.length === 0) this.malformed('set-component-index with an empty list', where);
        return {
          kind: 'set-component-index',
          code,
          position,
          index: this.uintList(arg),
        };
      }
      return {
        kind: 'set-component-index',
        code,
        position,
        index: this.uint(arg, 'component index'),
      };
    }
    if (code === DIRECTIVE.overrideParameters || code === DIRECTIVE.setParameters) {
      const parameters = this.parameters(this.map(arg, 'parameters'));
      return {
        kind: 'parameters',
        code,
        position,
        override: code === DIRECTIVE.overrideParameters,
        parameters,
      };
    }
    if (code === DIRECTIVE.tryEach) {
      const list = this.array(arg, 'try-each argument');
      const noneIsOk = list.length > 0 && list[list.length - 1] === null;
      const seqs = noneIsOk ? list.slice(0, -1) : list;
      if (seqs.length === 0) this.malformed('try-each without sequences', where);
      const sequences = seqs.map((s) =>
        this.sequence(this.bstr(s, 'try-each sequence'), depth + 1),
      );
      return { kind: 'try-each', code, position, sequences, noneIsOk };
    }
    if (code === DIRECTIVE.runSequence) {
      return {
        kind: 'run-sequence',
        code,
        position,
        sequence: this.sequence(this.bstr(arg, 'run-sequence'), depth + 1),
      };
    }
    if (POLICY_CONDITIONS.has(code))
      return { kind: 'condition', code, position, policy: this.uint(arg, 'reporting policy') };
    if (POLICY_DIRECTIVES.has(code))
      return { kind: 'directive', code, position, policy: this.uint(arg, 'reporting policy') };
    return { kind: 'other', code, position, argument: arg };
  }

  uintList(list: readonly CborValue[]): number[] {
    const out: number[] = [];
    for (const x of list) out.push(this.uint(x, 'component index'));
    return out;
  }

  parameters(map: CborMap): SuitParameters {
    if (map.size === 0) this.malformed('an empty parameter map');
    let others: Map<number, CborValue> | undefined;
    const out: { -readonly [K in keyof SuitParameters]: SuitParameters[K] } = {
      others: NO_PARAMETERS,
    };
    for (let e = 0; e < map.size; e++) {
      const key = map.keyAt(e);
      const v = map.valueAt(e);
      if (typeof key !== 'number') this.malformed('parameter keys are integers');
      switch (key) {
        case PARAMETER.vendorIdentifier:
          if (v instanceof Uint8Array) out.vendorId = this.uuid(v, 'vendor-id');
          else {
            others ??= new Map();
            others.set(key, v); // cbor-pen (tag 112): not interpreted
          }
          break;
        case PARAMETER.classIdentifier:
          out.classId = this.uuid(v, 'class-id');
          break;
        case PARAMETER.deviceIdentifier:
          out.deviceId = this.uuid(v, 'device-id');
          break;
        case PARAMETER.imageDigest: {
          const b = this.bstr(v, 'image-digest');
          out.imageDigest = this.digest(this.cbor(b, 'image-digest'), 'image-digest');
          break;
        }
        case PARAMETER.imageSize:
          out.imageSize = this.uint(v, 'image-size');
          break;
        case PARAMETER.componentSlot:
          out.componentSlot = this.uint(v, 'component-slot');
          break;
        case PARAMETER.uri:
          if (typeof v !== 'string') this.malformed('uri must be text');
          out.uri = v;
          break;
        case PARAMETER.sourceComponent:
          out.sourceComponent = this.uint(v, 'source-component');
          break;
        case PARAMETER.content:
          out.content = this.bstr(v, 'content');
          break;
        case PARAMETER.encryptionInfo:
          out.encryptionInfo = this.bstr(v, 'encryption-info');
          break;
        case PARAMETER.invokeArgs:
          out.invokeArgs = this.bstr(v, 'invoke-args');
          break;
        case PARAMETER.strictOrder:
        case PARAMETER.softFailure:
          if (typeof v !== 'boolean')
            this.malformed('strict-order / soft-failure must be booleans');
          if (key === PARAMETER.strictOrder) out.strictOrder = v;
          else out.softFailure = v;
          break;
        case PARAMETER.useBefore:
          out.useBefore = this.uint(v, 'use-before');
          break;
        default:
          others ??= new Map();
          others.set(key, v);
      }
    }
    if (others) out.others = others;
    return out;
  }

  uuid(v: CborValue | undefined, what: string): Uint8Array {
    const b = this.bstr(v, what);
    if (b.length !== 16) this.malformed(`${what} must be a 16-byte UUID`);
    return b;
  }

  text(value: CborValue): SuitText {
    const map = this.map(value, 'text');
    const languages = new Map<string, SuitTextEntry>();
    let isLanguageMap = map.size > 0;
    for (let e = 0; e < map.size; e++) if (typeof map.keyAt(e) !== 'string') isLanguageMap = false;
    if (isLanguageMap) {
      for (let e = 0; e < map.size; e++) {
        languages.set(
          map.keyAt(e) as string,
          this.textEntry(this.map(map.valueAt(e), 'text language')),
        );
      }
    } else {
      languages.set('', this.textEntry(map));
    }
    return { languages };
  }

  textEntry(map: CborMap): SuitTextEntry {
    const fields: Record<string, string> = {};
    const components: { id: ComponentId; fields: Record<string, string> }[] = [];
    for (let e = 0; e < map.size; e++) {
      const key = map.keyAt(e);
      const v = map.valueAt(e);
      if (typeof key === 'number') {
        if (typeof v !== 'string') this.malformed('text fields must be text');
        fields[nameOf(TEXT_KEY, key)] = v;
      } else if (Array.isArray(key)) {
        const id = this.componentId(key, 'text component id');
        const cf: Record<string, string> = {};
        const cm = this.map(v, 'component text');
        for (let c = 0; c < cm.size; c++) {
          const ck = cm.keyAt(c);
          const cv = cm.valueAt(c);
          if (typeof ck !== 'number' || typeof cv !== 'string') {
            this.malformed('component text fields are integer => text');
          }
          cf[nameOf(TEXT_COMPONENT_KEY, ck)] = cv;
        }
        components.push({ id, fields: cf });
      } else {
        this.malformed('text keys are integers or component identifiers');
      }
    }
    return { fields, components };
  }
}

// Shared empty maps (never mutated): most envelopes have no extension, severed or integrated member.
const NO_PARAMETERS: ReadonlyMap<number, CborValue> = new Map();
const NONE: ReadonlyMap<never, never> = new Map<never, never>();

const TEXT_NAMES = new Map(Object.entries(TEXT_KEY).map(([name, k]) => [k as number, name]));
const TEXT_COMPONENT_NAMES = new Map(
  Object.entries(TEXT_COMPONENT_KEY).map(([name, k]) => [k as number, name]),
);

function nameOf(table: Record<string, number>, key: number): string {
  return (table === TEXT_KEY ? TEXT_NAMES : TEXT_COMPONENT_NAMES).get(key) ?? String(key);
}
