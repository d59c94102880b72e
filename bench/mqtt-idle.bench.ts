// 10,000 concurrent idle MQTT device connections on the embedded broker: server RSS per connection and p99 latency from assignment to notice
//
// Run: npm run bench:mqtt -- [--connections 10000] [--assignments 1000] [--children 2] [--auth certificate|token]
// The server (SQLite, embedded aedes broker on TLS 1.3) runs in this process; the devices are
// mqtt.js clients in `--children` child processes, each with its own TLS connection, and a
// subscription to its own notify topic. `--auth certificate` (default): each device has its own
// P-256 key and a certificate `CN=<device>, O=<tenant>` from the tenant's issuing CA, recorded in
// the certificate inventory and checked by the broker at connect; `--auth token`: the device
// token as MQTT password (over the same TLS). RSS of the server process is measured after a GC before the devices connect and
// after they all did; then `--assignments` single assignments (POST /api/v1/actions, each to another
// device, one after another) are timed from the API call to the notice's arrival at the device
// (timestamps on one machine: performance.timeOrigin + now). Results: bench/results/mqtt.json.
import { type ChildProcess, fork } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deviceTopicRoot } from '@updraft/core';
import {
  type Fleet,
  seedFleet,
  uploadRelease,
} from '../packages/server/src/testing/release-fixtures.ts';
import { createTestServer } from '../packages/server/src/testing/test-server.ts';
import { arg } from './args.ts';

const self = fileURLToPath(import.meta.url);
const now = () => performance.timeOrigin + performance.now();

interface ChildSetup {
  readonly url: string;
  readonly ca: string;
  readonly devices: readonly {
    readonly token: string;
    readonly topic: string;
    readonly cert?: string;
    readonly key?: string;
  }[];
  readonly offset: number;
}

type ChildMessage =
  | { kind: 'connected'; count: number; failed: number }
  | { kind: 'notice'; device: number; actionId: string; at: number };

// --- child: idle devices ----------------------------------------------------------------------
async function child(): Promise<void> {
  const { default: mqtt } = await import('mqtt');
  const setup = await new Promise<ChildSetup>((resolve) => process.once('message', resolve));
  const send = (m: ChildMessage) => process.send!(m);
  let failed = 0;
  const clients: unknown[] = [];
  const BATCH = 100;
  for (let i = 0; i < setup.devices.length; i += BATCH) {
    await Promise.all(
      setup.devices.slice(i, i + BATCH).map(async (d, j) => {
        const index = setup.offset + i + j;
        const client = mqtt.connect(setup.url, {
          protocolVersion: 4,
          ca: setup.ca,
          servername: 'localhost',
          ...(d.cert !== undefined
            ? { cert: d.cert, key: d.key }
            : { username: 'device', password: d.token }),
          keepalive: 600,
          reconnectPeriod: 0,
          connectTimeout: 60_000,
        });
        client.on('message', (_t, payload) => {
          const notice = JSON.parse(payload.toString()) as { actionId: string };
          send({ kind: 'notice', device: index, actionId: notice.actionId, at: now() });
        });
        try {
          await new Promise<void>((resolve, reject) => {
            client.once('connect', () => resolve());
            client.once('error', reject);
          });
          await client.subscribeAsync(d.topic, { qos: 1 });
          clients.push(client);
        } catch {
          failed += 1;
          client.end(true);
        }
      }),
    );
  }
  send({ kind: 'connected', count: clients.length, failed });
  // Idle until the parent ends us.
  await new Promise(() => undefined);
}

/**
 * A key and a certificate `CN=<device>, O=<tenant>` from the tenant's issuing CA for every
 * device, recorded in the certificate inventory (set-based inserts of 500 rows).
 */
async function issueDeviceCertificates(
  server: Awaited<ReturnType<typeof createTestServer>>,
  fleet: Fleet,
): Promise<{ cert: string; key: string }[]> {
  const x509 = await import('@peculiar/x509');
  const { createHash, X509Certificate, webcrypto } = await import('node:crypto');
  const { CaKeyBox, loadTenantCa } = await import(
    '../packages/server/src/features/pki/tenant-ca.ts'
  );
  x509.cryptoProvider.set(webcrypto as Crypto);
  const db = server.app.updraft.db;
  const tenantCa = (await loadTenantCa(
    db,
    new CaKeyBox(server.app.updraft.deriveKey('pki-ca-key')),
    fleet.tenantId,
  ))!;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const der = (pem: string) =>
    Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const caKey = await webcrypto.subtle.importKey('pkcs8', der(tenantCa.privateKeyPem), alg, false, [
    'sign',
  ]);
  const caCert = new x509.X509Certificate(tenantCa.certificatePem);
  const notBefore = new Date(Date.now() - 300_000);
  const notAfter = new Date(Date.now() + 7 * 86_400_000);
  const out: { cert: string; key: string }[] = [];
  const rows = [];
  for (const [i, d] of fleet.devices.entries()) {
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: (i + 1).toString(16).padStart(16, '0'),
      subject: `CN=${d.id}, O=${fleet.tenantId}`,
      issuer: caCert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: 'url', value: `urn:updraft:device:${d.id}` },
        ]),
      ],
    });
    const certPem = cert.toString('pem');
    const keyPem = x509.PemConverter.encode(
      await webcrypto.subtle.exportKey('pkcs8', keys.privateKey),
      'PRIVATE KEY',
    );
    out.push({ cert: certPem, key: keyPem });
    const node = new X509Certificate(certPem);
    rows.push({
      id: `crt_${d.id}`,
      tenant_id: fleet.tenantId,
      device_id: d.id,
      serial: node.serialNumber.toLowerCase(),
      fingerprint: createHash('sha256').update(node.raw).digest('hex'),
      spki_fingerprint: createHash('sha256')
        .update(node.publicKey.export({ type: 'spki', format: 'der' }))
        .digest('hex'),
      certificate_pem: certPem,
      not_before: notBefore.toISOString(),
      not_after: notAfter.toISOString(),
      issued_at: notBefore.toISOString(),
      issued_via: 'est-token',
      state: 'active',
      superseded_at: null,
      revoked_at: null,
      revocation_reason: null,
      revoked_by: null,
    });
  }
  for (let i = 0; i < rows.length; i += 500)
    await db
      .insertInto('device_certificates')
      .values(rows.slice(i, i + 500))
      .execute();
  return out;
}

// --- parent: the server -------------------------------------------------------------------------
async function rssAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 200));
  }
  return process.memoryUsage().rss;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const connections = Number(arg('connections', '10000'));
  const assignments = Math.min(connections, Number(arg('assignments', '1000')));
  const children = Number(arg('children', '2'));
  const auth = arg('auth', 'certificate');
  if (auth !== 'certificate' && auth !== 'token') throw new Error('--auth certificate|token');
  if (typeof globalThis.gc !== 'function')
    throw new Error('run with node --expose-gc (npm run bench:mqtt)');
  const { execSync } = await import('node:child_process');
  const nofile = Number(execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim());
  // Each connection is one descriptor here and one in a child, plus the database and the rest.
  if (nofile < connections + 1_000)
    throw new Error(
      `ulimit -n is ${nofile}; raise it above ${connections + 1_000} (ulimit -n 65536)`,
    );

  const server = await createTestServer('sqlite', {
    logLevel: 'warn',
    mqtt: { mode: 'embedded', port: 0 },
  });
  try {
    const t0 = performance.now();
    const fleet: Fleet = await seedFleet(server.app.updraft.db, {
      tenantId: 'ten_default',
      deviceCount: connections,
    });
    const seedMs = performance.now() - t0;
    const headers = await server.adminHeaders();
    const releaseId = await uploadRelease(server.app, headers, fleet, 1, [Buffer.from('fw')]);
    const port = (await server.app.wiring.mqtt.start()) as number;
    const ca = await readFile(path.join(server.dataDir, 'pki', 'ca.pem'), 'utf8');
    const tIssue = performance.now();
    const credentials =
      auth === 'certificate' ? await issueDeviceCertificates(server, fleet) : undefined;
    const issueMs = performance.now() - tIssue;
    const broker = server.app.wiring.mqtt.broker!;

    const rssBefore = await rssAfterGc();
    const per = Math.ceil(connections / children);
    const procs: ChildProcess[] = [];
    const noticeAt = new Map<string, number>();
    let connected = 0;
    let failed = 0;
    const tConnect = performance.now();
    await Promise.all(
      Array.from({ length: children }, (_, c) => {
        const slice = fleet.devices.slice(c * per, (c + 1) * per);
        const proc = fork(self, ['--child'], {
          execArgv: process.execArgv.filter((a) => a !== '--expose-gc'),
        });
        procs.push(proc);
        proc.on('message', (m: ChildMessage) => {
          if (m.kind === 'notice') noticeAt.set(m.actionId, m.at);
        });
        proc.send({
          url: `mqtts://127.0.0.1:${port}`,
          ca,
          offset: c * per,
          devices: slice.map((d, j) => ({
            token: d.token,
            topic: `${deviceTopicRoot(fleet.tenantId, d.id)}/notify`,
            ...(credentials?.[c * per + j] ?? {}),
          })),
        } satisfies ChildSetup);
        return new Promise<void>((resolve) =>
          proc.on('message', (m: ChildMessage) => {
            if (m.kind !== 'connected') return;
            connected += m.count;
            failed += m.failed;
            resolve();
          }),
        );
      }),
    );
    const connectMs = performance.now() - tConnect;
    const rssAfter = await rssAfterGc();
    const open = broker.connectedDevices;

    // Assignments one after another, each to another device; latency = API call → notice.
    const started = new Map<string, number>();
    for (let i = 0; i < assignments; i++) {
      const device = fleet.devices[i]!;
      const at = now();
      const res = await server.app.inject({
        method: 'POST',
        url: '/api/v1/actions',
        headers: { ...headers, 'content-type': 'application/json' },
        payload: { deviceId: device.id, releaseId },
      });
      if (res.statusCode !== 201) throw new Error(`assign answered ${res.statusCode}: ${res.body}`);
      started.set((JSON.parse(res.body) as { id: string }).id, at);
    }
    const deadline = performance.now() + 10_000;
    while (performance.now() < deadline && [...started.keys()].some((id) => !noticeAt.has(id)))
      await new Promise((r) => setTimeout(r, 50));
    const latencies = [...started]
      .filter(([id]) => noticeAt.has(id))
      .map(([id, at]) => noticeAt.get(id)! - at)
      .sort((a, b) => a - b);
    for (const p of procs) p.kill('SIGKILL');

    const bytesPerConnection = Math.round((rssAfter - rssBefore) / Math.max(1, open));
    const result = {
      bench: 'mqtt-idle',
      date: new Date().toISOString(),
      node: process.version,
      auth:
        auth === 'certificate'
          ? 'device certificate (P-256, tenant CA) over TLS 1.3, checked against the inventory (embedded aedes broker, MQTT 3.1.1)'
          : 'device token as MQTT password over TLS 1.3 (embedded aedes broker, MQTT 3.1.1)',
      connectionsRequested: connections,
      connections: open,
      clientsConnected: connected,
      clientsFailed: failed,
      children,
      seedMs: Math.round(seedMs),
      issueMs: Math.round(issueMs),
      connectMs: Math.round(connectMs),
      rssBeforeBytes: rssBefore,
      rssAfterBytes: rssAfter,
      bytesPerConnection,
      assignments,
      noticesReceived: latencies.length,
      notifyMs: {
        p50: Number(percentile(latencies, 50).toFixed(2)),
        p90: Number(percentile(latencies, 90).toFixed(2)),
        p99: Number(percentile(latencies, 99).toFixed(2)),
        max: Number(latencies[latencies.length - 1]!.toFixed(2)),
      },
      targetP99Ms: 1000,
    };
    await mkdir(new URL('./results/', import.meta.url), { recursive: true });
    await writeFile(
      new URL('./results/mqtt.json', import.meta.url),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `mqtt-bench connections=${open} bytesPerConnection=${bytesPerConnection} p99NotifyMs=${result.notifyMs.p99}`,
    );
  } finally {
    await server.close();
  }
}

if (process.argv.includes('--child')) {
  await child();
} else {
  await main();
  process.exit(0);
}
