import { createHash, randomBytes } from 'node:crypto';
import { applyToBuffer } from '@updraft/delta';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevicePrincipal } from '../../auth/principal.js';
import {
  componentHex,
  type Fleet,
  seedFleet,
  signedEnvelope,
} from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { DEFAULT_DELTA_LIMITS, type DeltaService } from './delta.service.js';
import { type DeltaEncoder, inProcessEncoder, workerEncoder } from './delta-encoder.js';
import { forgetDeltasOf } from './forget-deltas.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const COMPONENT = componentHex(0);

/** A firmware-like edit of `old`: a few patched bytes and an inserted block. */
function edited(old: Buffer): Buffer {
  const copy = Buffer.from(old);
  for (let i = 1000; i < copy.length; i += 9973) copy[i] = (copy[i]! + 1) & 0xff;
  return Buffer.concat([copy.subarray(0, 5000), randomBytes(700), copy.subarray(5000)]);
}

describeEachDialect('deltas', (dialect) => {
  let server: TestServer;
  let base: string;
  let admin: Record<string, string>;
  let fleet: Fleet;
  let deltas: DeltaService;
  const v1 = randomBytes(60_000);
  const v2 = edited(v1);
  const unrelated = randomBytes(60_000);
  const releases: Record<string, string> = {};
  // The server's encoder is injected: most tests encode on the test's thread (the same diff,
  // without a worker's start-up); the worker thread is exercised where it matters: the first
  // patch and the time budget. The queue bound is 2 so that its test can fill it.
  let encoder: DeltaEncoder = inProcessEncoder;
  const limits = { ...DEFAULT_DELTA_LIMITS, maxQueued: 2 };

  const upload = async (seq: number, version: string, payload: Buffer) => {
    const envelope = await signedEnvelope(fleet, fleet.key, seq, [payload], version);
    const res = await fetch(`${base}/api/v1/releases`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        deviceClassId: fleet.deviceClassId,
        version,
        envelope: Buffer.from(envelope).toString('base64'),
        payloads: [{ data: payload.toString('base64') }],
      }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const principal = (i: number): DevicePrincipal => ({
    kind: 'device',
    tenantId: fleet.tenantId,
    deviceId: fleet.devices[i]!.id,
    deviceClassId: fleet.deviceClassId,
    credentialId: fleet.devices[i]!.credentialId,
  });
  const report = async (i: number, digest: string) => {
    const res = await fetch(`${base}/api/device/v1/check-in`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${fleet.devices[i]!.token}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ components: [{ id: COMPONENT, digest }] }),
    });
    expect(res.status).toBe(200);
  };
  const offersFor = (i: number, releaseId: string, target: Buffer) =>
    deltas.offers(
      principal(i),
      releaseId,
      [{ component: COMPONENT, digest: sha(target), size: target.length }],
      Date.now(),
    );
  const setBases = (releaseId: string, body: Record<string, unknown>) =>
    fetch(`${base}/api/v1/releases/${releaseId}/delta-bases`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify(body),
    });
  const view = async (releaseId: string) => {
    const res = await fetch(`${base}/api/v1/releases/${releaseId}/deltas`, { headers: admin });
    expect(res.status).toBe(200);
    return (await res.json()) as {
      anyInstalled: boolean;
      baseReleaseIds: string[];
      patches: {
        state: string;
        baseDigest: string;
        patchSize: number | null;
        errorCode: string | null;
      }[];
      deliveries: number;
      bytesSaved: number;
    };
  };
  const deltaRows = () => server.app.updraft.db.selectFrom('deltas').selectAll().execute();

  beforeAll(async () => {
    server = await createTestServer(
      dialect,
      {},
      { deltaEncoder: (b, t, budget) => encoder(b, t, budget), deltaLimits: limits },
    );
    base = await server.app.listen({ port: 0, host: '127.0.0.1' });
    admin = { ...(await server.adminHeaders()), 'content-type': 'application/json' };
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 4 });
    deltas = server.app.wiring.deltas;
    releases.v1 = await upload(1, '1.0.0', v1);
    releases.v2 = await upload(2, '2.0.0', v2);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('creates a patch when a device on a named base checks in, once, and serves it with Range', async () => {
    encoder = workerEncoder;
    let res = await setBases(releases.v2!, { bases: ['1.0.0'], anyInstalled: false, eager: false });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ baseReleaseIds: [releases.v1], patches: [] });

    await report(0, sha(v1));
    // Not ready yet: the first ask enqueues, and the device gets the full payload meanwhile.
    expect((await offersFor(0, releases.v2!, v2)).size).toBe(0);
    await deltas.worker.idle();
    encoder = inProcessEncoder;
    const offer = (await offersFor(0, releases.v2!, v2)).get(sha(v2));
    expect(offer).toMatchObject({ baseDigest: sha(v1) });
    expect(offer!.patchSize).toBeLessThan(v2.length / 4);

    // A second device on the same base reuses the cached patch: still one row, nothing queued.
    await report(1, sha(v1));
    const again = (await offersFor(1, releases.v2!, v2)).get(sha(v2));
    expect(again?.patchDigest).toBe(offer!.patchDigest);
    expect(await deltas.queuedCount()).toBe(0);
    const rows = await deltaRows();
    // Claimed once, and the claim ended with the result.
    expect(
      rows.map((r) => [r.base_digest, r.target_digest, r.state, r.attempts, r.claimed_by]),
    ).toEqual([[sha(v1), sha(v2), 'ready', 1, null]]);
    expect(rows[0]!.lease_until).toBeNull();

    const patch = Buffer.from(await (await fetch(`${base}${offer!.url}`)).arrayBuffer());
    expect(patch.length).toBe(offer!.patchSize);
    expect(sha(patch)).toBe(offer!.patchDigest);
    expect(Buffer.from(await applyToBuffer(v1, patch)).equals(v2)).toBe(true);
    res = await fetch(`${base}${offer!.url}`, { headers: { range: 'bytes=100-' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 100-${patch.length - 1}/${patch.length}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(patch.subarray(100))).toBe(true);
    // A tampered signature or an unknown patch is refused.
    res = await fetch(
      `${base}${offer!.url.replace(/sig=(.)/, (_m, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`)}`,
    );
    expect(res.status).toBe(403);
    res = await fetch(`${base}${offer!.url.replace(offer!.patchDigest, sha(v1))}`);
    expect(res.status).toBe(403);
    // Device 0's URL with device 1's credential: refused (its own credential is fine).
    res = await fetch(`${base}${offer!.url}`, {
      headers: { authorization: `Bearer ${fleet.devices[1]!.token}` },
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe('DEVICE_URL_INVALID');
    res = await fetch(`${base}${offer!.url}`, {
      headers: { authorization: `Bearer ${fleet.devices[0]!.token}` },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it('counts bytes saved once per action, in the release view and the metrics', async () => {
    const res = await fetch(`${base}/api/v1/actions`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ deviceId: fleet.devices[0]!.id, releaseId: releases.v2 }),
    });
    expect(res.status).toBe(201);
    const offer = (await offersFor(0, releases.v2!, v2)).get(sha(v2))!;
    for (let i = 0; i < 2; i++) await (await fetch(`${base}${offer.url}`)).arrayBuffer();
    await expect.poll(async () => (await view(releases.v2!)).deliveries).toBe(1);
    const shown = await view(releases.v2!);
    expect(shown.bytesSaved).toBe(v2.length - offer.patchSize);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain(`updraft_delta_bytes_saved_total ${v2.length - offer.patchSize}`);
    expect(metrics).toMatch(/updraft_delta_patches_total\{outcome="ready"\} 1/);
  });

  it('counts a patch the device reports it applied (direct downloads), once, and only a real one', async () => {
    let res = await fetch(`${base}/api/v1/actions`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ deviceId: fleet.devices[1]!.id, releaseId: releases.v2 }),
    });
    expect(res.status).toBe(201);
    const actionId = ((await res.json()) as { id: string }).id;
    const offer = (await offersFor(1, releases.v2!, v2)).get(sha(v2))!;
    const before = await view(releases.v2!);
    const feedback = (body: Record<string, unknown>) =>
      fetch(`${base}/api/device/v1/actions/${actionId}/feedback`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${fleet.devices[1]!.token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      });
    res = await feedback({ reportId: 'rep-downloading-1', status: 'downloading', progress: 0 });
    expect(res.status).toBe(200);
    // A digest that is no patch of this action counts nothing; a malformed one is refused.
    res = await feedback({
      reportId: 'rep-progress-1',
      status: 'downloading',
      progress: 50,
      deltas: [sha(unrelated)],
    });
    expect(res.status).toBe(200);
    res = await feedback({ reportId: 'rep-bad-1', status: 'downloading', deltas: ['nope'] });
    expect(res.status).toBe(400);
    expect(await view(releases.v2!)).toMatchObject({ deliveries: before.deliveries });
    const downloaded = {
      reportId: 'rep-downloaded-1',
      status: 'downloaded',
      deltas: [offer.patchDigest],
    };
    res = await feedback(downloaded);
    expect(res.status).toBe(200);
    const after = await view(releases.v2!);
    expect(after.deliveries).toBe(before.deliveries + 1);
    expect(after.bytesSaved).toBe(before.bytesSaved + v2.length - offer.patchSize);
    // A replay, or the patch's last byte served later: still one delivery for this action.
    expect((await feedback(downloaded)).status).toBe(200);
    await (await fetch(`${base}${offer.url}`)).arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await view(releases.v2!)).deliveries).toBe(before.deliveries + 1);
  });

  it('offers nothing to a device on another base, and creates nothing for it', async () => {
    const before = await deltaRows();
    await report(2, sha(unrelated));
    expect((await offersFor(2, releases.v2!, v2)).size).toBe(0);
    // The device already runs the target: nothing to patch.
    await report(3, sha(v2));
    expect((await offersFor(3, releases.v2!, v2)).size).toBe(0);
    await deltas.worker.idle();
    expect(await deltaRows()).toEqual(before);
  });

  it('creates patches eagerly for named bases, and for any installed image held as a payload', async () => {
    const v3 = edited(v2);
    releases.v3 = await upload(3, '3.0.0', v3);
    const res = await setBases(releases.v3, { bases: [releases.v1!], anyInstalled: true });
    expect(res.status).toBe(200);
    await deltas.worker.idle();
    expect((await view(releases.v3)).patches.map((p) => [p.baseDigest, p.state])).toEqual([
      [sha(v1), 'ready'],
    ]);
    // "any installed": a device on v2 (not named) gets a patch too, created on its check-in.
    await report(3, sha(v2));
    expect((await offersFor(3, releases.v3, v3)).size).toBe(0);
    await deltas.worker.idle();
    const offer = (await offersFor(3, releases.v3, v3)).get(sha(v3))!;
    expect(offer.baseDigest).toBe(sha(v2));
    const patch = Buffer.from(await (await fetch(`${base}${offer.url}`)).arrayBuffer());
    expect(Buffer.from(await applyToBuffer(v2, patch)).equals(v3)).toBe(true);
    // An image the service does not hold cannot be a base, even with anyInstalled.
    await report(2, sha(unrelated));
    expect((await offersFor(2, releases.v3, v3)).size).toBe(0);
    await deltas.worker.idle();
    expect((await deltaRows()).some((r) => r.base_digest === sha(unrelated))).toBe(false);
  });

  it('records a patch that is not smaller than the full image, and offers the full image', async () => {
    const v4 = randomBytes(60_000);
    releases.v4 = await upload(4, '4.0.0', v4);
    expect((await setBases(releases.v4, { bases: ['1.0.0'], anyInstalled: false })).status).toBe(
      200,
    );
    await deltas.worker.idle();
    const [patch] = (await view(releases.v4)).patches;
    expect(patch).toMatchObject({ baseDigest: sha(v1), state: 'not_smaller' });
    expect(patch!.patchSize).toBeGreaterThanOrEqual(v4.length);
    await report(0, sha(v1));
    expect((await offersFor(0, releases.v4, v4)).size).toBe(0);
    expect(await deltas.queuedCount()).toBe(0);
  });

  it('records a failed encoding (base blob gone) and falls back to the full image', async () => {
    const v5 = edited(v1);
    const gone = edited(v2);
    releases.gone = await upload(5, '4.5.0', gone);
    releases.v5 = await upload(6, '5.0.0', v5);
    expect(await server.app.updraft.blobs.delete(sha(gone))).toBe(true);
    expect((await setBases(releases.v5, { bases: ['4.5.0'], anyInstalled: false })).status).toBe(
      200,
    );
    await deltas.worker.idle();
    expect((await view(releases.v5)).patches).toMatchObject([
      {
        baseDigest: sha(gone),
        state: 'failed',
        errorCode: 'DELTA_OLD_READ_FAILED',
        patchSize: null,
      },
    ]);
    await report(1, sha(gone));
    expect((await offersFor(1, releases.v5, v5)).size).toBe(0);
    await deltas.worker.idle();
    expect((await view(releases.v5)).patches).toHaveLength(1);
  });

  it('records an encoding over its time budget as failed (the encoder thread is stopped)', async () => {
    const v7 = edited(v2);
    releases.v7 = await upload(8, '7.0.0', v7);
    // The worker thread with a 1 ms budget (the service passes its budget to the encoder).
    encoder = (b, t, budget) => workerEncoder(b, t, { ...budget, timeBudgetMs: 1 });
    try {
      expect((await setBases(releases.v7, { bases: ['2.0.0'], anyInstalled: false })).status).toBe(
        200,
      );
      await deltas.worker.idle();
    } finally {
      encoder = inProcessEncoder;
    }
    expect((await view(releases.v7)).patches).toMatchObject([
      { baseDigest: sha(v2), state: 'failed', errorCode: 'DELTA_BUDGET_EXCEEDED' },
    ]);
    await report(1, sha(v2));
    expect((await offersFor(1, releases.v7, v7)).size).toBe(0);
  });

  it('refuses patch requests beyond the queue bound while the encoder is busy', async () => {
    expect(deltas.limits.maxQueued).toBe(2);
    let started = false;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    encoder = async (base, target, budget) => {
      started = true;
      await gate;
      return inProcessEncoder(base, target, budget);
    };
    const key = (targetDigest: string, baseDigest = sha(v2)) => ({
      tenantId: fleet.tenantId,
      baseDigest,
      targetDigest,
    });
    const refused = async () =>
      Number(
        /updraft_delta_queue_refused_total (\d+)/.exec(
          await (await fetch(`${base}/metrics`)).text(),
        )?.[1],
      );
    try {
      const before = await refused();
      expect(await deltas.request(key(sha(v1)), v1.length)).toBe('queued');
      await expect.poll(() => started).toBe(true);
      const waiting = [randomBytes(32), randomBytes(32), randomBytes(32)].map((b) =>
        b.toString('hex'),
      );
      expect(await deltas.request(key(waiting[0]!), 10)).toBe('queued');
      expect(await deltas.request(key(waiting[1]!), 10)).toBe('queued');
      expect(await deltas.request(key(waiting[2]!), 10)).toBe('full');
      expect(await deltas.request(key(sha(v1)), v1.length)).toBe('duplicate');
      // No record for the refused one: the next check-in of such a device asks again.
      expect((await deltaRows()).some((r) => r.target_digest === waiting[2])).toBe(false);
      expect(await refused()).toBe(before + 1);
      // A base the service does not hold is never queued.
      expect(await deltas.request(key(sha(v1), sha(unrelated)), v1.length)).toBe('no-base');
    } finally {
      release();
      await deltas.worker.idle();
      encoder = inProcessEncoder;
    }
    expect((await deltaRows()).find((r) => r.target_digest === sha(v1))?.state).toBe('ready');
  });

  it('answers without offers when looking them up fails (deltas only ever save bytes)', async () => {
    const db = server.app.updraft.db;
    const row = await db
      .selectFrom('release_delta_bases')
      .selectAll()
      .where('release_id', '=', releases.v2!)
      .executeTakeFirstOrThrow();
    await db
      .updateTable('release_delta_bases')
      .set({ base_release_ids: '{not json' })
      .where('release_id', '=', releases.v2!)
      .execute();
    try {
      await report(0, sha(v1));
      expect((await offersFor(0, releases.v2!, v2)).size).toBe(0);
    } finally {
      await db
        .updateTable('release_delta_bases')
        .set({ base_release_ids: row.base_release_ids })
        .where('release_id', '=', releases.v2!)
        .execute();
    }
    expect((await offersFor(0, releases.v2!, v2)).size).toBe(1);
  });

  it('puts the offer into the check-in answer of a device on the base, and changes its ETag', async () => {
    const v6 = edited(v1);
    releases.v6 = await upload(7, '6.0.0', v6);
    expect(
      (await setBases(releases.v6, { bases: ['1.0.0'], anyInstalled: false, eager: false })).status,
    ).toBe(200);
    const [onBase, elsewhere] = [fleet.devices[2]!, fleet.devices[3]!];
    for (const d of [onBase, elsewhere]) {
      const res = await fetch(`${base}/api/v1/actions`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ deviceId: d.id, releaseId: releases.v6 }),
      });
      expect(res.status).toBe(201);
    }
    type Answer = {
      action: {
        payloads: {
          digest: string;
          url: string;
          delta?: { baseDigest: string; patchDigest: string; patchSize: number; url: string };
        }[];
      };
    };
    const checkIn = async (d: { token: string }, digest: string, etag?: string) =>
      fetch(`${base}/api/device/v1/check-in`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${d.token}`,
          'content-type': 'application/json',
          ...(etag ? { 'if-none-match': etag } : {}),
        },
        body: JSON.stringify({ components: [{ id: COMPONENT, digest }] }),
      });
    // First check-in on the base: the patch is asked for; the full payload is offered meanwhile.
    let res = await checkIn(onBase, sha(v1));
    const first = (await res.json()) as Answer;
    const etag = res.headers.get('etag')!;
    expect(first.action.payloads[0]).not.toHaveProperty('delta');
    await deltas.worker.idle();
    res = await checkIn(onBase, sha(v1), etag);
    expect(res.status).toBe(200);
    const [payload] = ((await res.json()) as Answer).action.payloads;
    expect(payload!.delta).toMatchObject({ baseDigest: sha(v1) });
    const patch = Buffer.from(await (await fetch(`${base}${payload!.delta!.url}`)).arrayBuffer());
    expect(Buffer.from(await applyToBuffer(v1, patch)).equals(v6)).toBe(true);
    // A device on another image gets no delta.
    res = await checkIn(elsewhere, sha(unrelated));
    expect(((await res.json()) as Answer).action.payloads[0]).not.toHaveProperty('delta');
  });

  it("forgets a deleted release's patches and their blobs on deletion, and keeps a live release's", async () => {
    const { db, blobs } = server.app.updraft;
    const patchesOf = async (target: Buffer) =>
      (await deltaRows()).filter((r) => r.target_digest === sha(target));
    const v3 = releases.v3!;
    const v3Rows = await db
      .selectFrom('deltas')
      .selectAll()
      .where('target_digest', 'in', (eb) =>
        eb.selectFrom('release_payloads').select('sha256').where('release_id', '=', v3),
      )
      .execute();
    expect(v3Rows.length).toBe(2);
    // Still live: nothing goes.
    const targets = v3Rows.map((r) => r.target_digest);
    expect(await forgetDeltasOf(db, blobs, fleet.tenantId, [targets[0]!])).toBe(0);
    const res = await fetch(`${base}/api/v1/releases/${v3}`, {
      method: 'DELETE',
      headers: { authorization: admin.authorization! },
    });
    expect(res.status).toBe(204);
    // Deleting the release already forgot them (ReleaseService.delete calls forgetDeltasOf).
    expect(await forgetDeltasOf(db, blobs, fleet.tenantId, [targets[0]!])).toBe(0);
    for (const r of v3Rows) expect(await blobs.head(r.patch_digest!)).toBeUndefined();
    expect((await deltaRows()).some((r) => r.target_digest === targets[0])).toBe(false);
    // Other releases' patches are untouched.
    expect((await patchesOf(v2)).map((r) => r.state)).toEqual(['ready']);
    const kept = (await patchesOf(v2))[0]!.patch_digest!;
    expect(await blobs.head(kept)).toBeDefined();
  });

  describe('bad input changes nothing', () => {
    it('refuses unknown bases, the release itself, unknown releases and malformed bodies', async () => {
      const bases = () =>
        server.app.updraft.db
          .selectFrom('release_delta_bases')
          .selectAll()
          .orderBy('release_id')
          .execute();
      const before = await bases();
      const cases: [string, Record<string, unknown>, number, string][] = [
        [releases.v2!, { bases: ['9.9.9'], anyInstalled: false }, 422, 'RESOURCE_INVALID'],
        [releases.v2!, { bases: ['2.0.0'], anyInstalled: false }, 422, 'RESOURCE_INVALID'],
        [
          releases.v2!,
          { bases: ['1.0.0', 'rel_nope'], anyInstalled: false },
          422,
          'RESOURCE_INVALID',
        ],
        ['rel_missing', { bases: ['1.0.0'], anyInstalled: false }, 404, 'RESOURCE_NOT_FOUND'],
        [releases.v2!, { bases: ['1.0.0'] }, 400, 'HTTP_VALIDATION_FAILED'],
        [releases.v2!, { bases: ['1.0.0'], anyInstalled: 'yes' }, 400, 'HTTP_VALIDATION_FAILED'],
        [releases.v2!, { bases: ['a b'], anyInstalled: false }, 400, 'HTTP_VALIDATION_FAILED'],
        [
          releases.v2!,
          { bases: Array(33).fill('1.0.0'), anyInstalled: false },
          400,
          'HTTP_VALIDATION_FAILED',
        ],
        [releases.v2!, { bases: [], anyInstalled: false, extra: 1 }, 400, 'HTTP_VALIDATION_FAILED'],
      ];
      for (const [id, body, status, code] of cases) {
        const res = await setBases(id, body);
        expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([status, code]);
      }
      expect(await bases()).toEqual(before);
    });

    it('is audited, and needs releases:write to configure and releases:read to view', async () => {
      const audit = await server.app.updraft.db
        .selectFrom('audit_log')
        .select(['action', 'resource_id', 'outcome'])
        .where('action', '=', 'release.delta-bases')
        .execute();
      expect(audit).toContainEqual({
        action: 'release.delta-bases',
        resource_id: releases.v2,
        outcome: 'success',
      });
      const support = await server.tokenFor(['support']);
      const res = await fetch(`${base}/api/v1/releases/${releases.v2}/delta-bases`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${support.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bases: [], anyInstalled: true }),
      });
      expect(res.status).toBe(403);
      expect((await view(releases.v2!)).anyInstalled).toBe(false);
    });
  });
});
