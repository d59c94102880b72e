// Download of a 64 MiB payload via a signed URL with decryption at rest vs nginx serving the same plaintext file (curl, loopback), and server RSS under 50 parallel downloads (the first download decrypts; later ones come from the plaintext cache, as in a rollout)
//
// Run: npx tsx bench/download.bench.ts [--rounds 5] [--mib 64] [--parallel 50]
// Needs nginx (Debian package `nginx-light` or `nginx`) and curl. The Updraft server runs in this process on
// SQLite with the encrypted filesystem blob store; nginx gets a temporary config on a free port
// and is stopped afterwards. Rounds alternate nginx and Updraft; medians and their ratio
// (target ≥ 0.5) and the RSS figures go to bench/results/download.json.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { buildServer, loadConfig, type UpdraftApp } from '../packages/server/src/index.ts';
import { freePort } from '../packages/server/src/testing/ports.ts';
import { insertReleaseAndAction } from '../packages/server/src/testing/release-fixtures.ts';
import { arg } from './args.ts';

const run = promisify(execFile);
const MIB = 1024 * 1024;
const TENANT = 'ten_default';

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One download with curl to /dev/null: bytes and seconds. */
async function curl(url: string): Promise<{ bytes: number; seconds: number }> {
  const { stdout } = await run(
    'curl',
    ['-s', '-f', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', url],
    { maxBuffer: 1024 * 1024 },
  );
  const [bytes, seconds] = stdout.trim().split(' ').map(Number) as [number, number];
  return { bytes, seconds };
}

async function startNginx(
  dir: string,
  file: Buffer,
): Promise<{ url: string; child: ChildProcess }> {
  const www = join(dir, 'www');
  await mkdir(www, { recursive: true });
  await writeFile(join(www, 'payload.bin'), file);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    [
      // Root needs `user root` to read the private temp dir; otherwise nginx's default worker user.
      process.getuid?.() === 0 ? 'user root;' : '',
      'worker_processes 1;',
      'daemon off;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'nginx-error.log')} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      '  sendfile on;',
      `  client_body_temp_path ${join(dir, 'body')};`,
      `  proxy_temp_path ${join(dir, 'proxy')};`,
      `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
      `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
      `  scgi_temp_path ${join(dir, 'scgi')};`,
      `  server { listen 127.0.0.1:${port}; root ${www}; }`,
      '}',
    ].join('\n'),
  );
  if (spawnSync('nginx', ['-v']).error)
    throw new Error('nginx is not installed: apt-get install nginx-light (Debian), then rerun');
  const child = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'inherit' });
  const url = `http://127.0.0.1:${port}/payload.bin`;
  for (let i = 0; i < 100; i++) {
    try {
      await run('curl', ['-s', '-f', '-I', url]);
      return { url, child };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGTERM');
  throw new Error('nginx did not start');
}

/** A release with one payload assigned to one device, seeded straight into the tables. */
async function seed(app: UpdraftApp, payload: Buffer): Promise<string> {
  const db = app.updraft.db;
  const at = new Date().toISOString();
  const digest = createHash('sha256').update(payload).digest('hex');
  await app.updraft.blobs.put(Readable.from([payload]), { digest, size: payload.length });
  await db
    .insertInto('device_classes')
    .values({
      id: 'cls_dl',
      tenant_id: TENANT,
      name: 'dl',
      vendor_name: null,
      model_name: null,
      vendor_id: '00000000-0000-5000-8000-000000000001',
      class_id: '00000000-0000-5000-8000-000000000002',
      created_at: at,
    })
    .execute();
  const token = `updraft_device_${randomBytes(32).toString('base64url')}`;
  await db
    .insertInto('devices')
    .values({
      id: 'dev_dl',
      tenant_id: TENANT,
      name: 'dl',
      device_class_id: 'cls_dl',
      created_at: at,
      last_seen_at: null,
      decommissioned_at: null,
    })
    .execute();
  await db
    .insertInto('device_tokens')
    .values({
      id: 'dtk_dl',
      tenant_id: TENANT,
      device_id: 'dev_dl',
      token_hash: createHash('sha256').update(token).digest('hex'),
      created_at: at,
      revoked_at: null,
    })
    .execute();
  await insertReleaseAndAction(
    db,
    {
      tenantId: TENANT,
      deviceClassId: 'cls_dl',
      deviceId: 'dev_dl',
      releaseId: 'rel_dl',
      actionId: 'act_dl',
    },
    { state: 'assigned', open: true },
  );
  await db
    .insertInto('release_payloads')
    .values({
      tenant_id: TENANT,
      release_id: 'rel_dl',
      component_id: '814100',
      sha256: digest,
      sha1: '',
      md5: '',
      size: payload.length,
    })
    .execute();
  // The device's check-in hands out the signed URL, as in production.
  const res = await app.inject({
    method: 'POST',
    url: '/api/device/v1/check-in',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    payload: '{}',
  });
  const body = res.json() as { action: { payloads: { url: string }[] } };
  return body.action.payloads[0]!.url;
}

/** The payload as AES-256-GCM segments (ciphertext, tag), as the blob store keeps it. */
function sealSegments(plain: Buffer, segmentSize: number) {
  const key = randomBytes(32);
  const segments: { iv: Buffer; data: Buffer; tag: Buffer }[] = [];
  for (let at = 0, i = 0; at < plain.length; at += segmentSize, i++) {
    const iv = Buffer.alloc(12);
    iv.writeUInt32BE(i, 8);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const data = Buffer.concat([
      cipher.update(plain.subarray(at, at + segmentSize)),
      cipher.final(),
    ]);
    segments.push({ iv, data, tag: cipher.getAuthTag() });
  }
  return { key, segments };
}

/** MiB/s of decrypting and verifying every segment once (node:crypto, in memory). */
function decryptMiBPerSecond(sealed: ReturnType<typeof sealSegments>, bytes: number): number {
  const t0 = performance.now();
  for (const { iv, data, tag } of sealed.segments) {
    const decipher = createDecipheriv('aes-256-gcm', sealed.key, iv);
    decipher.setAuthTag(tag);
    decipher.update(data);
    decipher.final();
  }
  return bytes / MIB / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const rounds = Number(arg('rounds', '5'));
  const mib = Number(arg('mib', '64'));
  const parallel = Number(arg('parallel', '50'));
  const dir = await mkdtemp(join(tmpdir(), 'updraft-bench-download-'));
  const payload = randomBytes(mib * MIB);
  const config = loadConfig({
    overrides: {
      dataDir: dir,
      logLevel: 'warn',
      auth: { adminPassword: 'bench-admin-password-0123' },
      rateLimit: { enabled: false },
      // Segment size as configured by default unless given (bytes).
      ...(process.argv.includes('--segment')
        ? { blobs: { segmentSize: Number(arg('segment', '1048576')) } }
        : {}),
    },
  });
  const app = await buildServer(config, { print: () => undefined });
  let nginx: { url: string; child: ChildProcess } | undefined;
  try {
    const path = await seed(app, payload);
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const updraftUrl = `${base}${path}`;
    nginx = await startNginx(dir, payload);

    // Correctness first: the bytes through the signed URL are the payload. This first download
    // decrypts the blob (later ones are served from the plaintext cache): timed as `firstDownload`.
    const firstStart = performance.now();
    await run('curl', ['-s', '-f', '-o', join(dir, 'check.bin'), updraftUrl]);
    const firstSeconds = (performance.now() - firstStart) / 1000;
    const fetched = await readFile(join(dir, 'check.bin'));
    if (!fetched.equals(payload)) throw new Error('downloaded bytes differ from the payload');
    await rm(join(dir, 'check.bin'));

    const ngx: number[] = [];
    const ours: number[] = [];
    const ceiling: number[] = [];
    const segmentSize = config.blobs.segmentSize;
    const sealed = sealSegments(payload, segmentSize);
    for (let r = 0; r < rounds; r++) {
      const a = await curl(nginx.url);
      const b = await curl(updraftUrl);
      if (a.bytes !== payload.length || b.bytes !== payload.length)
        throw new Error('short download');
      ngx.push(a.bytes / MIB / a.seconds);
      ours.push(b.bytes / MIB / b.seconds);
      process.stderr.write(
        `round ${r + 1}: nginx ${ngx.at(-1)!.toFixed(0)} MiB/s, updraft ${ours.at(-1)!.toFixed(0)} MiB/s\n`,
      );
    }
    // After the downloads, not between them: its garbage (decrypted copies) would otherwise be
    // collected during the next Updraft download and slow it down.
    for (let r = 0; r < rounds; r++) ceiling.push(decryptMiBPerSecond(sealed, payload.length));

    // RSS with `parallel` simultaneous downloads: sampled every 50 ms in this (the server's) process.
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 50);
    const t0 = performance.now();
    const all = await Promise.all(Array.from({ length: parallel }, () => curl(updraftUrl)));
    const parallelSeconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    if (all.some((d) => d.bytes !== payload.length))
      throw new Error('short download in the parallel run');

    const result = {
      benchmark: 'download',
      at: new Date().toISOString(),
      node: process.version,
      payloadMiB: mib,
      rounds,
      client: 'curl -o /dev/null, loopback',
      nginx: {
        config: 'worker_processes 1; sendfile on',
        mibPerSecondMedian: median(ngx),
        runs: ngx,
      },
      updraft: {
        path: 'signed URL, encrypted fs blob store (AES-256-GCM segments) behind the plaintext cache, SQLite',
        plaintextCacheBytes: config.blobs.plaintextCacheBytes,
        mibPerSecondMedian: median(ours),
        runs: ours,
        // The first download of the payload: decrypts it from the store (curl start included).
        firstDownloadMiBPerSecond: mib / firstSeconds,
      },
      // What decryption at rest alone allows here: node:crypto AES-256-GCM over the same bytes in
      // the same segments, in memory (no disk, no HTTP), in this process. Updraft cannot beat it.
      decryptionAlone: {
        segmentBytes: segmentSize,
        mibPerSecondMedian: median(ceiling),
        runs: ceiling,
        ratioToNginx: median(ceiling) / median(ngx),
      },
      ratio: median(ours) / median(ngx),
      ratioToDecryptionAlone: median(ours) / median(ceiling),
      target: 0.5,
      pass: median(ours) / median(ngx) >= 0.5,
      parallel: {
        downloads: parallel,
        seconds: parallelSeconds,
        aggregateMiBPerSecond: (parallel * mib) / parallelSeconds,
        rssBeforeMiB: rssBefore / MIB,
        rssPeakMiB: rssPeak / MIB,
        rssGrowthMiB: (rssPeak - rssBefore) / MIB,
        rssGrowthPerDownloadMiB: (rssPeak - rssBefore) / MIB / parallel,
        // Flat = memory per download is a bounded buffer, not the payload: the growth stays under
        // 10 % of what holding every payload in memory would take (parallel × payload size).
        flat: rssPeak - rssBefore < 0.1 * parallel * mib * MIB,
      },
    };
    await writeFile(
      new URL('./results/download.json', import.meta.url),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    console.log(
      `updraft ${result.updraft.mibPerSecondMedian.toFixed(0)} MiB/s vs nginx ${result.nginx.mibPerSecondMedian.toFixed(0)} MiB/s: ratio ${result.ratio.toFixed(2)} (target ≥ 0.5) ${result.pass ? 'PASS' : 'FAIL'}; ` +
        `first download (decrypting) ${result.updraft.firstDownloadMiBPerSecond.toFixed(0)} MiB/s; decryption alone ${result.decryptionAlone.mibPerSecondMedian.toFixed(0)} MiB/s (${result.decryptionAlone.ratioToNginx.toFixed(2)} of nginx; updraft reaches ${result.ratioToDecryptionAlone.toFixed(2)} of it); ` +
        `${parallel} parallel: RSS ${result.parallel.rssBeforeMiB.toFixed(0)} → peak ${result.parallel.rssPeakMiB.toFixed(0)} MiB (${result.parallel.flat ? 'flat' : 'NOT flat'})`,
    );
  } finally {
    nginx?.child.kill('SIGTERM');
    await app.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
