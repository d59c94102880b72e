// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect API.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { up as oneActiveMigration } from '../../db/migrations/20261203150000-device-certificates-one-active.js';
import { describeEachDialect, TEST_POSTGRES_URL } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { ISSUANCE_CONFLICT_RETRY_AFTER_SECONDS } from './pki.service.js';
import type { DeviceCertificateTable } from './pki.table.js';

const CONCURRENT = 8;

/** A fresh P-256 key's CSR, base64 DER as an EST client sends it. */
async function newCsr(): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: 'CN=ignored', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } },
    webcrypto,
  );
  return Buffer.from(csr.rawData).toString('base64');
}

/** A row of `device_certificates` with made-up certificate material (for schema tests only). */
function certificateRow(deviceId: string, issuedAt: string, state: string): DeviceCertificateTable {
  const id = newId('crt');
  return {
    id,
    tenant_id: 'ten_default',
    device_id: deviceId,
    serial: id.toLowerCase().replace(/[^0-9a-f]/g, '') + issuedAt.replace(/\D/g, ''),
    fingerprint: `fp-${id}`,
    spki_fingerprint: `spki-${id}`,
    certificate_pem: 'not a certificate',
    not_before: issuedAt,
    not_after: '2099-01-01T00:00:00.000Z',
    issued_at: issuedAt,
    issued_via: 'est-token',
    state,
    superseded_at: null,
    revoked_at: null,
    revocation_reason: null,
    revoked_by: null,
  };
}

describeEachDialect('certificate issuance for one device, concurrently', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let classId: string;
  let db: Kysely<Database>;

  const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
    server.app.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });
  const newDevice = async (name: string) => {
    const res = await api('POST', '/api/v1/devices', { name, deviceClassId: classId });
    expect(res.statusCode, res.body).toBe(201);
    return (res.json() as { device: { id: string } }).device.id;
  };
  const newToken = async (device: string) => {
    const res = await api('POST', '/api/v1/pki/enrollment-tokens', { device });
    expect(res.statusCode, res.body).toBe(201);
    return (res.json() as { token: string }).token;
  };
  const enroll = async (device: string, token: string) =>
    server.app.inject({
      method: 'POST',
      url: '/.well-known/est/simpleenroll',
      headers: {
        authorization: `Basic ${Buffer.from(`${device}:${token}`).toString('base64')}`,
        'content-type': 'application/pkcs10',
        'content-transfer-encoding': 'base64',
      },
      payload: await newCsr(),
    });
  const certificatesOf = (deviceId: string) =>
    db
      .selectFrom('device_certificates')
      .select(['id', 'state', 'issued_at', 'superseded_at'])
      .where('device_id', '=', deviceId)
      .execute();
  /** Every answer is an issued certificate or the documented 503 with Retry-After. */
  const expectIssuedOrConflict = (responses: Awaited<ReturnType<typeof enroll>>[]) => {
    for (const res of responses) {
      if (res.statusCode === 200) {
        expect(res.headers['content-type']).toContain('application/pkcs7-mime');
        continue;
      }
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json()).toMatchObject({ code: 'PKI_CERTIFICATE_ISSUANCE_CONFLICT' });
      expect(res.headers['retry-after']).toBe(String(ISSUANCE_CONFLICT_RETRY_AFTER_SECONDS));
    }
    return responses.filter((r) => r.statusCode === 200).length;
  };

  beforeAll(async () => {
    server = await createTestServer(dialect);
    admin = await server.adminHeaders();
    db = server.app.updraft.db;
    const cls = await api('POST', '/api/v1/device-classes', {
      name: 'valve',
      vendorName: 'acme.example',
      modelName: 'valve',
    });
    expect(cls.statusCode, cls.body).toBe(201);
    classId = (cls.json() as { id: string }).id;
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  it(`leaves exactly one active certificate after ${CONCURRENT} simultaneous enrollments, twice`, async () => {
    const deviceId = await newDevice('valve-1');
    let issued = 0;
    for (let round = 0; round < 2; round++) {
      // One token each, so every request passes authentication and reaches issuance together.
      const tokens = await Promise.all(
        Array.from({ length: CONCURRENT }, () => newToken('valve-1')),
      );
      const responses = await Promise.all(tokens.map((t) => enroll('valve-1', t)));
      const ok = expectIssuedOrConflict(responses);
      expect(ok).toBeGreaterThan(0);
      issued += ok;
      const rows = await certificatesOf(deviceId);
      expect(rows).toHaveLength(issued);
      const active = rows.filter((r) => r.state === 'active');
      expect(active).toHaveLength(1);
      // The active one is the newest; every other one was superseded, none left dangling.
      const superseded = rows.filter((r) => r.state === 'superseded');
      expect(superseded).toHaveLength(issued - 1);
      for (const r of superseded) expect(r.superseded_at).not.toBeNull();
      // A refused enrollment used no token: it can retry with the same one.
      const used = await db
        .selectFrom('enrollment_tokens')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('device_id', '=', deviceId)
        .where('used_at', 'is not', null)
        .executeTakeFirstOrThrow();
      expect(Number(used.n)).toBe(issued);
    }
  });

  it('the database refuses a second active certificate of one device', async () => {
    const deviceId = await newDevice('valve-2');
    await db
      .insertInto('device_certificates')
      .values(certificateRow(deviceId, '2026-01-01T00:00:00.000Z', 'active'))
      .execute();
    await expect(
      db
        .insertInto('device_certificates')
        .values(certificateRow(deviceId, '2026-01-02T00:00:00.000Z', 'active'))
        .execute(),
    ).rejects.toThrow(/unique/i);
    // Superseded and revoked ones are not limited.
    await db
      .insertInto('device_certificates')
      .values([
        certificateRow(deviceId, '2026-01-03T00:00:00.000Z', 'superseded'),
        certificateRow(deviceId, '2026-01-04T00:00:00.000Z', 'superseded'),
        certificateRow(deviceId, '2026-01-05T00:00:00.000Z', 'revoked'),
      ])
      .execute();
  });

  it('the migration repairs duplicates: the newest stays active, older ones superseded at its issue time', async () => {
    const a = await newDevice('valve-3');
    const b = await newDevice('valve-4');
    await sql`DROP INDEX device_certificates_one_active`.execute(db);
    const rows = [
      certificateRow(a, '2026-02-01T00:00:00.000Z', 'active'),
      certificateRow(a, '2026-02-03T00:00:00.000Z', 'active'),
      certificateRow(a, '2026-02-02T00:00:00.000Z', 'active'),
      certificateRow(a, '2026-01-01T00:00:00.000Z', 'revoked'),
      certificateRow(b, '2026-02-01T00:00:00.000Z', 'active'),
    ];
    await db.insertInto('device_certificates').values(rows).execute();
    await oneActiveMigration(db as unknown as Kysely<unknown>);
    const after = await db
      .selectFrom('device_certificates')
      .select(['id', 'state', 'superseded_at'])
      .where('device_id', 'in', [a, b])
      .execute();
    const byId = new Map(after.map((r) => [r.id, r]));
    expect(byId.get(rows[1]!.id)).toEqual({
      id: rows[1]!.id,
      state: 'active',
      superseded_at: null,
    });
    for (const older of [rows[0]!, rows[2]!])
      expect(byId.get(older.id)).toMatchObject({
        state: 'superseded',
        superseded_at: '2026-02-03T00:00:00.000Z',
      });
    expect(byId.get(rows[3]!.id)).toMatchObject({ state: 'revoked', superseded_at: null });
    expect(byId.get(rows[4]!.id)).toMatchObject({ state: 'active', superseded_at: null });
    // The index is back.
    await expect(
      db
        .insertInto('device_certificates')
        .values(certificateRow(b, '2026-03-01T00:00:00.000Z', 'active'))
        .execute(),
    ).rejects.toThrow(/unique/i);
  });

  if (dialect === 'postgres')
    it('answers 503 + Retry-After when an issuance that took no lock stored its certificate first', async () => {
      // An older replica (no device lock) inserting an active certificate, not yet committed.
      const deviceId = await newDevice('valve-5');
      const token = await newToken('valve-5');
      const other = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await other.connect();
      try {
        await other.query(`SET search_path TO "${server.database.config.schema}"`);
        const pid = (await other.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
        await other.query('BEGIN');
        const row = certificateRow(deviceId, new Date().toISOString(), 'active');
        const columns = Object.keys(row);
        await other.query(
          `INSERT INTO device_certificates (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
          Object.values(row),
        );
        const answer = enroll('valve-5', token);
        // Commit only once the enrollment waits on that row (its INSERT hit the unique index).
        const watcher = new pg.Client({ connectionString: TEST_POSTGRES_URL });
        await watcher.connect();
        try {
          for (let i = 0; ; i++) {
            const waiting = await watcher.query(
              'SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
              [pid],
            );
            if (waiting.rowCount! > 0) break;
            if (i > 500) throw new Error('the enrollment never waited on the other insert');
            await new Promise((r) => setTimeout(r, 10));
          }
        } finally {
          await watcher.end();
        }
        await other.query('COMMIT');
        const res = await answer;
        expectIssuedOrConflict([res]);
        expect(res.statusCode).toBe(503);
        expect(res.json()).toMatchObject({ details: { reason: 'concurrent-issuance' } });
        const rows = await certificatesOf(deviceId);
        expect(rows).toEqual([expect.objectContaining({ id: row.id, state: 'active' })]);
        // The refused request did not use its token: the retry succeeds.
        const retry = await enroll('valve-5', token);
        expect(retry.statusCode, retry.body).toBe(200);
        const states = (await certificatesOf(deviceId)).map((r) => r.state).sort();
        expect(states).toEqual(['active', 'superseded']);
      } finally {
        await other.end();
      }
    });
});
