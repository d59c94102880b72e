import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import { groupsByName } from '../groups/group.repository.js';
import {
  countMatchingDevices,
  MAX_GROUP_NESTING,
  type ResolvedFilter,
  type ResolvedGroup,
} from './filter.repository.js';
import { type DeviceFilter, type FilterPosition, parseFilter } from './parse-filter.js';

/**
 * Target filters: parses and checks a filter (parse-filter.ts), resolves the groups it names
 * (dynamic groups' saved filters, nested at most {@link MAX_GROUP_NESTING} deep, cycles refused),
 * and hands the result to the SQL compiler (filter.repository.ts). Used by the device list, the
 * device count and groups (later by campaigns).
 */
export class DeviceFilterService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date,
  ) {}

  /** The filter checked and its groups resolved; typed FILTER_* errors with a position. */
  async resolve(tenantId: string, source: string): Promise<ResolvedFilter> {
    const filter = parseFilter(source, { now: this.now() });
    const groups = new Map<string, ResolvedGroup>();
    await this.#resolveGroups(tenantId, filter, groups, [], undefined);
    return { filter, groups };
  }

  /** How many of the tenant's devices match `source`. */
  async count(tenantId: string, source: string): Promise<number> {
    return countMatchingDevices(this.db, tenantId, await this.resolve(tenantId, source));
  }

  async #resolveGroups(
    tenantId: string,
    filter: DeviceFilter,
    groups: Map<string, ResolvedGroup>,
    chain: readonly string[],
    // Errors in a nested group's filter point at where the top-level filter names that group.
    at: FilterPosition | undefined,
  ): Promise<void> {
    const refs = groupRefs(filter);
    const names = [...new Set(refs.map((r) => r.group))];
    const found = new Map(
      (await groupsByName(this.db, tenantId, names)).map((g) => [g.name, g] as const),
    );
    for (const ref of refs) {
      const where = at ?? ref.position;
      const fail = (message: string) =>
        new ServerError(
          'FILTER_INVALID',
          `${message} (line ${where.line}, column ${where.column})`,
          {
            details: { position: where },
          },
        );
      if (chain.includes(ref.group))
        throw fail(`group ${ref.group} refers to itself through ${chain.join(' → ')}`);
      if (groups.has(ref.group)) continue;
      const group = found.get(ref.group);
      if (group === undefined) throw fail(`there is no group named ${JSON.stringify(ref.group)}`);
      if (group.kind === 'static' || group.filter === null) {
        groups.set(ref.group, { kind: 'static', id: group.id });
        continue;
      }
      if (chain.length + 1 >= MAX_GROUP_NESTING)
        throw fail(`groups nest more than ${MAX_GROUP_NESTING} deep`);
      let inner: DeviceFilter;
      try {
        inner = parseFilter(group.filter, { now: this.now() });
      } catch {
        throw fail(`the filter of group ${ref.group} is no longer valid`);
      }
      await this.#resolveGroups(tenantId, inner, groups, [...chain, ref.group], where);
      groups.set(ref.group, { kind: 'dynamic', filter: inner });
    }
  }
}

/** The groups a filter names (`"x" in device.groups`), with where. */
export function groupRefs(
  filter: DeviceFilter,
): Array<{ group: string; position: FilterPosition }> {
  switch (filter.kind) {
    case 'and':
    case 'or':
      return [...groupRefs(filter.left), ...groupRefs(filter.right)];
    case 'not':
      return groupRefs(filter.operand);
    case 'in-group':
      return [{ group: filter.group, position: filter.position }];
    default:
      return [];
  }
}
