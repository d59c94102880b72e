import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from './auth/secrets.js';
import { issueToken } from './features/users/token.repository.js';
import { createUser } from './features/users/user.repository.js';
import { WebhookSecretBox } from './features/webhooks/webhook-secret-box.js';
import { deriveKey } from './secrets/master-key.js';
import {
  type Fleet,
  injectOverHttp,
  seedFleet,
  uploadRelease,
} from './testing/release-fixtures.js';
import { type SpawnedServer, spawnServer } from './testing/spawn-server.js';
import {
  openTestDatabase,
  postgresUnavailableReason,
  type TestDatabase,
} from './testing/test-database.js';

const DEVICES = 20;
const SEQUENCE = 3;
const STATUSES = ['downloading', 'downloaded', 'installing', 'success'] as const;
const unavailable = await postgresUnavailableReason();
if (unavailable !== undefined && process.env.CI !== 'true')
  console.warn(`[updraft tests] skipping replica kill -9: ${unavailable} (CI would fail here)`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type CheckIn = {
  action: null | {
    id: string;
    state: string;
    envelopeUrl: string;
    payloads: { url: string; digest: string }[];
  };
};

// Two replica PROCESSES on one PostgreSQL schema, sharing the master key file and the blob
// directory, run a campaign over 20 devices that poll, download and report through either of
// them. Replica A is killed with SIGKILL in the middle: the devices fail over to B, and nothing
// is lost or doubled. PostgreSQL only: SQLite is one process by design.
describe.skipIf(unavailable !== undefined && process.env.CI !== 'true')(
  'a replica killed with SIGKILL during a campaign [postgres]',
  () => {
    let db: TestDatabase;
    let dir: string;
    let fleet: Fleet;
    let masterKey: Buffer;
    const env: Record<string, string>[] = [];
    const children: SpawnedServer[] = [];
    const headers: Record<string, string>[] = [];

    beforeAll(async () => {
      db = await openTestDatabase('postgres');
      dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-kill-'));
      masterKey = randomBytes(32);
      await writeFile(path.join(dir, 'master.key'), `${masterKey.toString('base64')}\n`, {
        mode: 0o600,
      });
      for (const name of ['a', 'b'])
        env.push({
          UPDRAFT_DATA_DIR: path.join(dir, name),
          UPDRAFT_ADMIN_PASSWORD: 'kill-test-password-42',
          UPDRAFT_RATE_LIMIT_ENABLED: 'false',
          UPDRAFT_MQTT_MODE: 'off',
          UPDRAFT_LOG_LEVEL: 'error',
          UPDRAFT_DATABASE_KIND: 'postgres',
          UPDRAFT_DATABASE_URL: db.config.url,
          UPDRAFT_DATABASE_SCHEMA: db.config.schema,
          UPDRAFT_BLOBS_MASTER_KEY_FILE: path.join(dir, 'master.key'),
          UPDRAFT_BLOBS_DIR: path.join(dir, 'blobs'),
          UPDRAFT_CAMPAIGNS_TICK_SECONDS: '1',
        });
      fleet = await seedFleet(db.handle.db, { deviceCount: DEVICES });
      const at = new Date().toISOString();
      // Two admins: one creates the campaign, the other approves it (four eyes).
      for (const name of ['creator', 'approver']) {
        const token = await db.handle.db.transaction().execute(async (trx) => {
          const user = await createUser(
            trx,
            fleet.tenantId,
            { username: name, passwordHash: 'x', roles: ['admin'] },
            at,
          );
          return (
            await issueToken(
              trx,
              fleet.tenantId,
              { userId: user.id, kind: 'api', name, expiresAt: null },
              at,
            )
          ).token;
        });
        headers.push({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
      }
      // A webhook on the campaign events (its target never answers: the deliveries stay queued).
      const webhookId = newId('whk');
      await db.handle.db
        .insertInto('webhooks')
        .values({
          id: webhookId,
          tenant_id: fleet.tenantId,
          url: 'https://hooks.invalid/updraft',
          events: JSON.stringify(['campaign.state_changed', 'campaign.phase_advanced']),
          secret_box: new WebhookSecretBox(deriveKey(masterKey, 'webhook-secret')).seal(
            'whsec-kill-test',
            fleet.tenantId,
            webhookId,
          ),
          created_at: at,
          created_by: null,
        })
        .execute();
      children.push(...(await Promise.all(env.map((e) => spawnServer(e)))));
      // Two process starts (tsx transpiles on the fly): slow on a loaded machine.
    }, 180_000);
    afterAll(async () => {
      for (const c of children) await c.kill('SIGKILL');
      await db?.dispose();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('loses nothing: one action per device, every report once, counts that add up', async () => {
      const [a, b] = children as [SpawnedServer, SpawnedServer];
      const urls = [a.url, b.url];
      const payload = randomBytes(512 * 1024);
      const releaseId = await uploadRelease(injectOverHttp(b.url), headers[0]!, fleet, SEQUENCE, [
        payload,
      ]);
      const call = async (
        base: string,
        method: string,
        url: string,
        who: number,
        body?: unknown,
      ) => {
        const res = await fetch(`${base}/api/v1${url}`, {
          method,
          headers: headers[who]!,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        if (res.status >= 300) throw new Error(`${method} ${url} answered ${res.status}: ${text}`);
        return JSON.parse(text) as Record<string, unknown>;
      };
      const campaign = await call(b.url, 'POST', '/campaigns', 0, {
        name: 'kill -9',
        releaseId,
        filter: 'device.name != ""',
        phases: [{ percent: 20 }, { percent: 60 }, { percent: 100 }],
      });
      await call(b.url, 'POST', `/campaigns/${campaign.id}/approve`, 1, {});
      await call(a.url, 'POST', `/campaigns/${campaign.id}/start`, 0, {});

      // Devices: half start on A, half on B; a connection error moves a device to the other one.
      let stop = false;
      let successes = 0;
      const failovers: number[] = [];
      const device = async (i: number) => {
        const { token } = fleet.devices[i]!;
        let home = i % 2;
        let installed = 0;
        const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
        // One request, retried on the other replica while the connection fails (same body).
        const request = async (url: string, init: RequestInit = {}): Promise<Response> => {
          for (;;) {
            try {
              const res = await fetch(`${urls[home]}${url}`, {
                ...init,
                signal: AbortSignal.timeout(10_000),
              });
              if (res.status >= 500) throw new Error(`${url} answered ${res.status}`);
              return res;
            } catch {
              if (stop) throw new Error('stopped');
              home = 1 - home;
              failovers.push(i);
              await sleep(50);
            }
          }
        };
        while (!stop) {
          const res = await request('/api/device/v1/check-in', {
            method: 'POST',
            headers: auth,
            body: JSON.stringify({
              components: [{ id: '814100', sequenceNumber: installed }],
            }),
          });
          const { action } = (await res.json()) as CheckIn;
          if (action !== null && installed === 0) {
            for (;;) {
              const blob = Buffer.from(
                await (await request(action.payloads[0]!.url)).arrayBuffer(),
              );
              if (createHash('sha256').update(blob).digest('hex') === action.payloads[0]!.digest)
                break;
            }
            // Each status has one reportId: a retry after a lost answer is a replay, not news.
            for (const status of STATUSES) {
              const fb = await request(`/api/device/v1/actions/${action.id}/feedback`, {
                method: 'POST',
                headers: auth,
                body: JSON.stringify({ reportId: `${action.id}-${status}`, status }),
              });
              if (fb.status !== 200) throw new Error(`feedback ${status}: ${await fb.text()}`);
            }
            installed = SEQUENCE;
            successes++;
          }
          await sleep(100 + Math.random() * 100);
        }
      };
      const fleetRun = Promise.all(Array.from({ length: DEVICES }, (_, i) => device(i)));
      const failed = fleetRun.then(
        () => undefined,
        (error: unknown) => error,
      );

      // SIGKILL A while the later phases are still downloading and reporting.
      const deadline = Date.now() + 40_000;
      while (successes < 6) {
        if (Date.now() > deadline) throw new Error(`only ${successes} successes:\n${a.output()}`);
        await sleep(20);
      }
      const killed = await a.kill('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      const atKill = successes;

      let status: { state: string; totals: Record<string, number> } | undefined;
      while (status?.state !== 'finished') {
        if (Date.now() > deadline + 20_000)
          throw new Error(`campaign still ${JSON.stringify(status)}:\n${b.output()}`);
        await sleep(250);
        status = (await call(b.url, 'GET', `/campaigns/${campaign.id}/status`, 0)) as typeof status;
      }
      stop = true;
      expect(await failed).toBeUndefined();
      expect(atKill).toBeLessThan(DEVICES);
      expect(new Set(failovers).size).toBeGreaterThan(0);

      const q = db.handle.db;
      const actions = await q
        .selectFrom('actions')
        .select(['id', 'device_id', 'state'])
        .where('campaign_id', '=', campaign.id as string)
        .execute();
      expect(actions).toHaveLength(DEVICES);
      expect(new Set(actions.map((x) => x.device_id)).size).toBe(DEVICES);
      expect(actions.every((x) => x.state === 'success')).toBe(true);
      // Every report recorded exactly once, in order, after the assignment.
      const events = await q
        .selectFrom('action_events')
        .select(['action_id', 'status', 'report_id'])
        .where(
          'action_id',
          'in',
          actions.map((x) => x.id),
        )
        .orderBy('at')
        .orderBy('id')
        .execute();
      for (const action of actions)
        expect(events.filter((e) => e.action_id === action.id).map((e) => e.status)).toEqual([
          'assigned',
          ...STATUSES,
        ]);
      expect(status.totals).toMatchObject({ targets: DEVICES, succeeded: DEVICES, failed: 0 });
      const targets = await q
        .selectFrom('campaign_targets')
        .select(['status'])
        .where('campaign_id', '=', campaign.id as string)
        .execute();
      expect(targets.map((t) => t.status)).toEqual(Array(DEVICES).fill('succeeded'));

      // The event log and the webhook outbox agree: each transition once, each queued once.
      const log = await q
        .selectFrom('campaign_events')
        .select(['type', 'data'])
        .where('campaign_id', '=', campaign.id as string)
        .orderBy('id')
        .execute();
      expect(log.map((e) => `${e.type} ${e.data}`)).toEqual([
        'state_changed {"from":"draft","to":"approved","reason":"approved"}',
        'state_changed {"from":"approved","to":"running","reason":"operator"}',
        'phase_started {"phase":0}',
        'phase_advanced {"phase":0,"next":1}',
        'phase_advanced {"phase":1,"next":2}',
        'state_changed {"from":"running","to":"finished","reason":"completed"}',
      ]);
      const deliveries = await q.selectFrom('webhook_deliveries').select(['event']).execute();
      expect(deliveries.map((d) => d.event).sort()).toEqual(
        log
          .filter((e) => e.type === 'phase_advanced' || e.type === 'state_changed')
          .map((e) => `campaign.${e.type}`)
          .sort(),
      );

      // The audit log holds each operator change once (and none for the device reports).
      const audit = await q
        .selectFrom('audit_log')
        .select('action')
        .where('resource_id', '=', campaign.id as string)
        .execute();
      expect(audit.map((e) => e.action).sort()).toEqual([
        'campaign.approve',
        'campaign.create',
        'campaign.start',
      ]);

      // A restarts on the same schema and serves again.
      const again = await spawnServer(env[0]!);
      children.push(again);
      expect((await fetch(`${again.url}/readyz`)).status).toBe(200);
      const res = await fetch(`${again.url}/api/device/v1/check-in`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${fleet.devices[0]!.token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ components: [{ id: '814100', sequenceNumber: SEQUENCE }] }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as CheckIn).action).toBeNull();
    }, 180_000);
  },
);
