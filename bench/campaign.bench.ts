// Campaign engine at fleet scale, on SQLite and PostgreSQL: the engine steps that materialise a
// one-shot campaign (one phase of 100 %) and fans out every device's action, against a plain
// INSERT … SELECT of as many rows into a copy of the actions table (the floor); the status
// query (campaignCounts) against a plain GROUP BY over the same targets; and how long a phase
// takes to advance after the last device's report (the report's poke; the engine is not ticking).
//
// Run: npm run bench:campaign -- [--dialects sqlite,postgres] [--devices 100000] [--runs 3]
// [--batch 5000] (campaigns.fanOutBatch) [--trace]
// (e.g. `--dialects postgres --devices 1000000`). Devices are seeded set-based (generate_series
// on PostgreSQL, a recursive CTE on SQLite). Medians over `runs`; results go to
// bench/results/campaign-<dialect>.json and one line per database to stdout:
//   campaign-bench dialect=<sqlite|postgres> devices=<n> fanoutRatio=<x> statsRatio=<y>
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  type Kysely,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  sql,
} from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../packages/server/src/config/config.ts';
import { createDatabase, type DatabaseHandle } from '../packages/server/src/db/create-database.ts';
import type { Database } from '../packages/server/src/db/database.ts';
import { migrateToLatest } from '../packages/server/src/db/migrate.ts';
import { ActionService } from '../packages/server/src/features/actions/action.service.ts';
import { CampaignEngine } from '../packages/server/src/features/campaigns/campaign-engine.ts';
import { campaignCounts } from '../packages/server/src/features/campaigns/campaign-stats.repository.ts';
import { DeviceFilterService } from '../packages/server/src/features/filters/device-filter.service.ts';
import { WebhookOutbox } from '../packages/server/src/features/webhooks/webhook-outbox.ts';
import { ensureTenant } from '../packages/server/src/tenants/tenant.repository.ts';
import {
  insertCampaign,
  insertCampaignRelease,
} from '../packages/server/src/testing/campaign-rows.ts';
import { arg } from './args.ts';

type Dialect = 'sqlite' | 'postgres';
const PG_URL = process.env.UPDRAFT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TENANT = 'ten_default';
const CLASS = 'cls_bench';
const TICK_SECONDS = 5;
const STATS_REPEAT = 5;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

const round = (ms: number) => Number(ms.toFixed(1));

/** N devices of the bench class, written by the database itself (no rows through JS). */
async function seedDevices(db: Kysely<Database>, dialect: Dialect, n: number): Promise<void> {
  const at = new Date().toISOString();
  await ensureTenant(db, TENANT, 'default', at);
  await db
    .insertInto('device_classes')
    .values({
      id: CLASS,
      tenant_id: TENANT,
      name: 'bench',
      vendor_name: null,
      model_name: null,
      vendor_id: '00000000-0000-5000-8000-000000000001',
      class_id: '00000000-0000-5000-8000-000000000002',
      created_at: at,
    })
    .execute();
  if (dialect === 'postgres') {
    await sql`INSERT INTO devices (id, tenant_id, name, device_class_id, created_at)
      SELECT 'dev_b_' || g, ${TENANT}, 'dev_b_' || g, ${CLASS}, ${at}
      FROM generate_series(1, ${n}::integer) g`.execute(db);
    await sql`ANALYZE`.execute(db);
  } else {
    await sql`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${n})
      INSERT INTO devices (id, tenant_id, name, device_class_id, created_at)
      SELECT 'dev_b_' || i, ${TENANT}, 'dev_b_' || i, ${CLASS}, ${at} FROM s`.execute(db);
    await sql`ANALYZE`.execute(db);
  }
}

/** A copy of `actions` with the same columns, keys and indexes, empty (the floor's target). */
async function createScratchActions(db: Kysely<Database>, dialect: Dialect): Promise<void> {
  if (dialect === 'postgres') {
    await sql`CREATE TABLE actions_scratch (LIKE actions INCLUDING ALL)`.execute(db);
    return;
  }
  const { rows } = await sql<{ type: string; sql: string | null }>`
    SELECT type, sql FROM sqlite_master WHERE tbl_name = 'actions' AND sql IS NOT NULL
    ORDER BY type DESC`.execute(db);
  for (const row of rows) {
    const ddl =
      row.type === 'table'
        ? row.sql!.replace(/^CREATE TABLE "?actions"?/, 'CREATE TABLE actions_scratch')
        : row
            .sql!.replace(/INDEX "?(\w+)"?/, 'INDEX $1_scratch')
            .replace(/ ON "?actions"? ?\(/, ' ON actions_scratch (');
    await sql.raw(ddl.replaceAll('actions_one_open_per_device', 'scratch_one_open')).execute(db);
  }
}

/** The floor: the same action rows (derived ids included) in one plain INSERT … SELECT. */
async function floorInsert(db: Kysely<Database>, campaignId: string, releaseId: string) {
  const at = new Date().toISOString();
  const result = await sql`
    INSERT INTO actions_scratch (id, tenant_id, device_id, release_id, state, cancel_requested,
      download_only, action_type, campaign_id, open_key, revision, created_at, updated_at)
    SELECT CAST(${`act_${campaignId.slice(4)}_`} AS text) || d.id, d.tenant_id, d.id,
      CAST(${releaseId} AS text), 'assigned', 0, 0, 'soft', CAST(${campaignId} AS text), d.id, 1,
      CAST(${at} AS text), CAST(${at} AS text)
    FROM devices d WHERE d.tenant_id = ${TENANT} AND d.device_class_id = ${CLASS}`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

async function count(
  db: Kysely<Database>,
  table: 'actions' | 'actions_scratch',
  campaignId: string,
) {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*) AS n FROM ${sql.table(table)} WHERE campaign_id = ${campaignId}`.execute(db);
  return Number(rows[0]!.n);
}

async function openDatabase(dialect: Dialect, dir: string, schema: string) {
  const config = loadConfig({
    overrides: {
      dataDir: dir,
      database:
        dialect === 'sqlite'
          ? { kind: 'sqlite', sqliteFile: join(dir, 'updraft.db') }
          : { kind: 'postgres', url: PG_URL, schema, poolMax: 8 },
    },
  });
  const handle = await createDatabase(config.database);
  await migrateToLatest(handle);
  await handle.deviceChanges.start();
  return handle;
}

const FANOUT_BATCH = Number(arg('batch', '5000'));

// `--trace [--trace-ms 20]`: the engine's statements slower than that, with their time, to stderr.
const TRACE = process.argv.includes('--trace');
const TRACE_MS = Number(arg('trace-ms', '20'));

/** Times every statement (Kysely hands a plugin the query before and the result after it). */
class StatementTimer implements KyselyPlugin {
  readonly #started = new WeakMap<object, { at: number; sql: string }>();
  transformQuery(args: PluginTransformQueryArgs) {
    const node = args.node as { kind: string; sql?: { sqlFragments?: readonly string[] } };
    const text = node.sql?.sqlFragments?.join('?') ?? node.kind;
    this.#started.set(args.queryId, { at: performance.now(), sql: text });
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs) {
    const started = this.#started.get(args.queryId);
    const ms = started === undefined ? 0 : performance.now() - started.at;
    if (started !== undefined && ms >= TRACE_MS)
      process.stderr.write(
        `  ${ms.toFixed(0)} ms ${started.sql.replaceAll(/\s+/g, ' ').slice(0, 110)}\n`,
      );
    return args.result;
  }
}

function newEngine(handle: DatabaseHandle, now: () => Date) {
  return new CampaignEngine({
    db: TRACE ? handle.db.withPlugin(new StatementTimer()) : handle.db,
    support: handle.support,
    now,
    logger: pino({ level: 'warn' }, process.stderr),
    events: new WebhookOutbox(now),
    filters: new DeviceFilterService(handle.db, now),
    tickSeconds: TICK_SECONDS,
    pokeDelayMs: 20,
    fanOutBatch: FANOUT_BATCH,
  });
}

async function benchDialect(dialect: Dialect, devices: number, runs: number) {
  const dir = await mkdtemp(join(tmpdir(), 'updraft-bench-campaign-'));
  const schema = `updraft_bench_${randomBytes(4).toString('hex')}`;
  const handle = await openDatabase(dialect, dir, schema);
  const { db } = handle;
  const now = () => new Date();
  const engine = newEngine(handle, now);
  try {
    process.stderr.write(`[${dialect}] seeding ${devices} devices…\n`);
    const seeded = await timed(() => seedDevices(db, dialect, devices));
    process.stderr.write(`[${dialect}] seeded in ${(seeded.ms / 1000).toFixed(1)} s\n`);
    await createScratchActions(db, dialect);
    const releaseId = await insertCampaignRelease(db, TENANT, CLASS, 5);

    const fanout: number[] = [];
    const floor: number[] = [];
    const stats: number[] = [];
    const statsFloor: number[] = [];
    for (let r = 0; r < runs; r++) {
      const id = await insertCampaign(db, {
        tenantId: TENANT,
        releaseId,
        phases: [{ percent: 100 }],
      });
      // Every batch (campaigns.fanOutBatch) of the fan-out, one transaction each.
      const step = await timed(async () => {
        let batches = 1;
        while ((await engine.step(id)) === 'more') batches++;
        return batches;
      });
      const made = await count(db, 'actions', id);
      if (made !== devices) throw new Error(`the step gave ${made} actions, not ${devices}`);
      fanout.push(step.ms);
      const plain = await timed(() => floorInsert(db, id, releaseId));
      if (plain.value !== devices) throw new Error(`the floor wrote ${plain.value} rows`);
      floor.push(plain.ms);

      // Stats: alternate the two queries, median of each.
      const ours: number[] = [];
      const bare: number[] = [];
      for (let i = 0; i < STATS_REPEAT; i++) {
        const counts = await timed(() => campaignCounts(db, id));
        if (counts.value.totals.targets !== devices) throw new Error('counts are off');
        ours.push(counts.ms);
        bare.push(
          (
            await timed(() =>
              sql`SELECT status, count(*) AS n FROM campaign_targets WHERE campaign_id = ${id}
                GROUP BY status`.execute(db),
            )
          ).ms,
        );
      }
      stats.push(median(ours));
      statsFloor.push(median(bare));
      process.stderr.write(
        `[${dialect}] run ${r + 1}: steps ${step.ms.toFixed(0)} ms (${step.value} batches), floor ${plain.ms.toFixed(0)} ms; counts ${median(ours).toFixed(1)} ms, plain GROUP BY ${median(bare).toFixed(1)} ms\n`,
      );
      // Untimed: close this run's actions (the next campaign may give every device one again).
      await db
        .updateTable('actions')
        .set({ open_key: null })
        .where('campaign_id', '=', id)
        .execute();
      await db
        .updateTable('campaigns')
        .set({ state: 'finished', state_reason: 'operator' })
        .where('id', '=', id)
        .execute();
      // The floor's table keeps its rows too (closed the same way): both grow run by run.
      await sql`UPDATE actions_scratch SET open_key = NULL`.execute(db);
    }

    // Phase advance after the last report of a phase: phases of 10 devices, the rest waiting.
    const advance: number[] = [];
    const release2 = await insertCampaignRelease(db, TENANT, CLASS, 6);
    const id = await insertCampaign(db, {
      tenantId: TENANT,
      releaseId: release2,
      phases: [
        ...Array.from({ length: runs }, () => ({ count: 10 })),
        { count: 10 },
        { percent: 100 },
      ],
    });
    const actions = new ActionService(
      db,
      now,
      handle.deviceChanges,
      new WebhookOutbox(now),
      engine,
    );
    await engine.step(id);
    for (let phase = 0; phase < runs; phase++) {
      const open = await db
        .selectFrom('actions')
        .select(['id', 'device_id'])
        .where('campaign_id', '=', id)
        .where('open_key', 'is not', null)
        .orderBy('id')
        .execute();
      if (open.length !== 10) throw new Error(`phase ${phase} has ${open.length} open actions`);
      const report = (a: (typeof open)[number], status: 'downloaded' | 'installing' | 'success') =>
        actions.report({ tenantId: TENANT, deviceId: a.device_id }, a.id, {
          reportId: randomUUID(),
          status,
          progress: null,
          code: null,
          message: null,
        });
      for (const [i, a] of open.entries()) {
        await report(a, 'downloaded');
        await report(a, 'installing');
        if (i < open.length - 1) await report(a, 'success');
      }
      const last = open.at(-1)!;
      const started = performance.now();
      await report(last, 'success');
      for (;;) {
        const c = await db
          .selectFrom('campaigns')
          .select('current_phase')
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
        if (Number(c.current_phase) > phase) break;
        if (performance.now() - started > TICK_SECONDS * 4000) throw new Error('no advance');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      advance.push(performance.now() - started);
      process.stderr.write(
        `[${dialect}] phase ${phase} → ${phase + 1} advanced ${advance.at(-1)!.toFixed(1)} ms after the last report\n`,
      );
    }

    const result = {
      benchmark: 'campaign',
      at: new Date().toISOString(),
      node: process.version,
      dialect,
      devices,
      runs,
      fanOutBatch: FANOUT_BATCH,
      seedSeconds: Number((seeded.ms / 1000).toFixed(1)),
      fanout: {
        description:
          'the engine steps of a new one-shot campaign (one phase of 100 %) until its fan-out is done (one transaction per campaigns.fanOutBatch targets, default 5,000): targets materialised, phase taken, actions + their assigned events inserted, targets marked pending, counts and a sample',
        stepMs: fanout.map(round),
        stepMedianMs: round(median(fanout)),
        floorDescription:
          'plain INSERT … SELECT of the same action rows (md5-derived ids) into a copy of actions with the same keys and indexes (it keeps earlier runs’ rows, closed, as actions does)',
        floorMs: floor.map(round),
        floorMedianMs: round(median(floor)),
        ratio: Number((median(fanout) / median(floor)).toFixed(2)),
      },
      stats: {
        description: `campaignCounts (GROUP BY phase, status) vs SELECT status, count(*) … GROUP BY status over the same targets; median of ${STATS_REPEAT} each per run`,
        countsMs: stats.map(round),
        countsMedianMs: round(median(stats)),
        floorMs: statsFloor.map(round),
        floorMedianMs: round(median(statsFloor)),
        ratio: Number((median(stats) / median(statsFloor)).toFixed(2)),
      },
      phaseAdvance: {
        description:
          'ms from the return of the last device report of a 10-device phase until the next phase is committed (poke; the engine is not ticking)',
        tickSeconds: TICK_SECONDS,
        ms: advance.map(round),
        medianMs: round(median(advance)),
      },
    };
    await writeFile(
      new URL(`./results/campaign-${dialect}.json`, import.meta.url),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    return result;
  } finally {
    await engine.close();
    await handle.close();
    if (dialect === 'postgres') {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
    }
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const dialects = arg('dialects', 'sqlite,postgres').split(',') as Dialect[];
  const devices = Number(arg('devices', '100000'));
  const runs = Math.max(3, Number(arg('runs', '3')));
  for (const dialect of dialects) {
    const r = await benchDialect(dialect, devices, runs);
    console.log(
      `campaign-bench dialect=${dialect} devices=${devices} fanoutRatio=${r.fanout.ratio.toFixed(2)} statsRatio=${r.stats.ratio.toFixed(2)}`,
    );
  }
}

await main();
