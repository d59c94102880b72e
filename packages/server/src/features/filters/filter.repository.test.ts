import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ServerError } from '../../errors.js';
import { evaluateFilter, evaluateWithCel, type OracleDevice } from '../../testing/filter-oracle.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { recordInstalled } from '../actions/action.repository.js';
import {
  createDevices,
  setReportedState,
  touchLastSeen,
  updateCustomAttributes,
} from '../devices/device.repository.js';
import { addMembers, insertGroup } from '../groups/group.repository.js';
import { DeviceFilterService } from './device-filter.service.js';
import { matchingDeviceNames } from './filter.repository.js';

const TENANT = 'ten_default';
const NOW = new Date('2026-12-03T12:00:00.000Z');
/** The app component's id as devices report it (hex of its SUIT component identifier). */
const APP = '814100';
const BOOT = '814101';

/** The seeded fleet, as the oracle sees it. */
const FLEET: OracleDevice[] = [
  dev(
    't-01',
    'thermo-v2',
    ['beta'],
    { region: 'eu' },
    { [APP]: ['3.6.9', 5] },
    '2026-12-03T11:30:00.000Z',
  ),
  dev(
    't-02',
    'thermo-v2',
    ['beta'],
    { region: 'us' },
    { [APP]: ['1.10.0', 2] },
    '2026-12-01T00:00:00.000Z',
  ),
  dev('t-03', 'thermo-v2', ['beta'], { region: 'eu', lab: true }, { [APP]: ['3.0.0', 3] }, null),
  dev('t-04', 'thermo-v2', [], { region: 'eu' }, { [APP]: ['3.0.0', 3] }, null),
  dev('t-05', 'thermo-v2', ['beta'], { region: 'apac' }, { [APP]: ['3.0.0', 3] }, null),
  dev('t-06', 'thermo-v2', ['beta'], { region: 'eu' }, { [APP]: ['3.7.0', 7] }, null),
  dev('t-07', 'thermo-v2', ['beta'], { region: 'eu' }, { [APP]: ['3.7.0-rc.1', 6] }, null),
  dev('t-08', 'thermo-v1', ['beta'], { region: 'eu' }, { [APP]: ['1.0.0', 1] }, null),
  dev(
    't-09',
    'thermo-v2',
    ['beta', 'canary'],
    { region: 'us', floor: 3 },
    { [APP]: ['1.9.0', 1], [BOOT]: ['0.1.0', 1] },
    '2026-11-01T00:00:00.000Z',
  ),
  dev('t-10', 'thermo-v2', ['beta'], { region: 'eu' }, { [APP]: ['not-a-version', 1] }, null),
  dev(
    'g-01',
    'gateway',
    ['Beta'],
    { region: 'EU', floor: 12, 'a.b': "O'Brien; drop table devices" },
    {},
    null,
  ),
  dev("g-'02", 'gateway', ['%', '_'], { floor: 3.5, on: false }, { [APP]: [null, null] }, null),
  dev('g-03', 'gateway', [], {}, { [APP]: ['3.7.0+build.5', 8] }, '2026-12-03T11:59:00.000Z'),
];

function dev(
  name: string,
  className: string,
  tags: string[],
  attributes: Record<string, string | number | boolean>,
  components: Record<string, [string | null, number | null]>,
  lastSeen: string | null,
): OracleDevice {
  return {
    name,
    className,
    tags,
    staticGroups: name.startsWith('t-0') && name <= 't-03' ? ['pilot'] : [],
    attributes,
    components: Object.fromEntries(
      Object.entries(components).map(([id, [version, sequenceNumber]]) => [
        id,
        { version, sequenceNumber },
      ]),
    ),
    lastSeen,
    registeredAt: '2026-11-20T00:00:00.000Z',
  };
}

describeEachDialect('target filters in SQL', (dialect) => {
  let db: TestDatabase;
  let filters: DeviceFilterService;
  beforeAll(async () => {
    db = await openTestDatabase(dialect);
    const kdb = db.handle.db;
    filters = new DeviceFilterService(kdb, () => NOW);
    await kdb.transaction().execute(async (trx) => {
      await trx
        .insertInto('tenants')
        .values([
          { id: TENANT, name: 'default', created_at: NOW.toISOString() },
          { id: 'ten_other', name: 'other', created_at: NOW.toISOString() },
        ])
        .execute();
      const classIds = new Map<string, string>();
      for (const [i, name] of ['thermo-v2', 'thermo-v1', 'gateway', 'other'].entries()) {
        const id = `cls_${i}`;
        classIds.set(name, id);
        await trx
          .insertInto('device_classes')
          .values({
            id,
            tenant_id: TENANT,
            name,
            vendor_name: null,
            model_name: null,
            vendor_id: `00000000-0000-0000-0000-00000000000${i}`,
            class_id: `00000000-0000-0000-0000-00000000010${i}`,
            created_at: '2026-11-20T00:00:00.000Z',
          })
          .execute();
      }
      const created = await createDevices(
        trx,
        TENANT,
        FLEET.map((d) => ({
          name: d.name,
          deviceClassId: classIds.get(d.className) as string,
          tags: [...d.tags],
        })),
        '2026-11-20T00:00:00.000Z',
      );
      const ids = new Map(created.map((c) => [c.device.name, c.device.id]));
      for (const d of FLEET) {
        const id = ids.get(d.name) as string;
        // Region is reported by the device; everything else set by operators (custom wins).
        const { region, ...custom } = d.attributes;
        await setReportedState(
          trx,
          TENANT,
          id,
          {
            components: Object.entries(d.components).map(([cid, c]) => ({
              id: cid,
              ...c,
              digest: null,
            })),
            attributes: region === undefined ? {} : { region },
          },
          '2026-11-21T00:00:00.000Z',
        );
        await updateCustomAttributes(trx, TENANT, id, { ...custom });
        if (d.lastSeen) await touchLastSeen(trx, TENANT, [id], d.lastSeen);
      }
      const pilot = await insertGroup(
        trx,
        TENANT,
        { name: 'pilot', kind: 'static', filter: null, deviceIds: [] },
        NOW.toISOString(),
      );
      await addMembers(
        trx,
        TENANT,
        pilot.id,
        ['t-01', 't-02', 't-03'].map((n) => ids.get(n) as string),
      );
      await insertGroup(
        trx,
        TENANT,
        {
          name: 'eu-fleet',
          kind: 'dynamic',
          filter: 'device.attributes.region == "eu"',
          deviceIds: [],
        },
        NOW.toISOString(),
      );
      await insertGroup(
        trx,
        TENANT,
        {
          name: 'eu-beta',
          kind: 'dynamic',
          filter: '"eu-fleet" in device.groups && "beta" in device.tags',
          deviceIds: [],
        },
        NOW.toISOString(),
      );
      await insertGroup(
        trx,
        TENANT,
        { name: 'loop-a', kind: 'dynamic', filter: '"loop-b" in device.groups', deviceIds: [] },
        NOW.toISOString(),
      );
      await insertGroup(
        trx,
        TENANT,
        { name: 'loop-b', kind: 'dynamic', filter: '"loop-a" in device.groups', deviceIds: [] },
        NOW.toISOString(),
      );
      // Another tenant's look-alike must never match.
      await trx
        .insertInto('devices')
        .values({
          id: 'dev_other',
          tenant_id: 'ten_other',
          name: 't-01x',
          device_class_id: 'cls_0',
          created_at: NOW.toISOString(),
          last_seen_at: null,
          decommissioned_at: null,
        })
        .execute();
      await trx
        .insertInto('device_tags')
        .values({ tenant_id: 'ten_other', device_id: 'dev_other', tag: 'beta' })
        .execute();
    });
  });
  afterAll(() => db?.dispose());

  const oracleFleet = () => FLEET;

  const sqlNames = async (source: string) =>
    matchingDeviceNames(db.handle.db, TENANT, await filters.resolve(TENANT, source));
  const oracleNames = async (source: string) => {
    const resolved = await filters.resolve(TENANT, source);
    return oracleFleet()
      .filter((d) => evaluateFilter(resolved, d))
      .map((d) => d.name)
      .sort();
  };

  it('selects the issue example (components keyed by id: the app is 814100)', async () => {
    const example = `device.class == "thermo-v2" && semver(device.components["${APP}"].version) < semver("3.7.0") && device.attributes.region in ["eu", "us"] && "beta" in device.tags && !has(device.attributes.lab)`;
    expect(await sqlNames(example)).toEqual(['t-01', 't-02', 't-07', 't-09']);
    expect(await oracleNames(example)).toEqual(['t-01', 't-02', 't-07', 't-09']);
  });

  it('orders versions by semver precedence (1.10.0 > 1.9.0, pre-release < release, build ignored)', async () => {
    const v = (expr: string) => sqlNames(`semver(device.components["${APP}"].version) ${expr}`);
    expect(await v('> semver("1.9.0")')).toEqual([
      'g-03',
      't-01',
      't-02',
      't-03',
      't-04',
      't-05',
      't-06',
      't-07',
    ]);
    expect(await v('< semver("1.10.0")')).toEqual(['t-08', 't-09']);
    expect(await v('< semver("3.7.0")')).toEqual([
      't-01',
      't-02',
      't-03',
      't-04',
      't-05',
      't-07',
      't-08',
      't-09',
    ]);
    expect(await v('== semver("3.7.0")')).toEqual(['g-03', 't-06']);
    expect(await v('>= semver("3.7.0-rc.1")')).toEqual(['g-03', 't-06', 't-07']);
    expect(await v('> semver("3.7.0-rc.1")')).toEqual(['g-03', 't-06']);
    expect(await v('< semver("3.7.0-rc.2")')).toContain('t-07');
  });

  it('treats absent values as not matching, on both sides of !', async () => {
    expect(await sqlNames('device.attributes.floor > 3')).toEqual(["g-'02", 'g-01']);
    expect(await sqlNames('device.attributes.floor == 3')).toEqual(['t-09']);
    expect(await sqlNames('device.attributes.floor != 3')).toEqual(["g-'02", 'g-01']);
    expect(await sqlNames('!(device.attributes.floor == 3)')).toHaveLength(FLEET.length - 1);
    expect(await sqlNames('device.attributes.floor == "3"')).toEqual([]);
    // Present with another type: unequal (as in CEL), never ordered.
    expect(await sqlNames('device.attributes.region != 3')).toEqual(
      FLEET.filter((d) => d.attributes.region !== undefined)
        .map((d) => d.name)
        .sort(),
    );
    expect(await sqlNames('device.attributes.region > 3')).toEqual([]);
    expect(await sqlNames('device.attributes.on == false')).toEqual(["g-'02"]);
    expect(await sqlNames(`has(device.components.${'x'})`)).toEqual([]);
    expect(await sqlNames(`device.components["${BOOT}"].sequenceNumber >= 1`)).toEqual(['t-09']);
  });

  it('matches tags, static and dynamic groups (nested), names and prefixes literally', async () => {
    expect(await sqlNames('"canary" in device.tags')).toEqual(['t-09']);
    expect(await sqlNames('"beta" in device.tags && device.class == "gateway"')).toEqual([]);
    expect(await sqlNames('"pilot" in device.groups')).toEqual(['t-01', 't-02', 't-03']);
    expect(await sqlNames('"eu-beta" in device.groups && !("pilot" in device.groups)')).toEqual([
      't-06',
      't-07',
      't-08',
      't-10',
    ]);
    expect(await sqlNames('device.name.startsWith("G")')).toEqual([]);
    expect(await sqlNames('device.name.startsWith("g-\'")')).toEqual(["g-'02"]);
    expect(await sqlNames('"%" in device.tags')).toEqual(["g-'02"]);
    expect(await sqlNames('device.attributes["a.b"] == "O\'Brien; drop table devices"')).toEqual([
      'g-01',
    ]);
  });

  it('compares lastSeen with now, durations and timestamps', async () => {
    expect(await sqlNames('device.lastSeen > now - duration("1h")')).toEqual(['g-03', 't-01']);
    expect(await sqlNames('device.lastSeen < timestamp("2026-12-01T00:00:00Z")')).toEqual(['t-09']);
    // Never seen (null) is not "seen within 30 days", so ! of it holds.
    expect(await sqlNames('!(device.lastSeen > now - duration("720h"))')).toEqual(
      FLEET.map((d) => d.name)
        .filter((n) => !['t-01', 't-02', 'g-03'].includes(n))
        .sort(),
    );
  });

  it('finds versions recorded by a check-in and by a successful action through semver()', async () => {
    const kdb = db.handle.db;
    const newer = `semver(device.components["${APP}"].version) >= semver("4.0.0")`;
    const matches = async () =>
      matchingDeviceNames(kdb, 'ten_other', await filters.resolve('ten_other', newer));
    await kdb.transaction().execute((trx) =>
      setReportedState(
        trx,
        'ten_other',
        'dev_other',
        {
          components: [{ id: APP, version: '3.9.9', sequenceNumber: 1, digest: null }],
          attributes: {},
        },
        NOW.toISOString(),
      ),
    );
    expect(await matches()).toEqual([]);
    await kdb
      .transaction()
      .execute((trx) =>
        recordInstalled(
          trx,
          'ten_other',
          'dev_other',
          [{ componentId: APP, version: '4.0.0', sequenceNumber: 2, digest: null }],
          NOW.toISOString(),
        ),
      );
    expect(await matches()).toEqual(['t-01x']);
  });

  it('refuses unknown groups and cycles with a position', async () => {
    await expect(filters.resolve(TENANT, 'true && "nope" in device.groups')).rejects.toMatchObject({
      code: 'FILTER_INVALID',
      details: { position: { offset: 8, line: 1, column: 9 } },
    });
    await expect(filters.resolve(TENANT, '"loop-a" in device.groups')).rejects.toMatchObject({
      code: 'FILTER_INVALID',
      message: expect.stringContaining('refers to itself'),
    });
  });

  const hostile = fc.constantFrom(
    "'",
    '"',
    "' or 1=1 --",
    '"; drop table devices; --',
    '\\',
    '%',
    '_',
    '\u0000',
    '\ud800',
    'Ω',
    'eu',
    'beta',
    'thermo-v2',
    't-0',
    '3.7.0',
    '1.10.0-rc.1',
  );
  const literal = fc.oneof(
    hostile.map((s) => JSON.stringify(s)),
    fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)),
    fc.integer({ min: -5, max: 20 }).map(String),
    fc.constantFrom(
      'true',
      'false',
      '1.5',
      'null',
      '[]',
      'semver("3.7.0")',
      'now',
      'timestamp("2026-12-01T00:00:00Z")',
      'now - duration("2h")',
      'semver("x")',
    ),
  );
  const field = fc.constantFrom(
    'device.name',
    'device.class',
    'device.attributes.region',
    'device.attributes.floor',
    'device.attributes.on',
    'device.attributes["a.b"]',
    `device.components["${APP}"].version`,
    `semver(device.components["${APP}"].version)`,
    `device.components["${APP}"].sequenceNumber`,
    'device.lastSeen',
    'device.registeredAt',
    'device.tags',
    'device.nope',
  );
  const op = fc.constantFrom('==', '!=', '<', '<=', '>', '>=');
  const atom = fc.oneof(
    fc.tuple(field, op, literal).map(([f, o, l]) => `${f} ${o} ${l}`),
    fc
      .tuple(literal, fc.constantFrom('device.tags', 'device.groups'))
      .map(([l, c]) => `${l} in ${c}`),
    fc
      .tuple(field, fc.array(literal, { maxLength: 4 }))
      .map(([f, ls]) => `${f} in [${ls.join(', ')}]`),
    fc.constantFrom(
      'has(device.attributes.lab)',
      'has(device.attributes.floor)',
      `has(device.components.x)`,
      '"pilot" in device.groups',
      '"eu-beta" in device.groups',
    ),
    fc
      .tuple(fc.constantFrom('device.name', 'device.attributes.region', 'device.class'), literal)
      .map(([f, l]) => `${f}.startsWith(${l})`),
  );
  const expression = fc.letrec<{ expr: string }>((tie) => ({
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      atom,
      fc
        .tuple(tie('expr'), fc.constantFrom('&&', '||'), tie('expr'))
        .map(([a, o, b]) => `(${a}) ${o} (${b})`),
      tie('expr').map((e) => `!(${e})`),
    ),
  })).expr;

  let celAgreements = 0;
  const oracleCheck = async (source: string) => {
    let resolved: Awaited<ReturnType<DeviceFilterService['resolve']>>;
    try {
      resolved = await filters.resolve(TENANT, source);
    } catch (error) {
      expect(error).toBeInstanceOf(ServerError);
      expect(['FILTER_INVALID', 'FILTER_UNSUPPORTED']).toContain((error as ServerError).code);
      expect((error as ServerError).details.position).toMatchObject({ offset: expect.any(Number) });
      return 'refused';
    }
    const expected = oracleFleet()
      .filter((d) => evaluateFilter(resolved, d))
      .map((d) => d.name)
      .sort();
    expect(await matchingDeviceNames(db.handle.db, TENANT, resolved)).toEqual(expected);
    // Where CEL's own evaluator answers (no missing key; groups are ours alone), it agrees.
    if (!source.includes('device.groups'))
      for (const device of oracleFleet()) {
        const cel = evaluateWithCel(source, device, NOW);
        if (cel === undefined) continue;
        celAgreements++;
        expect(cel, `${source} on ${device.name}`).toBe(evaluateFilter(resolved, device));
      }
    return 'ran';
  };

  it('agrees with the reference evaluation or refuses with a typed error (generated filters)', async () => {
    const outcomes = { ran: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(expression, async (source) => {
        outcomes[await oracleCheck(source)]++;
      }),
      { numRuns: 250, seed: 1203 },
    );
    // The generator must exercise both paths, or the property says little.
    expect(outcomes.ran).toBeGreaterThan(40);
    expect(outcomes.refused).toBeGreaterThan(20);
    expect(celAgreements).toBeGreaterThan(500);
  });

  it('refuses or answers hostile raw text without touching other tables', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.tuple(hostile, hostile).map(([a, b]) => `device.name == "${a}${b}"`),
        ),
        async (source) => {
          await oracleCheck(source);
        },
      ),
      { numRuns: 150, seed: 4 },
    );
    const count = await db.handle.db
      .selectFrom('devices')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(FLEET.length + 1);
  });
});
