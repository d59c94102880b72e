// TLS 1.3 mutual-auth handshakes per second (P-256): Updraft's TLS listener vs `openssl s_server -tls1_3 -Verify 1`, same keys, same client, same run
//
// Run: npm run bench:tls -- [--seconds 5] [--rounds 3] [--warmup 2] [--connections 16]
// Updraft runs in this process (the real server, `tls.enabled`, its server certificate issued by
// the tenant CA); `openssl s_server` is started with the same P-256 server certificate and key
// and the same CA file. One client — a child Node process doing full handshakes (no session
// resumption) on several concurrent connections, presenting a device certificate of the tenant
// CA — drives both in alternating rounds. A handshake counts once the server's session ticket
// arrived: in TLS 1.3 with client authentication the server sends it only after it has received
// and processed the client's certificate and Finished, so the server's whole side is included.
// The medians, their ratio (target ≥ 0.5) and the server CPU time per handshake go to
// bench/results/tls-handshakes.json, with the cost of an idle check-in authenticated by the
// device certificate vs by a bearer token (server CPU per request, same kept-alive connections).
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, isAccepting } from '../packages/server/src/testing/ports.ts';
import { arg } from './args.ts';

const self = fileURLToPath(import.meta.url);
const run = promisify(execFile);

interface DriveResult {
  handshakes: number;
  errors: number;
  seconds: number;
}

// --- child: the client ---------------------------------------------------------------------
async function drive(port: number, dir: string, seconds: number, connections: number) {
  const [cert, key, ca] = await Promise.all(
    ['client.pem', 'client.key', 'ca.pem'].map((f) => readFile(join(dir, f), 'utf8')),
  );
  // One context for every connection (building one per connection parses keys and CAs again:
  // that would measure the client, not the servers).
  const options: tls.ConnectionOptions = {
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    secureContext: tls.createSecureContext({
      cert,
      key,
      ca,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ecdhCurve: 'P-256',
    }),
  };
  const deadline = performance.now() + seconds * 1000;
  let handshakes = 0;
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      // No `session` option: every connection is a full handshake.
      const socket = tls.connect(options);
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        if (ok) handshakes++;
        else errors++;
        socket.destroy();
        resolve();
      };
      socket.once('session', () => finish(socket.authorized));
      socket.once('error', () => finish(false));
      socket.once('close', () => finish(false));
      socket.setTimeout(5000, () => finish(false));
    });
  const loop = async () => {
    while (performance.now() < deadline) await one();
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, loop));
  const out: DriveResult = { handshakes, errors, seconds: (performance.now() - started) / 1000 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Idle check-ins on kept-alive connections, by bearer token or by the device certificate. */
async function checkIns(port: number, dir: string, seconds: number, mode: string) {
  const https = await import('node:https');
  const [cert, key, ca, token] = await Promise.all(
    ['client.pem', 'client.key', 'ca.pem', 'token'].map((f) => readFile(join(dir, f), 'utf8')),
  );
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 8,
    ca,
    ...(mode === 'certificate' ? { cert, key } : {}),
  });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(mode === 'bearer' ? { authorization: `Bearer ${token}` } : {}),
  };
  const post = (etag?: string) =>
    new Promise<{ status: number; etag: string }>((resolve, reject) => {
      const request = https.request(
        {
          host: '127.0.0.1',
          port,
          servername: 'localhost',
          path: '/api/device/v1/check-in',
          method: 'POST',
          agent,
          headers: etag === undefined ? headers : { ...headers, 'if-none-match': etag },
        },
        (response) => {
          response.resume();
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, etag: String(response.headers.etag) }),
          );
        },
      );
      request.on('error', reject);
      request.end(CHECK_IN);
    });
  const { etag } = await post();
  const deadline = performance.now() + seconds * 1000;
  let handshakes = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (performance.now() < deadline) {
        const answer = await post(etag);
        if (answer.status === 304) handshakes++;
        else if (errors++ === 0)
          process.stderr.write(`${mode} check-in answered ${answer.status}\n`);
      }
    }),
  );
  agent.destroy();
  const out: DriveResult = { handshakes, errors, seconds: (performance.now() - started) / 1000 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

const CHECK_IN = JSON.stringify({ components: [{ id: '814100', version: '1.0.0' }] });

function runClient(
  port: number,
  dir: string,
  seconds: number,
  connections: number,
  mode = 'handshakes',
) {
  return new Promise<DriveResult>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        self,
        '--drive',
        String(port),
        dir,
        String(seconds),
        String(connections),
        mode,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`client exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as DriveResult);
    });
  });
}

// --- parent: servers and rounds ------------------------------------------------------------
interface Measured extends DriveResult {
  handshakesPerSec: number;
  serverCpuMicrosPerHandshake: number;
}

/** utime + stime of a process in microseconds (Linux /proc; clock ticks of 10 ms). */
async function processCpuMicros(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function measured(
  cpu: () => Promise<number>,
  drive: () => Promise<DriveResult>,
): Promise<Measured> {
  const before = await cpu();
  const result = await drive();
  const used = (await cpu()) - before;
  return {
    ...result,
    handshakesPerSec: Math.round(result.handshakes / result.seconds),
    serverCpuMicrosPerHandshake: Math.round(used / Math.max(1, result.handshakes)),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await isAccepting(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`openssl s_server did not listen on ${port}`);
}

async function main() {
  const seconds = Number(arg('seconds', '5'));
  const rounds = Number(arg('rounds', '3'));
  const warmup = Number(arg('warmup', '2'));
  const connections = Number(arg('connections', '16'));
  // Loaded here, not at the top: the client child process runs this file too and needs none of it.
  const { buildServer, loadConfig } = await import('../packages/server/src/index.ts');
  // Internal modules: the bench issues a device certificate the way enrollment will.
  const { CaKeyBox, loadTenantCa } = await import(
    '../packages/server/src/features/pki/tenant-ca.ts'
  );
  const { issueDeviceCertificate } = await import('../packages/server/src/pki/index.ts');
  const dir = await mkdtemp(join(tmpdir(), 'updraft-tls-bench-'));
  const config = loadConfig({
    overrides: {
      dataDir: dir,
      port: 0,
      logLevel: 'warn',
      database: { kind: 'sqlite', sqliteFile: join(dir, 'updraft.db') },
      auth: { adminPassword: 'bench-admin-password-0123' },
      tls: { enabled: true },
      // One device polls thousands of times a second here: per-device limits would answer 429.
      rateLimit: { enabled: false },
    },
  });
  const app = await buildServer(config, { print: () => undefined });
  let openssl: ReturnType<typeof spawn> | undefined;
  try {
    // The client's device certificate: a P-256 key made by openssl, certified by the tenant CA.
    await run('openssl', [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=bench-device',
      '-keyout',
      join(dir, 'client.key'),
      '-out',
      join(dir, 'client.csr'),
    ]);
    const ca = await loadTenantCa(
      app.updraft.db,
      new CaKeyBox(app.updraft.deriveKey('pki-ca-key')),
      'ten_default',
    );
    if (ca === undefined) throw new Error('the TLS start did not create the tenant CA');
    // The bench device: a class, the device, a bearer token and the certificate in the inventory.
    const { seedFleet } = await import('../packages/server/src/testing/release-fixtures.ts');
    const fleet = await seedFleet(app.updraft.db, { tenantId: 'ten_default' });
    const device = fleet.devices[0]!;
    await writeFile(join(dir, 'token'), device.token);
    const clientCert = await issueDeviceCertificate(
      ca,
      await readFile(join(dir, 'client.csr'), 'utf8'),
      {
        tenantId: 'ten_default',
        deviceName: device.id,
        deviceId: device.id,
        validityDays: 1,
        now: new Date(),
      },
    );
    await writeFile(join(dir, 'client.pem'), clientCert);
    const { describeCertificate } = await import('../packages/server/src/pki/index.ts');
    const { certificateFingerprint } = await import(
      '../packages/server/src/features/pki/tenant-ca.ts'
    );
    const described = describeCertificate(clientCert);
    await app.updraft.db
      .insertInto('device_certificates')
      .values({
        id: 'crt_bench',
        tenant_id: 'ten_default',
        device_id: device.id,
        serial: described.serialNumber,
        fingerprint: certificateFingerprint(clientCert),
        spki_fingerprint: described.fingerprint,
        certificate_pem: clientCert,
        not_before: described.notBefore,
        not_after: described.notAfter,
        issued_at: new Date().toISOString(),
        issued_via: 'est-token',
        state: 'active',
        superseded_at: null,
        revoked_at: null,
        revocation_reason: null,
        revoked_by: null,
      })
      .execute();
    const caFile = join(dir, 'pki', 'ca.pem');
    await writeFile(join(dir, 'ca.pem'), await readFile(caFile, 'utf8'));

    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const updraftPort = typeof address === 'object' && address ? address.port : 0;
    const opensslPort = await freePort();
    openssl = spawn(
      'openssl',
      [
        's_server',
        '-accept',
        `127.0.0.1:${opensslPort}`,
        '-tls1_3',
        '-Verify',
        '1',
        '-cert',
        join(dir, 'pki', 'server.pem'),
        '-key',
        join(dir, 'pki', 'server.key'),
        '-CAfile',
        caFile,
        '-groups',
        'P-256',
        '-www',
        '-quiet',
      ],
      // Its verify callback prints every client chain: discarded, not measured.
      { stdio: ['ignore', 'ignore', 'ignore'] },
    );
    await waitForPort(opensslPort);
    const opensslPid = openssl.pid!;
    const updraftCpu = async () => {
      const u = process.cpuUsage();
      return u.user + u.system;
    };
    const opensslCpu = () => processCpuMicros(opensslPid);

    // Warm-up (JIT, caches), not counted.
    await runClient(opensslPort, dir, warmup, connections);
    await runClient(updraftPort, dir, warmup, connections);
    const ours: Measured[] = [];
    const theirs: Measured[] = [];
    for (let r = 0; r < rounds; r++) {
      theirs.push(
        await measured(opensslCpu, () => runClient(opensslPort, dir, seconds, connections)),
      );
      ours.push(
        await measured(updraftCpu, () => runClient(updraftPort, dir, seconds, connections)),
      );
      process.stderr.write(
        `round ${r + 1}: openssl ${theirs.at(-1)!.handshakesPerSec}/s (${theirs.at(-1)!.serverCpuMicrosPerHandshake} µs CPU each), updraft ${ours.at(-1)!.handshakesPerSec}/s (${ours.at(-1)!.serverCpuMicrosPerHandshake} µs CPU each)\n`,
      );
    }
    for (const m of [...ours, ...theirs]) {
      if (m.errors > 0 || m.handshakes === 0)
        throw new Error(`handshakes failed: ${JSON.stringify(m)}`);
    }
    // What mTLS costs per request: an idle check-in (304) on kept-alive connections, with the
    // bearer token (session cache) vs the certificate (identity check on every request).
    const checkIn: Record<string, { perSec: number; serverCpuMicros: number }> = {};
    for (const mode of ['bearer', 'certificate']) {
      await runClient(updraftPort, dir, warmup, 8, mode);
      const runs: Measured[] = [];
      for (let r = 0; r < rounds; r++)
        runs.push(await measured(updraftCpu, () => runClient(updraftPort, dir, seconds, 8, mode)));
      if (runs.some((m) => m.errors > 0 || m.handshakes === 0))
        throw new Error(`${mode} check-ins failed: ${JSON.stringify(runs)}`);
      checkIn[mode] = {
        perSec: median(runs.map((m) => m.handshakesPerSec)),
        serverCpuMicros: median(runs.map((m) => m.serverCpuMicrosPerHandshake)),
      };
      process.stderr.write(
        `idle check-in by ${mode}: ${checkIn[mode]!.perSec}/s, ${checkIn[mode]!.serverCpuMicros} µs server CPU each\n`,
      );
    }
    const updraft = median(ours.map((m) => m.handshakesPerSec));
    const reference = median(theirs.map((m) => m.handshakesPerSec));
    const ratio = Math.round((updraft / reference) * 100) / 100;
    const cpuRatio =
      Math.round(
        (median(theirs.map((m) => m.serverCpuMicrosPerHandshake)) /
          median(ours.map((m) => m.serverCpuMicrosPerHandshake))) *
          100,
      ) / 100;
    const { stdout: version } = await run('openssl', ['version']);
    const result = {
      benchmark: 'tls-handshakes',
      at: new Date().toISOString(),
      node: process.version,
      opensslVersion: version.trim(),
      keys: 'ECDSA P-256 (server and client), ECDHE P-256, TLS 1.3, client certificate required',
      connections,
      secondsPerRun: seconds,
      rounds,
      updraftHandshakesPerSec: updraft,
      opensslHandshakesPerSec: reference,
      ratio,
      target: 0.5,
      // Handshakes per server CPU second, Updraft / openssl (steadier on a shared machine).
      cpuEfficiencyRatio: cpuRatio,
      // Idle check-ins (8 kept-alive connections): requests per second and server CPU per request.
      checkIn,
      updraft: ours,
      openssl: theirs,
    };
    await writeFile(
      new URL('./results/tls-handshakes.json', import.meta.url),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `tls-bench updraftHandshakesPerSec=${updraft} opensslHandshakesPerSec=${reference} ratio=${ratio}`,
    );
    console.log(
      `tls-bench checkIn bearerMicros=${checkIn.bearer!.serverCpuMicros} certificateMicros=${checkIn.certificate!.serverCpuMicros}`,
    );
  } finally {
    openssl?.kill();
    await app.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--drive')) {
  const i = process.argv.indexOf('--drive');
  const [port, dir, seconds, connections, mode] = process.argv.slice(i + 1);
  if (mode === 'handshakes') await drive(Number(port), dir!, Number(seconds), Number(connections));
  else await checkIns(Number(port), dir!, Number(seconds), mode!);
} else {
  await main();
}
