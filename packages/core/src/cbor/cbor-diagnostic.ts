import { decodeCbor } from './cbor-decode.js';
import { CborMap, CborTag, type CborValue } from './cbor-types.js';

export interface DiagnosticOptions {
  /** Show byte strings that hold well-formed CBOR as `<< … >>` (as SUIT's examples do). Default true. */
  readonly expandEmbedded?: boolean;
  /** Indentation step; 0 prints on one line. Default 2. */
  readonly indent?: number;
}

/**
 * RFC 8949 §8 diagnostic notation of a decoded value (used by `updraft manifest inspect`).
 *
 * @example
 * toDiagnostic(decodeCbor(envelopeBytes)) // '107({\n  2: << [ … ] >>, … })'
 */
export function toDiagnostic(value: CborValue, options: DiagnosticOptions = {}): string {
  const expand = options.expandEmbedded ?? true;
  const step = options.indent ?? 2;
  const nl = (level: number) => (step === 0 ? ' ' : `\n${' '.repeat(level * step)}`);

  const show = (v: CborValue, level: number): string => {
    if (v instanceof Uint8Array) {
      if (expand && v.length > 1) {
        const inner = tryDecode(v);
        if (
          inner !== NOT_CBOR &&
          typeof inner === 'object' &&
          inner !== null &&
          !(inner instanceof Uint8Array)
        ) {
          return `<< ${show(inner, level)} >>`;
        }
      }
      return `h'${Buffer.from(v).toString('hex')}'`;
    }
    if (v instanceof CborTag) return `${v.tag}(${show(v.value, level)})`;
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[${v.map((x) => nl(level + 1) + show(x, level + 1)).join(',')}${nl(level)}]`;
    }
    if (v instanceof CborMap) {
      if (v.size === 0) return '{}';
      const body = v.entries.map(
        ([k, x]) => `${nl(level + 1)}${show(k, level + 1)}: ${show(x, level + 1)}`,
      );
      return `{${body.join(',')}${nl(level)}}`;
    }
    if (typeof v === 'string') return JSON.stringify(v);
    if (v === undefined) return 'undefined';
    return String(v);
  };
  return show(value, 0);
}

const NOT_CBOR = Symbol('not-cbor');

function tryDecode(bytes: Uint8Array): CborValue | typeof NOT_CBOR {
  try {
    return decodeCbor(bytes);
  } catch {
    return NOT_CBOR;
  }
}
