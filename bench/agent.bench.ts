// One agent (file adapters) updating a 16 MiB image over loopback vs `curl` + `sha256sum` of the same file; peak RSS at 16 vs 256 MiB.
//
// Run: npx tsx --conditions=updraft-source bench/agent.bench.ts
// The service side is a small node:http server in this process speaking docs/device-api.md
// (check-in, envelope, ranged payload from a file, feedback); each agent runs in a child process
// so its peak RSS (getrusage maxrss) is its own. Times are the update itself (check-in → success
// reported), measured inside the child; process start-up is reported separately.
import { execFile, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const MAIN = '814100';
const MiB = 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

if (process.argv[2] === '--child') {
  await child(process.argv[3]!);
} else {
  await main();
}

/** Child: run one file-backed agent until idle, print its timing and peak RSS as JSON. */
async function child(configPath: string): Promise<void> {
  const { loadAgentConfig, runFileAgent } = await import('@updraft/agent');
  const config = await loadAgentConfig(configPath);
  const started = performance.now();
  let success = false;
  await runFileAgent(config, {
    until: 'idle',
    events: {
      emit(n) {
        if (process.env.BENCH_TRACE) {
          process.stderr.write(
            `${(performance.now() - started).toFixed(0)} ${JSON.stringify(n)}\n`,
          );
        }
        if (n.type === 'report' && n.status === 'success') success = true;
      },
    },
  });
  const ms = performance.now() - started;
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ ms, maxRssMiB, success })}\n`);
}

interface Release {
  envelope: Uint8Array;
  file: string;
  size: number;
  digest: string;
}

async function main(): Promise<void> {
  const { createEnvelope, createKeySigner, signEnvelope } = await import('@updraft/core');
  const dir = await mkdtemp(join(tmpdir(), 'updraft-bench-agent-'));
  const vendorId = randomUUID();
  const classId = randomUUID();
  const key = generateKeyPairSync('ed25519');
  await writeFile(join(dir, 'release.pub'), key.publicKey.export({ type: 'spki', format: 'pem' }));

  async function makeRelease(sizeMiB: number): Promise<Release> {
    const file = join(dir, `fw-${sizeMiB}.bin`);
    const hash = createHash('sha256');
    const out = createWriteStream(file);
    const block = Buffer.alloc(MiB);
    for (let i = 0; i < sizeMiB; i++) {
      for (let j = 0; j < MiB; j += 4) block.writeUInt32LE((i * 2654435761 + j * 40503) >>> 0, j);
      hash.update(block);
      if (!out.write(block)) await new Promise((r) => out.once('drain', r));
    }
    await new Promise((r) => out.end(r));
    const digest = hash.digest('hex');
    const size = sizeMiB * MiB;
    const unsigned = createEnvelope({
      vendorId,
      classId,
      sequenceNumber: 2,
      components: [
        { id: MAIN, digest: Buffer.from(digest, 'hex'), size, uri: 'https://x.example/fw.bin' },
      ],
    });
    return {
      envelope: await signEnvelope(unsigned, createKeySigner(key.privateKey)),
      file,
      size,
      digest,
    };
  }

  let current: Release | null = null;
  let actionN = 0;
  let done = false;
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const r = current!;
    if (url.pathname === '/api/device/v1/check-in') {
      const action = done
        ? null
        : {
            id: `act_${actionN}`,
            state: 'assigned',
            cancelRequested: false,
            downloadOnly: false,
            maintenanceWindow: null,
            release: { id: 'rel_1', version: '1.1.0', sequenceNumber: 2 },
            envelopeUrl: `/api/device/v1/actions/act_${actionN}/envelope`,
            payloads: [{ digest: r.digest, size: r.size, url: `/fw/${r.digest}` }],
          };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ pollIntervalSeconds: 300, action }));
    } else if (url.pathname.endsWith('/envelope')) {
      res.writeHead(200, { 'content-type': 'application/suit-envelope+cose' });
      res.end(r.envelope);
    } else if (url.pathname.startsWith('/fw/') || url.pathname === '/plain') {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      res.writeHead(m ? 206 : 200, {
        'content-length': r.size - start,
        'accept-ranges': 'bytes',
        ...(m ? { 'content-range': `bytes ${start}-${r.size - 1}/${r.size}` } : {}),
      });
      createReadStream(r.file, { start, highWaterMark: MiB }).pipe(res);
    } else if (url.pathname.endsWith('/feedback')) {
      const report = JSON.parse(Buffer.concat(chunks).toString());
      if (report.status === 'success' || report.status === 'failure') done = true;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    } else {
      res.writeHead(404).end();
    }
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function runAgent(r: Release): Promise<{ ms: number; wallMs: number; maxRssMiB: number }> {
    current = r;
    done = false;
    actionN += 1;
    const devDir = join(dir, `device-${actionN}`);
    await mkdir(devDir);
    const config = join(devDir, 'agent.json');
    await writeFile(
      config,
      JSON.stringify({
        server: { url: base, token: 'bench-token' },
        device: { vendorId, classId },
        trustedKeys: [join(dir, 'release.pub')],
        stateDir: join(devDir, 'state'),
        slots: {
          a: { path: join(devDir, 'a.img'), size: r.size },
          b: { path: join(devDir, 'b.img'), size: r.size },
          sectorSize: MiB,
        },
        mainComponent: MAIN,
        installed: { version: '1.0.0', sequenceNumber: 1 },
      }),
    );
    const t0 = performance.now();
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(
        process.execPath,
        [
          '--conditions=updraft-source',
          '--import',
          'tsx',
          fileURLToPath(import.meta.url),
          '--child',
          config,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let text = '';
      p.stdout.on('data', (c: Buffer) => {
        text += c.toString();
      });
      p.on('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`agent exited ${code}`)),
      );
    });
    const wallMs = performance.now() - t0;
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
      ms: number;
      maxRssMiB: number;
      success: boolean;
    };
    if (!result.success) throw new Error('the agent did not report success');
    const slot = await readFile(join(devDir, 'b.img'));
    if (createHash('sha256').update(slot.subarray(0, r.size)).digest('hex') !== r.digest) {
      throw new Error('slot b does not hold the image');
    }
    await rm(devDir, { recursive: true, force: true });
    return { ms: result.ms, wallMs, maxRssMiB: result.maxRssMiB };
  }

  // Async: the server answering curl runs in this process.
  const run = promisify(execFile);
  async function curlSha(r: Release): Promise<number> {
    current = r;
    const target = join(dir, 'curl.out');
    const t0 = performance.now();
    await run('curl', ['-sf', '-o', target, `${base}/plain`]);
    const sum = (await run('sha256sum', [target])).stdout.split(' ')[0];
    const ms = performance.now() - t0;
    if (sum !== r.digest) throw new Error('curl baseline digest mismatch');
    return ms;
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const r16 = await makeRelease(16);
  const agent16: { ms: number; wallMs: number; maxRssMiB: number }[] = [];
  const curl16: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so both see the same machine load.
    curl16.push(await curlSha(r16));
    agent16.push(await runAgent(r16));
  }
  const r256 = await makeRelease(256);
  const agent256 = await runAgent(r256);
  const curl256 = await curlSha(r256);
  server.close();
  await rm(dir, { recursive: true, force: true });

  const results = {
    imageMiB: 16,
    runs: RUNS,
    curlSha256sumMedianMs: median(curl16),
    agentUpdateMedianMs: median(agent16.map((a) => a.ms)),
    agentWallMedianMs: median(agent16.map((a) => a.wallMs)),
    ratio: median(agent16.map((a) => a.ms)) / median(curl16),
    target: 'agent update <= 2 x (curl + sha256sum)',
    peakRssMiB: { '16MiB': median(agent16.map((a) => a.maxRssMiB)), '256MiB': agent256.maxRssMiB },
    at256MiB: { agentUpdateMs: agent256.ms, curlSha256sumMs: curl256 },
    note: 'agentUpdateMs: check-in to success reported (download, stream-verify, write with fsync, read back, trial boot, confirm) inside the agent process; agentWallMs adds process start-up (node + tsx).',
  };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(
    new URL('./results/agent.json', import.meta.url),
    `${JSON.stringify(results, null, 2)}\n`,
  );
  console.log(
    `agent 16 MiB: ${results.agentUpdateMedianMs.toFixed(0)} ms vs curl+sha256sum ${results.curlSha256sumMedianMs.toFixed(0)} ms (ratio ${results.ratio.toFixed(2)}, target <= 2)`,
  );
  console.log(
    `agent peak RSS: ${results.peakRssMiB['16MiB'].toFixed(0)} MiB at 16 MiB, ${results.peakRssMiB['256MiB'].toFixed(0)} MiB at 256 MiB`,
  );
}
