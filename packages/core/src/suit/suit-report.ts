import { decodeCbor } from '../cbor/cbor-decode.js';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, type CborValue } from '../cbor/cbor-types.js';
import { CoreError, type CoreErrorCode } from '../errors.js';
import { MANIFEST_KEY } from './suit-labels.js';
import type { SuitDigest } from './suit-model.js';

/** SUIT_Report_Reasons (draft-ietf-suit-report). */
export const SUIT_REPORT_REASONS = [
  'ok',
  'cbor-parse',
  'cose-unsupported',
  'alg-unsupported',
  'unauthorised',
  'command-unsupported',
  'component-unsupported',
  'component-unauthorised',
  'parameter-unsupported',
  'severing-unsupported',
  'condition-failed',
  'operation-failed',
  'invoke-pending',
] as const;
export type SuitReportReason = (typeof SUIT_REPORT_REASONS)[number];

/** SUIT_Record: where in which manifest something happened, and the parameters in effect. */
export interface SuitRecord {
  readonly manifestId: readonly number[];
  /** Manifest member of the command sequence (e.g. 20 install, 7 validate; 3 for the shared sequence). */
  readonly section: number;
  /** Updraft records the index of the command within its sequence. */
  readonly offset: number;
  readonly componentIndex: number;
  readonly properties: ReadonlyMap<number, CborValue>;
}

/** A SUIT_Report (draft-ietf-suit-report shape), unsigned. */
export interface SuitReport {
  readonly reference: { readonly manifestUri?: string; readonly manifestDigest: SuitDigest };
  readonly nonce?: Uint8Array;
  readonly records: readonly SuitRecord[];
  readonly result:
    | true
    | { readonly code: number; readonly record: SuitRecord; readonly reason: SuitReportReason };
}

const K = {
  nonce: 2,
  records: 3,
  result: 4,
  resultCode: 5,
  resultRecord: 6,
  resultReason: 7,
  reference: 99,
} as const;

const SECTION_KEYS: Readonly<Record<string, number>> = {
  'shared-sequence': MANIFEST_KEY.common,
  'payload-fetch': MANIFEST_KEY.payloadFetch,
  install: MANIFEST_KEY.install,
  validate: MANIFEST_KEY.validate,
  load: MANIFEST_KEY.load,
  invoke: MANIFEST_KEY.invoke,
};

/** Numeric result codes used in reports: stable, one per core error code (0 = other). */
const RESULT_CODES: Partial<Record<CoreErrorCode, number>> = {
  MANIFEST_MALFORMED: 1,
  MANIFEST_UNSUPPORTED: 2,
  MANIFEST_SIGNATURE_INVALID: 3,
  MANIFEST_UNTRUSTED_KEY: 4,
  MANIFEST_DIGEST_MISMATCH: 5,
  MANIFEST_VENDOR_MISMATCH: 6,
  MANIFEST_CLASS_MISMATCH: 7,
  MANIFEST_ROLLBACK: 8,
  MANIFEST_CONDITION_FAILED: 9,
  MANIFEST_MEMBER_MISSING: 10,
  MANIFEST_COMPONENT_UNKNOWN: 11,
};

function reasonOf(error: CoreError): SuitReportReason {
  switch (error.code) {
    case 'MANIFEST_MALFORMED':
      return 'cbor-parse';
    case 'MANIFEST_UNSUPPORTED':
      if ('parameter' in error.details) return 'parameter-unsupported';
      return /algorithm/.test(String(error.details.reason ?? ''))
        ? 'alg-unsupported'
        : 'command-unsupported';
    case 'MANIFEST_SIGNATURE_INVALID':
    case 'MANIFEST_UNTRUSTED_KEY':
    case 'MANIFEST_DIGEST_MISMATCH':
      return 'unauthorised';
    case 'MANIFEST_VENDOR_MISMATCH':
    case 'MANIFEST_CLASS_MISMATCH':
    case 'MANIFEST_CONDITION_FAILED':
    case 'MANIFEST_ROLLBACK':
      return 'condition-failed';
    case 'MANIFEST_MEMBER_MISSING':
      return 'severing-unsupported';
    case 'MANIFEST_COMPONENT_UNKNOWN':
      return 'component-unsupported';
    default:
      return 'operation-failed';
  }
}

/**
 * The failure report for an error of processEnvelope (or of installing its plan): which command
 * failed (section and position from the error's details) and why.
 *
 * @example
 * try { processEnvelope(bytes, opts) } catch (e) { if (e instanceof CoreError) send(encodeSuitReport(reportFromError(e, { manifestDigest }))) }
 */
export function reportFromError(
  error: CoreError,
  reference: { manifestDigest: SuitDigest; manifestUri?: string; nonce?: Uint8Array },
): SuitReport {
  const d = error.details;
  const record: SuitRecord = {
    manifestId: [],
    section: typeof d.section === 'string' ? (SECTION_KEYS[d.section] ?? 0) : 0,
    offset: typeof d.position === 'number' ? d.position : 0,
    componentIndex: typeof d.componentIndex === 'number' ? d.componentIndex : 0,
    properties: new Map(),
  };
  return {
    reference: {
      manifestDigest: reference.manifestDigest,
      ...(reference.manifestUri ? { manifestUri: reference.manifestUri } : {}),
    },
    ...(reference.nonce ? { nonce: reference.nonce } : {}),
    records: [record],
    result: { code: RESULT_CODES[error.code] ?? 0, record, reason: reasonOf(error) },
  };
}

/** The success report of an installed manifest. */
export function successReport(reference: {
  manifestDigest: SuitDigest;
  manifestUri?: string;
  nonce?: Uint8Array;
}): SuitReport {
  return {
    reference: {
      manifestDigest: reference.manifestDigest,
      ...(reference.manifestUri ? { manifestUri: reference.manifestUri } : {}),
    },
    ...(reference.nonce ? { nonce: reference.nonce } : {}),
    records: [],
    result: true,
  };
}

function recordToCbor(r: SuitRecord): CborValue {
  return [
    [...r.manifestId],
    r.section,
    r.offset,
    r.componentIndex,
    new CborMap([...r.properties.entries()]),
  ];
}

/** Deterministic CBOR of a SUIT_Report. */
export function encodeSuitReport(report: SuitReport): Uint8Array {
  const ref: CborValue[] = [];
  if (report.reference.manifestUri !== undefined) ref.push(report.reference.manifestUri);
  ref.push([report.reference.manifestDigest.algorithm, report.reference.manifestDigest.bytes]);
  const entries: [CborValue, CborValue][] = [
    [K.reference, ref],
    [K.records, report.records.map(recordToCbor)],
    [
      K.result,
      report.result === true
        ? true
        : CborMap.of(
            [K.resultCode, report.result.code],
            [K.resultRecord, recordToCbor(report.result.record)],
            [K.resultReason, SUIT_REPORT_REASONS.indexOf(report.result.reason)],
          ),
    ],
  ];
  if (report.nonce) entries.push([K.nonce, report.nonce]);
  return encodeCbor(new CborMap(entries));
}

function bad(reason: string): never {
  throw new CoreError('MANIFEST_MALFORMED', `malformed SUIT report: ${reason}`, {
    details: { reason },
  });
}

function uintOf(v: CborValue | undefined, what: string): number {
  if (typeof v !== 'number' || v < 0) bad(`${what} must be an unsigned integer`);
  return v;
}

function recordFromCbor(v: CborValue | undefined): SuitRecord {
  if (!Array.isArray(v) || v.length < 5)
    bad('a record is [manifest-id, section, offset, component-index, properties]');
  const [id, section, offset, componentIndex, properties] = v as readonly CborValue[];
  if (!Array.isArray(id)) bad('record manifest-id must be an array');
  if (typeof section !== 'number') bad('record section must be an integer');
  if (!(properties instanceof CborMap)) bad('record properties must be a map');
  const props = new Map<number, CborValue>();
  for (const [k, x] of properties.entries) {
    if (typeof k !== 'number') bad('record property keys are integers');
    props.set(k, x);
  }
  return {
    manifestId: (id as readonly CborValue[]).map((x) => uintOf(x, 'manifest-id element')),
    section,
    offset: uintOf(offset, 'record offset'),
    componentIndex: uintOf(componentIndex, 'record component-index'),
    properties: props,
  };
}

/** Decodes a SUIT_Report (strictly; MANIFEST_MALFORMED on bad input). System-property claims are skipped. */
export function decodeSuitReport(bytes: Uint8Array): SuitReport {
  const map = decodeCbor(bytes, { context: 'SUIT report', limits: { maxBytes: 64 * 1024 } });
  if (!(map instanceof CborMap)) bad('a report is a map');
  const ref = map.get(K.reference);
  if (!Array.isArray(ref) || ref.length < 1 || ref.length > 2)
    bad('suit-reference must be [?uri, digest]');
  const refList = ref as readonly CborValue[];
  const uri = refList.length === 2 ? refList[0] : undefined;
  if (uri !== undefined && typeof uri !== 'string') bad('manifest uri must be text');
  const dg = refList[refList.length - 1];
  if (
    !Array.isArray(dg) ||
    dg.length !== 2 ||
    typeof dg[0] !== 'number' ||
    !(dg[1] instanceof Uint8Array)
  )
    bad('manifest digest must be a SUIT_Digest');
  const nonce = map.get(K.nonce);
  if (nonce !== undefined && !(nonce instanceof Uint8Array)) bad('nonce must be a byte string');
  const recordsValue = map.get(K.records);
  if (!Array.isArray(recordsValue)) bad('records must be an array');
  const records = (recordsValue as readonly CborValue[])
    .filter((r) => Array.isArray(r))
    .map(recordFromCbor);
  const resultValue = map.get(K.result);
  let result: SuitReport['result'];
  if (resultValue === true) result = true;
  else if (resultValue instanceof CborMap) {
    const code = resultValue.get(K.resultCode);
    if (typeof code !== 'number') bad('result code must be an integer');
    const reasonIndex = uintOf(resultValue.get(K.resultReason), 'result reason');
    const reason = SUIT_REPORT_REASONS[reasonIndex];
    if (!reason) bad(`unknown result reason ${reasonIndex}`);
    result = { code, record: recordFromCbor(resultValue.get(K.resultRecord)), reason };
  } else bad('result must be true or a map');
  return {
    reference: {
      manifestDigest: { algorithm: dg[0] as number, bytes: dg[1] as Uint8Array },
      ...(uri !== undefined ? { manifestUri: uri } : {}),
    },
    ...(nonce !== undefined ? { nonce } : {}),
    records,
    result,
  };
}
