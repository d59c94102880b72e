import { type ASTNode, parse } from '@marcbachmann/cel-js';
import { ServerError } from '../../errors.js';
import { semverKey } from './semver-key.js';

/** Bounds of a target filter (docs/filters.md). */
export const FILTER_LIMITS = {
  /** Characters of source. */
  maxLength: 4096,
  /** Nesting of the parsed expression. */
  maxDepth: 24,
  /** Elements of one list literal. */
  maxListElements: 100,
  /** Characters of one string literal. */
  maxStringLength: 256,
} as const;

/** Where in the source a problem is: 0-based offset, 1-based line and column. */
export interface FilterPosition {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

/** The comparison operators of the subset. */
export const COMPARISONS = ['==', '!=', '<', '<=', '>', '>='] as const;
export type Comparison = (typeof COMPARISONS)[number];

/** A device-side value a filter can test (one side of every comparison). */
export type FilterField =
  | { readonly kind: 'name' }
  | { readonly kind: 'class' }
  | { readonly kind: 'attribute'; readonly name: string }
  | { readonly kind: 'component-version'; readonly componentId: string }
  | { readonly kind: 'component-semver'; readonly componentId: string }
  | { readonly kind: 'component-sequence'; readonly componentId: string }
  | { readonly kind: 'time'; readonly column: 'lastSeen' | 'registeredAt' };

/** A constant a field is compared with, already normalised (semver → key, time → ISO text). */
export type FilterConstant =
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'number'; readonly value: number }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'semver'; readonly value: string; readonly key: string }
  | { readonly type: 'time'; readonly value: string };

/**
 * A checked filter: the supported subset of CEL as a small tree. Every leaf is two-valued (a
 * comparison with an absent attribute, component or time is false), so `!` and `||` never see an
 * unknown (docs/filters.md, "Absent values").
 */
export type DeviceFilter =
  | { readonly kind: 'and' | 'or'; readonly left: DeviceFilter; readonly right: DeviceFilter }
  | { readonly kind: 'not'; readonly operand: DeviceFilter }
  | { readonly kind: 'const'; readonly value: boolean }
  | {
      readonly kind: 'compare';
      readonly field: FilterField;
      readonly op: Comparison;
      readonly value: FilterConstant;
    }
  | { readonly kind: 'in-list'; readonly field: FilterField; readonly values: FilterConstant[] }
  | { readonly kind: 'has-tag'; readonly tag: string }
  | {
      readonly kind: 'in-group';
      readonly group: string;
      /** Where the group is named (for errors raised when groups are resolved). */
      readonly position: FilterPosition;
    }
  | { readonly kind: 'has-attribute'; readonly name: string }
  | { readonly kind: 'has-component'; readonly componentId: string }
  | { readonly kind: 'starts-with'; readonly field: FilterField; readonly prefix: string };

/** What a filter's `now` means (injected clock: filters are compiled, never evaluated, by time). */
export interface ParseFilterOptions {
  readonly now: Date;
}

type Where = { readonly start: number };

/** The line/column of `offset` in `source`. */
export function positionOf(source: string, offset: number): FilterPosition {
  const before = source.slice(0, Math.max(0, Math.min(offset, source.length)));
  const lines = before.split('\n');
  return {
    offset,
    line: lines.length,
    column: (lines[lines.length - 1]?.length ?? 0) + 1,
  };
}

function failure(
  code: 'FILTER_INVALID' | 'FILTER_UNSUPPORTED',
  source: string,
  offset: number,
  message: string,
): ServerError {
  const position = positionOf(source, offset);
  return new ServerError(code, `${message} (line ${position.line}, column ${position.column})`, {
    details: { position },
  });
}

/**
 * Parses a target filter with the CEL parser and checks it against the supported subset
 * (docs/filters.md). Throws `FILTER_INVALID` (not CEL, or a bad literal) or `FILTER_UNSUPPORTED`
 * (valid CEL outside the subset), each with `details.position`; nothing outside the subset is
 * ever kept, so a filter is compiled whole or refused.
 *
 * @example parseFilter('device.class == "thermo-v2" && "beta" in device.tags', { now: new Date() })
 */
export function parseFilter(source: string, options: ParseFilterOptions): DeviceFilter {
  if (source.length > FILTER_LIMITS.maxLength)
    throw failure(
      'FILTER_INVALID',
      source,
      FILTER_LIMITS.maxLength,
      `a filter has at most ${FILTER_LIMITS.maxLength} characters`,
    );
  if (source.trim() === '') throw failure('FILTER_INVALID', source, 0, 'the filter is empty');
  let ast: ASTNode;
  try {
    ast = parse(source).ast;
  } catch (error) {
    const e = error as { summary?: unknown; message?: unknown; range?: { start?: unknown } };
    const offset = typeof e.range?.start === 'number' ? e.range.start : 0;
    const summary =
      typeof e.summary === 'string'
        ? e.summary
        : String(e.message ?? 'syntax error').split('\n')[0];
    throw failure('FILTER_INVALID', source, offset, `not a CEL expression: ${summary}`);
  }
  return new Checker(source, options.now).predicate(ast, 0);
}

class Checker {
  constructor(
    private readonly source: string,
    private readonly now: Date,
  ) {}

  predicate(node: ASTNode, depth: number): DeviceFilter {
    this.#depth(node, depth);
    const d = depth + 1;
    switch (node.op) {
      case '&&':
      case '||':
        return {
          kind: node.op === '&&' ? 'and' : 'or',
          left: this.predicate(node.args[0], d),
          right: this.predicate(node.args[1], d),
        };
      case '!_':
        return { kind: 'not', operand: this.predicate(node.args, d) };
      case 'value':
        if (typeof node.args === 'boolean') return { kind: 'const', value: node.args };
        throw this.#unsupported(node, 'a filter must be a condition (true or false)');
      case '==':
      case '!=':
      case '<':
      case '<=':
      case '>':
      case '>=':
        return this.#comparison(node.op, node.args[0], node.args[1], node, d);
      case 'in':
        return this.#membership(node.args[0], node.args[1], d);
      case 'call':
        if (node.args[0] === 'has' && node.args[1].length === 1)
          return this.#has(node.args[1][0] as ASTNode, node);
        throw this.#unsupported(node, `function ${node.args[0]}() is not supported here`);
      case 'rcall': {
        const [name, target, args] = node.args;
        if (name === 'startsWith' && args.length === 1) {
          const field = this.#field(target, d);
          if (!STRING_FIELDS.has(field.kind) || field.kind === 'component-semver')
            throw this.#unsupported(target, 'startsWith() applies to a text value');
          return {
            kind: 'starts-with',
            field,
            prefix: this.#string(args[0] as ASTNode, 'startsWith() takes a string literal'),
          };
        }
        throw this.#unsupported(node, `method ${name}() is not supported`);
      }
      default:
        throw this.#unsupported(
          node,
          `${describe(node)} is not a supported condition (compare it, or use in, has() or startsWith())`,
        );
    }
  }

  #comparison(op: Comparison, a: ASTNode, b: ASTNode, node: ASTNode, d: number): DeviceFilter {
    // One side is a device field, the other a constant; a constant on the left is flipped.
    let field: ASTNode = a;
    let constant: ASTNode = b;
    let effective = op;
    if (!isDeviceSide(a) && isDeviceSide(b)) {
      field = b;
      constant = a;
      effective = FLIPPED[op];
    }
    if (!isDeviceSide(field))
      throw this.#unsupported(node, 'a comparison needs a device field on one side');
    const f = this.#field(field, d);
    const value = this.#constant(constant, f, d);
    if (value.type !== typeOfField(f, value.type))
      throw this.#unsupported(
        constant,
        `${fieldLabel(f)} is compared with a ${typeOfField(f, value.type)}, not a ${value.type}`,
      );
    if (
      (value.type === 'string' || value.type === 'bool') &&
      effective !== '==' &&
      effective !== '!='
    )
      throw this.#unsupported(
        node,
        `only == and != compare ${value.type === 'string' ? 'text (order versions with semver())' : 'booleans'}`,
      );
    return { kind: 'compare', field: f, op: effective, value };
  }

  #membership(element: ASTNode, collection: ASTNode, d: number): DeviceFilter {
    const path = pathOf(collection);
    if (
      path?.length === 2 &&
      path[0] === 'device' &&
      (path[1] === 'tags' || path[1] === 'groups')
    ) {
      const value = this.#string(
        element,
        `the value looked up in device.${path[1]} must be a string literal`,
      );
      return path[1] === 'tags'
        ? { kind: 'has-tag', tag: value }
        : { kind: 'in-group', group: value, position: positionOf(this.source, element.start) };
    }
    if (collection.op !== 'list')
      throw this.#unsupported(
        collection,
        '`in` takes a list literal, device.tags or device.groups on its right',
      );
    if (collection.args.length > FILTER_LIMITS.maxListElements)
      throw this.#invalid(
        collection,
        `a list has at most ${FILTER_LIMITS.maxListElements} elements`,
      );
    if (!isDeviceSide(element))
      throw this.#unsupported(element, '`in` needs a device field on its left');
    const field = this.#field(element, d);
    const values = collection.args.map((item) => {
      const value = this.#constant(item, field, d + 1);
      if (value.type !== typeOfField(field, value.type))
        throw this.#unsupported(item, `${fieldLabel(field)} cannot hold a ${value.type}`);
      return value;
    });
    return { kind: 'in-list', field, values };
  }

  #has(arg: ASTNode, node: ASTNode): DeviceFilter {
    const path = pathOf(arg);
    if (arg.op === '.' && path?.length === 3 && path[0] === 'device') {
      if (path[1] === 'attributes')
        return { kind: 'has-attribute', name: this.#attributeName(arg, path[2] as string) };
      if (path[1] === 'components')
        return { kind: 'has-component', componentId: path[2] as string };
    }
    throw this.#unsupported(node, 'has() takes device.attributes.<name> or device.components.<id>');
  }

  #field(node: ASTNode, d: number): FilterField {
    this.#depth(node, d);
    if (node.op === 'call' && node.args[0] === 'semver' && node.args[1].length === 1) {
      const inner = this.#field(node.args[1][0] as ASTNode, d + 1);
      if (inner.kind !== 'component-version')
        throw this.#unsupported(
          node,
          'semver() takes device.components.<id>.version or a string literal',
        );
      return { kind: 'component-semver', componentId: inner.componentId };
    }
    const path = pathOf(node);
    if (path === undefined || path[0] !== 'device')
      throw this.#unsupported(node, `${describe(node)} is not a device field`);
    const [, group, key, leaf] = path;
    if (path.length === 2 && group === 'name') return { kind: 'name' };
    if (path.length === 2 && group === 'class') return { kind: 'class' };
    if (path.length === 2 && group === 'lastSeen') return { kind: 'time', column: 'lastSeen' };
    if (path.length === 2 && group === 'registeredAt')
      return { kind: 'time', column: 'registeredAt' };
    if (path.length === 3 && group === 'attributes' && typeof key === 'string')
      return { kind: 'attribute', name: this.#attributeName(node, key) };
    if (path.length === 4 && group === 'components' && typeof key === 'string') {
      if (leaf === 'version') return { kind: 'component-version', componentId: key };
      if (leaf === 'sequenceNumber') return { kind: 'component-sequence', componentId: key };
    }
    throw this.#unsupported(
      node,
      `${path.join('.')} is not a device field (see docs/filters.md for the variables)`,
    );
  }

  #constant(node: ASTNode, field: FilterField, d: number): FilterConstant {
    this.#depth(node, d);
    if (node.op === 'value') {
      const v = node.args;
      if (typeof v === 'string') return { type: 'string', value: this.#string(node, '') };
      if (typeof v === 'boolean') return { type: 'bool', value: v };
      if (typeof v === 'bigint') {
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(-Number.MAX_SAFE_INTEGER))
          throw this.#invalid(node, 'the number is too large');
        return { type: 'number', value: Number(v) };
      }
      if (typeof v === 'number' && Number.isFinite(v)) return { type: 'number', value: v };
      throw this.#unsupported(node, 'only strings, numbers and booleans are supported constants');
    }
    if (node.op === '-_' && node.args.op === 'value' && typeof node.args.args !== 'string') {
      const inner = this.#constant(node.args, field, d + 1);
      if (inner.type === 'number') return { type: 'number', value: -inner.value };
    }
    if (node.op === 'call' && node.args[1].length === 1) {
      const [name, [arg]] = node.args;
      if (name === 'semver') {
        const text = this.#string(arg as ASTNode, 'semver() of a constant takes a string literal');
        const key = semverKey(text);
        if (key === undefined)
          throw this.#invalid(arg as ASTNode, `${JSON.stringify(text)} is not a semantic version`);
        return { type: 'semver', value: text, key };
      }
      if (name === 'timestamp') {
        const text = this.#string(arg as ASTNode, 'timestamp() takes a string literal');
        if (!RFC3339.test(text) || Number.isNaN(Date.parse(text)))
          throw this.#invalid(
            arg as ASTNode,
            `${JSON.stringify(text)} is not an RFC 3339 timestamp`,
          );
        return { type: 'time', value: new Date(text).toISOString() };
      }
    }
    if (node.op === 'id' && node.args === 'now')
      return { type: 'time', value: this.now.toISOString() };
    if (
      (node.op === '-' || node.op === '+') &&
      node.args[0].op === 'id' &&
      node.args[0].args === 'now'
    ) {
      const duration = node.args[1];
      if (
        duration.op === 'call' &&
        duration.args[0] === 'duration' &&
        duration.args[1].length === 1
      ) {
        const arg = duration.args[1][0] as ASTNode;
        const ms = parseDuration(this.#string(arg, 'duration() takes a string literal'));
        if (ms === undefined) throw this.#invalid(arg, 'not a duration (e.g. "90s", "15m", "24h")');
        const at = this.now.getTime() + (node.op === '-' ? -ms : ms);
        if (!Number.isFinite(at) || Math.abs(at) > 8.64e15)
          throw this.#invalid(node, 'the time is out of range');
        return { type: 'time', value: new Date(at).toISOString() };
      }
    }
    throw this.#unsupported(
      node,
      `${describe(node)} is not a supported constant (strings, numbers, booleans, semver("…"), timestamp("…"), now, now - duration("…"))`,
    );
  }

  #string(node: ASTNode, message: string): string {
    if (node.op !== 'value' || typeof node.args !== 'string')
      throw this.#unsupported(node, message);
    const value = node.args;
    // PostgreSQL text cannot hold NUL; refuse it everywhere so both databases agree.
    if (value.includes('\0')) throw this.#invalid(node, 'a string may not contain NUL');
    if (value.length > FILTER_LIMITS.maxStringLength)
      throw this.#invalid(node, `a string has at most ${FILTER_LIMITS.maxStringLength} characters`);
    if (LONE_SURROGATE.test(value))
      throw this.#invalid(node, 'a string must be well-formed Unicode');
    return value;
  }

  #attributeName(node: ASTNode, name: string): string {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name))
      throw this.#invalid(node, `${JSON.stringify(name)} is not an attribute name`);
    return name;
  }

  #depth(node: ASTNode, depth: number): void {
    if (depth > FILTER_LIMITS.maxDepth)
      throw this.#invalid(node, `the filter nests deeper than ${FILTER_LIMITS.maxDepth}`);
  }

  #unsupported(node: Where, message: string): ServerError {
    return failure('FILTER_UNSUPPORTED', this.source, node.start, message);
  }

  #invalid(node: Where, message: string): ServerError {
    return failure('FILTER_INVALID', this.source, node.start, message);
  }
}

const FLIPPED: Record<Comparison, Comparison> = {
  '==': '==',
  '!=': '!=',
  '<': '>',
  '<=': '>=',
  '>': '<',
  '>=': '<=',
};

const STRING_FIELDS = new Set<FilterField['kind']>([
  'name',
  'class',
  'attribute',
  'component-version',
]);

// A UTF-16 surrogate without its pair: not storable as text in PostgreSQL.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

const DURATION_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** Milliseconds of a CEL duration string (`1h30m`, `90s`, `1.5h`, `250ms`), or undefined. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d{1,9}(\.\d{1,9})?(h|ms|m|s))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g))
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
  return total;
}

/** The type a field holds; an attribute holds whatever type it is compared with. */
function typeOfField(field: FilterField, wanted: FilterConstant['type']): FilterConstant['type'] {
  switch (field.kind) {
    case 'name':
    case 'class':
    case 'component-version':
      return 'string';
    case 'component-semver':
      return 'semver';
    case 'component-sequence':
      return 'number';
    case 'time':
      return 'time';
    case 'attribute':
      return wanted === 'string' || wanted === 'number' || wanted === 'bool' ? wanted : 'string';
  }
}

function fieldLabel(field: FilterField): string {
  switch (field.kind) {
    case 'attribute':
      return `device.attributes.${field.name}`;
    case 'component-version':
      return `device.components.${field.componentId}.version`;
    case 'component-semver':
      return `semver(device.components.${field.componentId}.version)`;
    case 'component-sequence':
      return `device.components.${field.componentId}.sequenceNumber`;
    case 'time':
      return `device.${field.column}`;
    default:
      return `device.${field.kind}`;
  }
}

/** `device.a.b` / `device.a["b"]` as a path, or undefined when `node` is anything else. */
function pathOf(node: ASTNode): Array<string> | undefined {
  if (node.op === 'id') return [node.args];
  if (node.op === '.') {
    const head = pathOf(node.args[0]);
    return head && [...head, node.args[1]];
  }
  if (node.op === '[]' && node.args[1].op === 'value' && typeof node.args[1].args === 'string') {
    const head = pathOf(node.args[0]);
    return head && [...head, node.args[1].args];
  }
  return undefined;
}

function isDeviceSide(node: ASTNode): boolean {
  if (node.op === 'call' && node.args[0] === 'semver')
    return node.args[1].some((a) => isDeviceSide(a as ASTNode));
  return pathOf(node)?.[0] === 'device';
}

function describe(node: ASTNode): string {
  const path = pathOf(node);
  if (path !== undefined) return path.join('.');
  switch (node.op) {
    case 'call':
      return `${node.args[0]}()`;
    case 'rcall':
      return `.${node.args[0]}()`;
    case 'id':
      return `the name ${node.args}`;
    case 'value':
      return 'a constant';
    case 'list':
      return 'a list';
    case 'map':
      return 'a map';
    case '?:':
      return 'the conditional operator';
    default:
      return `the operator ${node.op.replace('_', '')}`;
  }
}
