import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { seedFleet, uploadRelease } from './testing/release-fixtures.js';
import { type ReplicaSet, startReplicas } from './testing/replicas.js';
import { openSse } from './testing/sse-client.js';
import { postgresUnavailableReason } from './testing/test-database.js';

const unavailable = await postgresUnavailableReason();
if (unavailable !== undefined && process.env.CI !== 'true')
  console.warn(`[updraft tests] skipping replica SSE: ${unavailable} (CI would fail here)`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A campaign event stream on replica 1 follows a campaign that only replica 0 works on: replica 1
// runs no campaign engine and gets no other request, so everything its stream shows came from
// the database.
describe.skipIf(unavailable !== undefined && process.env.CI !== 'true')(
  'campaign event streams across replicas',
  () => {
    let set: ReplicaSet | undefined;
    afterAll(() => set?.close());

    it('a stream on one replica shows the progress made on another', async () => {
      set = await startReplicas(2, {
        overrides: { campaigns: { tickSeconds: 1 } },
        deps: (i) =>
          i === 1
            ? {
                campaignEngine: {
                  poke: () => undefined,
                  start: () => undefined,
                  close: async () => undefined,
                },
              }
            : {},
      });
      const [worker, watcher] = set.replicas as [
        (typeof set.replicas)[0],
        (typeof set.replicas)[0],
      ];
      const fleet = await seedFleet(worker.app.updraft.db, { deviceCount: 4 });
      const creator = { authorization: `Bearer ${(await set.tokenFor(['admin'])).token}` };
      const approver = { authorization: `Bearer ${(await set.tokenFor(['admin'])).token}` };
      const json = { 'content-type': 'application/json' };
      const releaseId = await uploadRelease(worker.app, creator, fleet, 2, [randomBytes(4096)]);
      const post = async (who: Record<string, string>, url: string, body: unknown) => {
        const res = await fetch(`${worker.url}/api/v1${url}`, {
          method: 'POST',
          headers: { ...who, ...json },
          body: JSON.stringify(body),
        });
        expect(res.status, await res.clone().text()).toBeLessThan(300);
        return (await res.json()) as { id: string };
      };
      const campaign = await post(creator, '/campaigns', {
        name: 'watched elsewhere',
        releaseId,
        filter: 'device.name != ""',
      });
      const stream = await openSse(
        `${watcher.url}/api/v1/campaigns/${campaign.id}/events`,
        creator,
      );
      expect(stream.status).toBe(200);
      await post(approver, `/campaigns/${campaign.id}/approve`, {});
      await post(creator, `/campaigns/${campaign.id}/start`, {});

      // The devices talk to replica 0 only.
      const finished = () =>
        stream.blocks.some((b) => b.event === 'state_changed' && b.data?.includes('"finished"'));
      await Promise.all(
        fleet.devices.map(async (d) => {
          const auth = { authorization: `Bearer ${d.token}`, ...json };
          let installed = 0;
          for (let polls = 0; !finished() && polls < 300; polls++) {
            const res = await fetch(`${worker.url}/api/device/v1/check-in`, {
              method: 'POST',
              headers: auth,
              body: JSON.stringify({ components: [{ id: '814100', sequenceNumber: installed }] }),
            });
            const { action } = (await res.json()) as { action: { id: string } | null };
            if (action !== null && installed === 0) {
              for (const status of ['downloading', 'downloaded', 'installing', 'success'])
                await fetch(`${worker.url}/api/device/v1/actions/${action.id}/feedback`, {
                  method: 'POST',
                  headers: auth,
                  body: JSON.stringify({ reportId: `${action.id}-${status}`, status }),
                });
              installed = 2;
            }
            await sleep(100);
          }
        }),
      );
      expect(finished()).toBe(true);
      const types = stream.blocks.map((b) => b.event).filter((e) => e !== undefined);
      expect(types).toContain('phase_started');
      const progress = stream.blocks
        .filter((b) => b.event === 'progress')
        .map((b) => JSON.parse(b.data ?? '{}') as { totals: { succeeded: number } });
      // Progress arrives at most once a second: wait for the last one.
      for (let i = 0; i < 50 && progress.at(-1)?.totals.succeeded !== 4; i++) {
        await sleep(100);
        progress.push(
          ...stream.blocks
            .filter((b) => b.event === 'progress')
            .slice(progress.length)
            .map((b) => JSON.parse(b.data ?? '{}') as { totals: { succeeded: number } }),
        );
      }
      expect(progress.at(-1)?.totals.succeeded).toBe(4);
      stream.close();
    }, 90_000);
  },
);
