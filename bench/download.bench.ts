// Download of a 64 MiB payload via a signed URL, first (decrypting at rest) and again (plaintext cache), vs nginx serving a plaintext file (curl, loopback); server RSS under 50 parallel downloads
//
// Run: npx tsx bench/download.bench.ts [--rounds 9] [--mib 64] [--parallel 50] [--segment <bytes>]
// Needs nginx (Debian package `nginx-light` or `nginx`) and curl. The Updraft server runs in this
// process on SQLite with the encrypted filesystem blob store; nginx gets a temporary config on a
// free port and is stopped afterwards. Each round downloads from nginx, then a payload nobody
// downloaded yet (decrypted from the store), then the same payload again (from the cache); nginx
// goes first in even rounds and last in odd ones. Ratios of the medians to nginx's median
// (target: first download ≥ 0.8) and the RSS figures go to bench/results/download.json; stdout
// gets one line: `download-bench firstDownloadRatio=<x> cachedRatio=<y>`.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
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

/**
 * A release with `count` payloads (fresh random bytes each, `mib` MiB) assigned to one device,
 * seeded straight into the tables; answers each payload's signed URL and digest. The payloads
 * are not kept in this process (it is the server's: its RSS is measured).
 */
async function seed(
  app: UpdraftApp,
  count: number,
  mib: number,
): Promise<{ url: string; digest: string }[]> {
  const db = app.updraft.db;
  const at = new Date().toISOString();
  const digests: string[] = [];
  for (let i = 0; i < count; i++) {
    const payload = randomBytes(mib * MIB);
    const digest = createHash('sha256').update(payload).digest('hex');
    await app.updraft.blobs.put(Readable.from([payload]), { digest, size: payload.length });
    digests.push(digest);
  }
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
  for (const [i, digest] of digests.entries()) {
    await db
      .insertInto('release_payloads')
      .values({
        tenant_id: TENANT,
        release_id: 'rel_dl',
        component_id: String(814100 + i),
        sha256: digest,
        sha1: '',
        md5: '',
        size: mib * MIB,
      })
      .execute();
  }
  // The device's check-in hands out the signed URLs, as in production.
  const res = await app.inject({
    method: 'POST',
    url: '/api/device/v1/check-in',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    payload: '{}',
  });
  const body = res.json() as { action: { payloads: { url: string; digest: string }[] } };
  const urls = new Map(body.action.payloads.map((p) => [p.digest, p.url]));
  return digests.map((digest) => {
    const url = urls.get(digest);
    if (url === undefined) throw new Error(`check-in did not list ${digest}`);
    return { url, digest };
  });
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

/** SHA-256 of a file, hex. */
async function fileDigest(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/** Peak RSS of this (the server's) process while `work` runs, sampled every 20 ms. */
async function rssDuring<T>(
  work: () => Promise<T>,
): Promise<{ result: T; before: number; peak: number }> {
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const result = await work();
    return { result, before, peak: Math.max(peak, process.memoryUsage().rss) };
  } finally {
    clearInterval(sampler);
  }
}

const TARGET = 0.8;

async function main(): Promise<void> {
  const rounds = Number(arg('rounds', '9'));
  const mib = Number(arg('mib', '64'));
  const parallel = Number(arg('parallel', '50'));
  const dir = await mkdtemp(join(tmpdir(), 'updraft-bench-download-'));
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
    // Payload 0 warms up and checks the bytes; 1..rounds are each downloaded first (decrypting)
    // in their round, then again (from the plaintext cache); the last one is for the parallel run.
    const payloads = await seed(app, rounds + 2, mib);
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    nginx = await startNginx(dir, randomBytes(mib * MIB));

    // Correctness first: the bytes through the signed URL are the payload, decrypted then cached.
    const check = join(dir, 'check.bin');
    for (let i = 0; i < 2; i++) {
      await run('curl', ['-s', '-f', '-o', check, `${base}${payloads[0]!.url}`]);
      if ((await fileDigest(check)) !== payloads[0]!.digest)
        throw new Error('downloaded bytes differ from the payload');
      await rm(check);
    }

    const ngx: number[] = [];
    const first: number[] = [];
    const cached: number[] = [];
    const mibPerSecond = (d: { bytes: number; seconds: number }) => {
      if (d.bytes !== mib * MIB) throw new Error('short download');
      return d.bytes / MIB / d.seconds;
    };
    for (let r = 0; r < rounds; r++) {
      const url = `${base}${payloads[r + 1]!.url}`;
      // nginx before Updraft in even rounds, after it in odd ones.
      if (r % 2 === 0) ngx.push(mibPerSecond(await curl(nginx.url)));
      first.push(mibPerSecond(await curl(url)));
      cached.push(mibPerSecond(await curl(url)));
      if (r % 2 === 1) ngx.push(mibPerSecond(await curl(nginx.url)));
      process.stderr.write(
        `round ${r + 1}: nginx ${ngx.at(-1)!.toFixed(0)} MiB/s, updraft first ${first.at(-1)!.toFixed(0)} MiB/s, cached ${cached.at(-1)!.toFixed(0)} MiB/s\n`,
      );
    }
    // After the downloads, not between them: its garbage (decrypted copies) would otherwise be
    // collected during the next Updraft download and slow it down.
    const segmentSize = config.blobs.segmentSize;
    const ceiling: number[] = [];
    {
      const sample = randomBytes(mib * MIB);
      const sealed = sealSegments(sample, segmentSize);
      for (let r = 0; r < rounds; r++) ceiling.push(decryptMiBPerSecond(sealed, sample.length));
    }

    // RSS with `parallel` simultaneous downloads of a payload nobody downloaded yet (all of them
    // decrypt but the one filling the cache keeps it), then of the same payload again (cached).
    const parallelUrl = `${base}${payloads[rounds + 1]!.url}`;
    const parallelRun = async () => {
      const t0 = performance.now();
      const all = await Promise.all(Array.from({ length: parallel }, () => curl(parallelUrl)));
      const seconds = (performance.now() - t0) / 1000;
      if (all.some((d) => d.bytes !== mib * MIB))
        throw new Error('short download in the parallel run');
      return seconds;
    };
    const parallelFigures = async (label: string) => {
      const { result: seconds, before, peak } = await rssDuring(parallelRun);
      return {
        label,
        downloads: parallel,
        seconds,
        aggregateMiBPerSecond: (parallel * mib) / seconds,
        rssBeforeMiB: before / MIB,
        rssPeakMiB: peak / MIB,
        rssGrowthMiB: (peak - before) / MIB,
        rssGrowthPerDownloadMiB: (peak - before) / MIB / parallel,
        // Flat = memory per download is a bounded buffer, not the payload: the growth stays under
        // 10 % of what holding every payload in memory would take (parallel × payload size).
        flat: peak - before < 0.1 * parallel * mib * MIB,
      };
    };
    const parallelFirst = await parallelFigures('decrypting (not cached yet)');
    const parallelCached = await parallelFigures('cached');

    const nginxMedian = median(ngx);
    const firstDownloadRatio = median(first) / nginxMedian;
    const cachedRatio = median(cached) / nginxMedian;
    const paired = (ours: number[]) => median(ours.map((v, i) => v / ngx[i]!));
    const result = {
      benchmark: 'download',
      at: new Date().toISOString(),
      node: process.version,
      cpus: availableParallelism(),
      payloadMiB: mib,
      rounds,
      client: 'curl -o /dev/null, loopback',
      nginx: {
        config: 'worker_processes 1; sendfile on',
        mibPerSecondMedian: nginxMedian,
        runs: ngx,
      },
      updraft: {
        path: 'signed URL, encrypted fs blob store (AES-256-GCM segments) behind the plaintext cache, SQLite',
        segmentBytes: segmentSize,
        maxConcurrentDecryptions: config.blobs.maxConcurrentDecryptions,
        plaintextCacheBytes: config.blobs.plaintextCacheBytes,
        // Each round's payload downloaded for the first time: decrypted from the store (and kept).
        firstDownload: { mibPerSecondMedian: median(first), runs: first },
        // The same payload right after: served from the plaintext cache.
        cached: { mibPerSecondMedian: median(cached), runs: cached },
      },
      // What decryption at rest alone allows here: node:crypto AES-256-GCM over the same bytes in
      // the same segments, in memory (no disk, no HTTP), on one thread of this process.
      decryptionAlone: {
        segmentBytes: segmentSize,
        mibPerSecondMedian: median(ceiling),
        runs: ceiling,
        ratioToNginx: median(ceiling) / nginxMedian,
      },
      // Ratios of medians (rounds alternate nginx and Updraft in the same run); the paired
      // figures are the medians of the per-round ratios.
      firstDownloadRatio,
      cachedRatio,
      pairedFirstDownloadRatio: paired(first),
      pairedCachedRatio: paired(cached),
      target: { firstDownloadRatio: TARGET },
      pass: firstDownloadRatio >= TARGET,
      parallel: [parallelFirst, parallelCached],
    };
    await writeFile(
      new URL('./results/download.json', import.meta.url),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    process.stderr.write(
      `nginx ${nginxMedian.toFixed(0)} MiB/s; updraft first download (decrypting) ${median(first).toFixed(0)} MiB/s, cached ${median(cached).toFixed(0)} MiB/s; ` +
        `decryption alone (one thread, in memory) ${median(ceiling).toFixed(0)} MiB/s; target first ≥ ${TARGET} × nginx: ${result.pass ? 'PASS' : 'FAIL'}\n` +
        [parallelFirst, parallelCached]
          .map(
            (p) =>
              `${parallel} parallel, ${p.label}: ${p.aggregateMiBPerSecond.toFixed(0)} MiB/s in all, RSS ${p.rssBeforeMiB.toFixed(0)} → peak ${p.rssPeakMiB.toFixed(0)} MiB (${p.flat ? 'flat' : 'NOT flat'})\n`,
          )
          .join(''),
    );
    console.log(
      `download-bench firstDownloadRatio=${firstDownloadRatio.toFixed(2)} cachedRatio=${cachedRatio.toFixed(2)}`,
    );
  } finally {
    nginx?.child.kill('SIGTERM');
    await app.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
