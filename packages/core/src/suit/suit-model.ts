import type { CborValue } from '../cbor/cbor-types.js';
import type { SeverableMember } from './suit-labels.js';

/** SUIT_Component_Identifier: a list of byte strings (e.g. `[h'00']`, or `['usr','bin','app']` as bytes). */
export type ComponentId = readonly Uint8Array[];

/** SUIT_Digest: COSE hash algorithm id (-16 = SHA-256) and the digest bytes. */
export interface SuitDigest {
  readonly algorithm: number;
  readonly bytes: Uint8Array;
}

/** Parameters a command sequence sets. Parameters Updraft does not interpret stay in `others`. */
export interface SuitParameters {
  readonly vendorId?: Uint8Array;
  readonly classId?: Uint8Array;
  readonly imageDigest?: SuitDigest;
  readonly imageSize?: number;
  readonly componentSlot?: number;
  readonly uri?: string;
  readonly sourceComponent?: number;
  /** suit-parameter-content: bytes written by directive-write. */
  readonly content?: Uint8Array;
  /** suit-parameter-encryption-info: encoded SUIT_Encryption_Info (COSE_Encrypt), opaque here. */
  readonly encryptionInfo?: Uint8Array;
  readonly invokeArgs?: Uint8Array;
  readonly deviceId?: Uint8Array;
  readonly strictOrder?: boolean;
  readonly softFailure?: boolean;
  /** suit-parameter-use-before (update management): POSIX seconds. */
  readonly useBefore?: number;
  /** Every other parameter, by number, undecoded. The processor rejects the ones it would need. */
  readonly others: ReadonlyMap<number, CborValue>;
}

/** One command of a SUIT_Command_Sequence; `position` is its index (in commands) in the sequence. */
export type SuitCommand =
  | {
      readonly kind: 'condition';
      readonly code: number;
      readonly position: number;
      readonly policy: number;
    }
  | {
      readonly kind: 'directive';
      readonly code: number;
      readonly position: number;
      readonly policy: number;
    }
  | {
      readonly kind: 'set-component-index';
      readonly code: number;
      readonly position: number;
      readonly index: number | true | readonly number[];
    }
  | {
      readonly kind: 'parameters';
      readonly code: number;
      readonly position: number;
      /** true for override-parameters, false for set-parameters (sets only unset parameters). */
      readonly override: boolean;
      readonly parameters: SuitParameters;
    }
  | {
      readonly kind: 'try-each';
      readonly code: number;
      readonly position: number;
      readonly sequences: readonly SuitCommandSequence[];
      /** A trailing nil: "none of them matched" is not a failure. */
      readonly noneIsOk: boolean;
    }
  | {
      readonly kind: 'run-sequence';
      readonly code: number;
      readonly position: number;
      readonly sequence: SuitCommandSequence;
    }
  /** A command whose argument Updraft does not decode (extensions, custom commands). */
  | {
      readonly kind: 'other';
      readonly code: number;
      readonly position: number;
      readonly argument: CborValue;
    };

/** A decoded command sequence and its encoded bytes. */
export interface SuitCommandSequence {
  readonly bytes: Uint8Array;
  readonly commands: readonly SuitCommand[];
}

/** SUIT_Text (per language tag; the key '' holds text from manifests without language tags). */
export interface SuitText {
  readonly languages: ReadonlyMap<string, SuitTextEntry>;
}

/** Text of one language: manifest-level fields and per-component fields, by SUIT name. */
export interface SuitTextEntry {
  /** e.g. `manifestDescription`, `updateDescription`; unknown keys appear as their number. */
  readonly fields: Readonly<Record<string, string>>;
  readonly components: readonly {
    readonly id: ComponentId;
    readonly fields: Readonly<Record<string, string>>;
  }[];
}

/**
 * A severable manifest member: the manifest holds it inline or only its digest; `value` is present
 * when the member is available (inline, or carried by the envelope and matching the digest).
 */
export interface SeverableSlot<T> {
  /** inline: in the manifest; envelope: severed but carried (digest checked); severed: absent. */
  readonly source: 'inline' | 'envelope' | 'severed';
  readonly digest?: SuitDigest;
  /** The member's encoded bytes (the content of its bstr). */
  readonly bytes?: Uint8Array;
  readonly value?: T;
}

export interface SuitCommon {
  readonly components: readonly ComponentId[];
  /** suit-dependencies (trust domains), undecoded. */
  readonly dependencies?: CborValue;
  readonly sharedSequence?: SuitCommandSequence;
}

/** SUIT_Manifest (authenticated by the digest in the authentication wrapper). */
export interface SuitManifest {
  readonly version: number;
  readonly sequenceNumber: number;
  readonly common: SuitCommon;
  readonly referenceUri?: string;
  /** suit-manifest-component-id (trust domains). */
  readonly manifestComponentId?: ComponentId;
  readonly validate?: SuitCommandSequence;
  readonly load?: SuitCommandSequence;
  readonly invoke?: SuitCommandSequence;
  readonly payloadFetch?: SeverableSlot<SuitCommandSequence>;
  readonly install?: SeverableSlot<SuitCommandSequence>;
  readonly dependencyResolution?: SeverableSlot<SuitCommandSequence>;
  readonly text?: SeverableSlot<SuitText>;
  readonly coswid?: SeverableSlot<CborValue>;
  /** Extension members Updraft decodes no further (set-version, uninstall, candidate-verification). */
  readonly extensions: ReadonlyMap<number, CborValue>;
}

/** One COSE authentication block of the authentication wrapper. */
export interface AuthenticationBlock {
  readonly kind: 'sign1' | 'mac0';
  readonly alg: number;
  readonly kid?: Uint8Array;
  readonly protectedBytes: Uint8Array;
  readonly signature: Uint8Array;
  /** The encoded block (content of its bstr in the wrapper). */
  readonly bytes: Uint8Array;
}

/** A decoded SUIT_Envelope. Nothing in it is trusted until verifyEnvelope/processEnvelope says so. */
export interface SuitEnvelope {
  /** Whether the envelope carried tag 107 (TEEP's examples are untagged). */
  readonly tagged: boolean;
  readonly authentication: {
    readonly digest: SuitDigest;
    /** Encoded SUIT_Digest: the detached COSE payload that every block signs. */
    readonly digestBytes: Uint8Array;
    readonly blocks: readonly AuthenticationBlock[];
  };
  /** Encoded manifest (content of the envelope's manifest bstr). */
  readonly manifestBytes: Uint8Array;
  readonly manifest: SuitManifest;
  /** Severable members carried by the envelope (bstr contents), by member. */
  readonly severed: ReadonlyMap<SeverableMember, Uint8Array>;
  /** Integrated payloads and dependencies, by their envelope key ("#tc", or an integer). */
  readonly integrated: ReadonlyMap<string | number, Uint8Array>;
}
