import { BugError } from '@updraft/core';
import {
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type SqlBool,
  sql,
  type Transaction,
} from 'kysely';
import type { Database } from '../../db/database.js';
import '../devices/device.table.js';
import '../groups/group.table.js';
import type { Comparison, DeviceFilter, FilterConstant, FilterField } from './parse-filter.js';

type Db = Kysely<Database> | Transaction<Database>;
type Eb = ExpressionBuilder<Database, 'devices'>;
type AttributeEb = ExpressionBuilder<Database & { a: Database['device_attributes'] }, 'a'>;

/** How `"name" in device.groups` resolves: a static group's id or a dynamic group's filter. */
export type ResolvedGroup =
  | { readonly kind: 'static'; readonly id: string }
  | { readonly kind: 'dynamic'; readonly filter: DeviceFilter };

/** A filter with the groups it names resolved (by the filter service), ready for SQL. */
export interface ResolvedFilter {
  readonly filter: DeviceFilter;
  readonly groups: ReadonlyMap<string, ResolvedGroup>;
}

const SQL_OPS: Record<Comparison, '=' | '<>' | '<' | '<=' | '>' | '>='> = {
  '==': '=',
  '!=': '<>',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
};

/**
 * The WHERE condition of a checked filter over `devices` (tenant-scoped; every user value is a
 * bound parameter, never SQL text). Each leaf is two-valued (EXISTS, or guarded by IS NOT NULL), so
 * NOT and OR mean what they say for devices lacking an attribute, a component or a time.
 */
export function filterCondition(
  tenantId: string,
  resolved: ResolvedFilter,
): (eb: Eb) => Expression<SqlBool> {
  return (eb) => new FilterSql(eb, tenantId, resolved.groups).build(resolved.filter, 0);
}

/** How many of the tenant's devices match. */
export async function countMatchingDevices(
  db: Db,
  tenantId: string,
  resolved: ResolvedFilter,
): Promise<number> {
  const row = await db
    .selectFrom('devices')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('devices.tenant_id', '=', tenantId)
    .where(filterCondition(tenantId, resolved))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Names of the tenant's devices that match, sorted by code unit (tests and small lists). */
export async function matchingDeviceNames(
  db: Db,
  tenantId: string,
  resolved: ResolvedFilter,
): Promise<string[]> {
  const rows = await db
    .selectFrom('devices')
    .select('devices.name')
    .where('devices.tenant_id', '=', tenantId)
    .where(filterCondition(tenantId, resolved))
    .execute();
  // Sorted here: PostgreSQL would order by the database's collation.
  return rows.map((r) => r.name).sort();
}

/** Groups need not be nested deeper than this; the filter service refuses deeper definitions. */
export const MAX_GROUP_NESTING = 4;

// Child rows (tags, attributes, components, group members) are reached through their device's id
// alone: the outer query is tenant-scoped and device ids are unique. Adding `tenant_id = ?` there
// would steer SQLite's planner to the (tenant_id, name|tag, …) list indexes, scanning every
// device's rows once per device (quadratic), instead of the (device_id, …) primary keys.
class FilterSql {
  constructor(
    private readonly eb: Eb,
    private readonly tenantId: string,
    private readonly groups: ReadonlyMap<string, ResolvedGroup>,
  ) {}

  build(filter: DeviceFilter, nesting: number): Expression<SqlBool> {
    const { eb } = this;
    switch (filter.kind) {
      case 'and':
        return eb.and([this.build(filter.left, nesting), this.build(filter.right, nesting)]);
      case 'or':
        return eb.or([this.build(filter.left, nesting), this.build(filter.right, nesting)]);
      case 'not':
        return eb.not(this.build(filter.operand, nesting));
      case 'const':
        // Comparisons of constants: no boolean literal that differs by dialect.
        return filter.value ? sql<SqlBool>`1 = 1` : sql<SqlBool>`1 = 0`;
      case 'compare':
        return this.#compare(filter.field, filter.op, filter.value);
      case 'in-list':
        if (filter.values.length === 0) return sql<SqlBool>`1 = 0`;
        return eb.or(filter.values.map((v) => this.#compare(filter.field, '==', v)));
      case 'has-tag':
        return eb.exists(
          eb
            .selectFrom('device_tags as t')
            .select(sql`1`.as('one'))
            .whereRef('t.device_id', '=', 'devices.id')
            .where('t.tag', '=', filter.tag),
        );
      case 'in-group': {
        const group = this.groups.get(filter.group);
        if (group === undefined) throw new BugError(`group ${filter.group} was not resolved`);
        if (group.kind === 'dynamic') {
          if (nesting >= MAX_GROUP_NESTING) throw new BugError('groups nest too deeply');
          return this.build(group.filter, nesting + 1);
        }
        return eb.exists(
          eb
            .selectFrom('device_group_members as m')
            .select(sql`1`.as('one'))
            .whereRef('m.device_id', '=', 'devices.id')
            .where('m.group_id', '=', group.id),
        );
      }
      case 'has-attribute':
        return eb.exists(this.#attribute(filter.name));
      case 'has-component':
        return eb.exists(this.#component(filter.componentId));
      case 'starts-with':
        return this.#startsWith(filter.field, filter.prefix);
    }
  }

  #compare(field: FilterField, op: Comparison, value: FilterConstant): Expression<SqlBool> {
    const { eb } = this;
    const o = SQL_OPS[op];
    switch (field.kind) {
      case 'name':
        return eb('devices.name', o, String(value.value));
      case 'class':
        return eb.exists(this.#deviceClass().where('c.name', o, String(value.value)));
      case 'time': {
        const column = field.column === 'lastSeen' ? 'devices.last_seen_at' : 'devices.created_at';
        return eb.and([eb(column, 'is not', null), eb(column, o, String(value.value))]);
      }
      case 'attribute': {
        const type = ATTRIBUTE_TYPE[value.type];
        const matches = (w: AttributeEb, cmp: typeof o) =>
          value.type === 'number'
            ? w(
                sql<number>`case when a.type = 'number' then cast(a.value as double precision) end`,
                cmp,
                value.value,
              )
            : w('a.value', cmp, String(value.value));
        // As in CEL, a value of another type is unequal; ordering it is false (CEL: an error).
        if (op === '!=')
          return eb.exists(
            this.#attribute(field.name).where((w) =>
              w.or([w('a.type', '<>', type), w.and([w('a.type', '=', type), matches(w, '<>')])]),
            ),
          );
        return eb.exists(
          this.#attribute(field.name)
            .where('a.type', '=', type)
            .where((w) => matches(w, o)),
        );
      }
      case 'component-version':
        return eb.exists(
          this.#component(field.componentId)
            .where('dc.version', 'is not', null)
            .where('dc.version', o, String(value.value)),
        );
      case 'component-semver':
        if (value.type !== 'semver') throw new BugError('semver compared with a non-semver');
        return eb.exists(
          this.#component(field.componentId)
            .where('dc.version_key', 'is not', null)
            .where('dc.version_key', o, value.key),
        );
      case 'component-sequence':
        return eb.exists(
          this.#component(field.componentId)
            .where('dc.sequence_number', 'is not', null)
            .where('dc.sequence_number', o, Number(value.value)),
        );
    }
  }

  #startsWith(field: FilterField, prefix: string): Expression<SqlBool> {
    const { eb } = this;
    // substr(…) = prefix, not LIKE: LIKE folds case on SQLite and treats % and _ as wildcards.
    const length = [...prefix].length;
    const head = (ref: string) => sql<string>`substr(${sql.ref(ref)}, 1, ${length})`;
    switch (field.kind) {
      case 'name':
        return eb(head('devices.name'), '=', prefix);
      case 'class':
        return eb.exists(this.#deviceClass().where(head('c.name'), '=', prefix));
      case 'attribute':
        return eb.exists(
          this.#attribute(field.name)
            .where('a.type', '=', 'string')
            .where(head('a.value'), '=', prefix),
        );
      case 'component-version':
        return eb.exists(
          this.#component(field.componentId)
            .where('dc.version', 'is not', null)
            .where(head('dc.version'), '=', prefix),
        );
      default:
        throw new BugError(`startsWith on ${field.kind}`);
    }
  }

  /** The device's effective attribute row: the custom one, else the reported one. */
  #attribute(name: string) {
    const { eb } = this;
    return eb
      .selectFrom('device_attributes as a')
      .select(sql`1`.as('one'))
      .whereRef('a.device_id', '=', 'devices.id')
      .where('a.name', '=', name)
      .where((w) =>
        w.or([
          w('a.source', '=', 'custom'),
          w.not(
            w.exists(
              w
                .selectFrom('device_attributes as ca')
                .select(sql`1`.as('one'))
                .whereRef('ca.device_id', '=', 'a.device_id')
                .whereRef('ca.name', '=', 'a.name')
                .where('ca.source', '=', 'custom'),
            ),
          ),
        ]),
      );
  }

  /** The device's class row. */
  #deviceClass() {
    return this.eb
      .selectFrom('device_classes as c')
      .select(sql`1`.as('one'))
      .whereRef('c.id', '=', 'devices.device_class_id')
      .where('c.tenant_id', '=', this.tenantId);
  }

  #component(componentId: string) {
    return this.eb
      .selectFrom('device_components as dc')
      .select(sql`1`.as('one'))
      .whereRef('dc.device_id', '=', 'devices.id')
      .where('dc.component_id', '=', componentId);
  }
}

const ATTRIBUTE_TYPE: Record<FilterConstant['type'], string> = {
  string: 'string',
  number: 'number',
  bool: 'boolean',
  semver: 'string',
  time: 'string',
};
