import { Environment } from '@marcbachmann/cel-js';
import type { ResolvedFilter } from '../features/filters/filter.repository.js';
import type {
  Comparison,
  DeviceFilter,
  FilterConstant,
  FilterField,
} from '../features/filters/parse-filter.js';
import { semverKey } from '../features/filters/semver-key.js';

/** A device as the in-memory reference evaluator sees it. */
export interface OracleDevice {
  readonly name: string;
  readonly className: string;
  readonly tags: readonly string[];
  /** Static groups the device is listed in. */
  readonly staticGroups: readonly string[];
  /** Effective attributes (custom over reported). */
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly components: Readonly<
    Record<string, { readonly version: string | null; readonly sequenceNumber: number | null }>
  >;
  readonly lastSeen: string | null;
  readonly registeredAt: string;
}

/**
 * Reference evaluation of a checked filter over one device, written independently of the SQL
 * compiler (and comparing versions with {@link compareSemver}, not the stored sort key): the
 * oracle the SQL results are checked against.
 */
export function evaluateFilter(resolved: ResolvedFilter, device: OracleDevice): boolean {
  const run = (f: DeviceFilter): boolean => {
    switch (f.kind) {
      case 'and':
        return run(f.left) && run(f.right);
      case 'or':
        return run(f.left) || run(f.right);
      case 'not':
        return !run(f.operand);
      case 'const':
        return f.value;
      case 'compare':
        return compare(device, f.field, f.op, f.value);
      case 'in-list':
        return f.values.some((v) => compare(device, f.field, '==', v));
      case 'has-tag':
        return device.tags.includes(f.tag);
      case 'in-group': {
        const g = resolved.groups.get(f.group);
        if (!g) throw new Error(`unresolved group ${f.group}`);
        return g.kind === 'static' ? device.staticGroups.includes(f.group) : run(g.filter);
      }
      case 'has-attribute':
        return Object.hasOwn(device.attributes, f.name);
      case 'has-component':
        return Object.hasOwn(device.components, f.componentId);
      case 'starts-with': {
        const v = read(device, f.field);
        return typeof v === 'string' && v.startsWith(f.prefix);
      }
    }
  };
  return run(resolved.filter);
}

function read(d: OracleDevice, field: FilterField): string | number | boolean | null {
  switch (field.kind) {
    case 'name':
      return d.name;
    case 'class':
      return d.className;
    case 'attribute':
      return Object.hasOwn(d.attributes, field.name) ? (d.attributes[field.name] ?? null) : null;
    case 'component-version':
    case 'component-semver':
      return Object.hasOwn(d.components, field.componentId)
        ? (d.components[field.componentId]?.version ?? null)
        : null;
    case 'component-sequence':
      return Object.hasOwn(d.components, field.componentId)
        ? (d.components[field.componentId]?.sequenceNumber ?? null)
        : null;
    case 'time':
      return field.column === 'lastSeen' ? d.lastSeen : d.registeredAt;
  }
}

function compare(d: OracleDevice, field: FilterField, op: Comparison, c: FilterConstant): boolean {
  const v = read(d, field);
  if (v === null) return false;
  let order: number;
  if (c.type === 'semver') {
    if (typeof v !== 'string') return false;
    const o = compareSemver(v, c.value);
    if (o === undefined) return false;
    order = o;
  } else if (c.type === 'time') {
    order = Math.sign(Date.parse(String(v)) - Date.parse(c.value));
  } else {
    // Another type (only attributes can have one): unequal, and not ordered.
    if (typeof v !== typeof c.value) return op === '!=';
    order = v === c.value ? 0 : (v as number) < (c.value as number) ? -1 : 1;
  }
  return {
    '==': order === 0,
    '!=': order !== 0,
    '<': order < 0,
    '<=': order <= 0,
    '>': order > 0,
    '>=': order >= 0,
  }[op];
}

/** semver 2.0.0 precedence of two versions; undefined when either is not a semantic version. */
export function compareSemver(a: string, b: string): number | undefined {
  const pa = parts(a);
  const pb = parts(b);
  if (!pa || !pb) return undefined;
  for (let i = 0; i < 3; i++) {
    const x = BigInt(pa.core[i] as string);
    const y = BigInt(pb.core[i] as string);
    if (x !== y) return x < y ? -1 : 1;
  }
  if (pa.pre.length === 0 || pb.pre.length === 0)
    return pa.pre.length === pb.pre.length ? 0 : pa.pre.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.max(pa.pre.length, pb.pre.length); i++) {
    const x = pa.pre[i];
    const y = pb.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) {
      if (BigInt(x) !== BigInt(y)) return BigInt(x) < BigInt(y) ? -1 : 1;
    } else if (xn !== yn) return xn ? -1 : 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function parts(v: string): { core: string[]; pre: string[] } | undefined {
  const m =
    /^(0|[1-9]\d{0,9})\.(0|[1-9]\d{0,9})\.(0|[1-9]\d{0,9})(?:-((?:0|[1-9]\d{0,9}|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d{0,9}|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$/.exec(
      v,
    );
  if (!m) return undefined;
  return { core: [m[1], m[2], m[3]] as string[], pre: m[4] ? m[4].split('.') : [] };
}

const celEnvironment = new Environment({
  unlistedVariablesAreDyn: true,
  homogeneousAggregateLiterals: false,
}).registerFunction('semver(string): string', (version: string) => {
  const key = semverKey(version);
  if (key === undefined) throw new Error(`${version} is not a semantic version`);
  return key;
});

/**
 * The filter evaluated by the CEL library's own evaluator over one device (absent values left out
 * of the context, as CEL has no "absent"): a boolean, or undefined where CEL raises an error (a
 * missing key, no overload). Where it answers, the subset's meaning must agree with it.
 */
export function evaluateWithCel(
  source: string,
  device: OracleDevice,
  now: Date,
): boolean | undefined {
  const components = Object.fromEntries(
    Object.entries(device.components).map(([id, c]) => [
      id,
      {
        ...(c.version === null ? {} : { version: c.version }),
        ...(c.sequenceNumber === null ? {} : { sequenceNumber: c.sequenceNumber }),
      },
    ]),
  );
  const context = {
    now,
    device: {
      name: device.name,
      class: device.className,
      tags: [...device.tags],
      attributes: { ...device.attributes },
      components,
      registeredAt: new Date(device.registeredAt),
      ...(device.lastSeen === null ? {} : { lastSeen: new Date(device.lastSeen) }),
    },
  };
  try {
    const result: unknown = celEnvironment.evaluate(source, context);
    return typeof result === 'boolean' ? result : undefined;
  } catch {
    return undefined;
  }
}
