// Delta patch size, encode/apply time and apply peak RSS on real firmware pairs: Updraft vs bsdiff 4.3, xdelta3 -9 -S djw, zstd -19 --long=27 --patch-from
//
// Run: npx tsx bench/delta.bench.ts [--pairs a,b] [--no-synthetic] [--synthetic-mib 4,64]
// Needs: apt-get install bsdiff xdelta3 zstd time. Fetches the corpus (pinned in
// packages/delta/corpus/pairs.tsv, by packages/delta/corpus/fetch-corpus.sh) into
// $UPDRAFT_CORPUS or /tmp/corpus if it is not there. Every patch of every tool is applied and
// compared with new.bin byte for byte. Updraft's apply runs in a child process (streaming from
// files through the public `apply`, V8 heap capped at 64 MiB), which reports its time and peak
// RSS; a synthetic pair of each size in --synthetic-mib shows that the apply's memory does not
// grow with the image.
// Writes bench/results/delta.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { diffDetailed } from '../packages/delta/src/index.ts';
import { applyChild } from './delta/apply-child.ts';
import { syntheticPair } from './delta/synthetic-pair.ts';

const self = fileURLToPath(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const corpus = process.env.UPDRAFT_CORPUS ?? '/tmp/corpus';
const fetchScript = join(root, 'packages/delta/corpus/fetch-corpus.sh');

function arg(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : undefined;
}

interface ToolRun {
  patch: number;
  encodeS: number;
  applyS: number;
  /** Decoder peak RSS in MiB (whole process), when /usr/bin/time is there. */
  applyRssMiB: number | null;
  ok: boolean;
}

const TOOLS = {
  bsdiff: {
    encode: (o: string, n: string, p: string) => ['bsdiff', o, n, p],
    decode: (o: string, p: string, r: string) => ['bspatch', o, r, p],
  },
  'xdelta3-9djw': {
    encode: (o: string, n: string, p: string) => [
      'xdelta3',
      '-e',
      '-9',
      '-S',
      'djw',
      '-f',
      '-s',
      o,
      n,
      p,
    ],
    decode: (o: string, p: string, r: string) => ['xdelta3', '-d', '-f', '-s', o, p, r],
  },
  zstd19: {
    encode: (o: string, n: string, p: string) => [
      'zstd',
      '-q',
      '-f',
      '-19',
      '--long=27',
      `--patch-from=${o}`,
      n,
      '-o',
      p,
    ],
    decode: (o: string, p: string, r: string) => [
      'zstd',
      '-q',
      '-d',
      '-f',
      '--long=27',
      `--patch-from=${o}`,
      p,
      '-o',
      r,
    ],
  },
} as const;
type Tool = keyof typeof TOOLS;

const haveTime = existsSync('/usr/bin/time');

function run(cmd: readonly string[], rssFile?: string): number {
  const t0 = performance.now();
  const argv =
    rssFile && haveTime ? ['/usr/bin/time', '-f', '%M', '-o', rssFile, ...cmd] : [...cmd];
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

function sameFile(a: string, b: string): boolean {
  const h = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  return h(a) === h(b);
}

function runTool(tool: Tool, work: string, o: string, n: string): ToolRun {
  const p = join(work, `${tool}.patch`);
  const r = join(work, `${tool}.out`);
  const rss = join(work, `${tool}.rss`);
  const encodeS = run(TOOLS[tool].encode(o, n, p));
  const applyS = run(TOOLS[tool].decode(o, p, r), rss);
  const applyRssMiB = haveTime
    ? Number(readFileSync(rss, 'utf8').trim().split('\n').pop()) / 1024
    : null;
  return { patch: statSync(p).size, encodeS, applyS, applyRssMiB, ok: sameFile(r, n) };
}

function runUpdraft(
  work: string,
  o: string,
  n: string,
): ToolRun & { kind: string; transform: string; fullSize?: number } {
  const oldImage = readFileSync(o);
  const newImage = readFileSync(n);
  const t0 = performance.now();
  const report = diffDetailed(oldImage, newImage);
  const encodeS = (performance.now() - t0) / 1000;
  const p = join(work, 'updraft.patch');
  const r = join(work, 'updraft.out');
  writeFileSync(p, report.patch);
  const child = applyChild(self, o, p, r);
  return {
    patch: report.patch.length,
    encodeS,
    applyS: child.ms / 1000,
    applyRssMiB: child.maxRssMiB,
    ok: sameFile(r, n),
    kind: report.kind,
    transform: report.transform,
    ...(report.fullSize === undefined ? {} : { fullSize: report.fullSize }),
  };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child-apply') {
    const { childApply } = await import('./delta/apply-child.ts');
    await childApply(process.argv.slice(3));
    return;
  }
  for (const t of ['bsdiff', 'bspatch', 'xdelta3', 'zstd']) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) {
      console.error(`missing ${t}: apt-get install bsdiff xdelta3 zstd time`);
      process.exit(2);
    }
  }
  if (!existsSync(join(corpus, 'manifest.tsv'))) {
    console.error(`fetching the corpus into ${corpus} …`);
    execFileSync('bash', [fetchScript, corpus], { stdio: 'inherit' });
  }
  const wanted = arg('pairs')?.split(',');
  const pairs = readFileSync(join(corpus, 'manifest.tsv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t')[0]!)
    .filter((id) => (wanted ? wanted.includes(id) : true));
  const work = mkdtempSync(join(tmpdir(), 'delta-bench-'));
  const tools = Object.keys(TOOLS) as Tool[];
  const rows: Record<string, unknown>[] = [];
  try {
    for (const id of pairs) {
      const o = join(corpus, id, 'old.bin');
      const n = join(corpus, id, 'new.bin');
      const results: Record<string, ToolRun> = {};
      for (const tool of tools) results[tool] = runTool(tool, work, o, n);
      const updraft = runUpdraft(work, o, n);
      const bestTool = tools.reduce((a, b) => (results[a]!.patch <= results[b]!.patch ? a : b));
      const best = results[bestTool]!.patch;
      rows.push({
        pair: id,
        newBytes: statSync(n).size,
        ...Object.fromEntries(tools.map((t) => [t, results[t]])),
        updraft,
        bestBaseline: bestTool,
        ratioToBest: updraft.patch / best,
      });
      console.error(
        `${id}: updraft ${updraft.patch} B (${updraft.kind}/${updraft.transform}), best baseline ${bestTool} ${best} B, ratio ${(updraft.patch / best).toFixed(3)}`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const sum = (f: (r: Record<string, unknown>) => number) => rows.reduce((s, r) => s + f(r), 0);
  const totals: Record<string, number> = {};
  for (const t of [...tools, 'updraft']) totals[t] = sum((r) => (r[t] as ToolRun).patch);
  const bestSingle = tools.reduce((a, b) => (totals[a]! <= totals[b]! ? a : b));
  const bestPerPair = sum((r) => Math.min(...tools.map((t) => (r[t] as ToolRun).patch)));
  const totalRatio = totals.updraft! / totals[bestSingle]!;
  const worstPair = rows.reduce((a, b) =>
    (a.ratioToBest as number) >= (b.ratioToBest as number) ? a : b,
  );
  const allOk = rows.every((r) => [...tools, 'updraft'].every((t) => (r[t] as ToolRun).ok));

  // Synthetic pairs: apply peak RSS as the image grows.
  const synthetic: Record<string, unknown>[] = [];
  if (!process.argv.includes('--no-synthetic')) {
    const sizes = (arg('synthetic-mib') ?? '4,64').split(',').map(Number);
    const dir = mkdtempSync(join(tmpdir(), 'delta-bench-syn-'));
    try {
      for (const mib of sizes) {
        const { oldImage, newImage } = syntheticPair(mib << 20, mib);
        const o = join(dir, 'old.bin');
        const n = join(dir, 'new.bin');
        writeFileSync(o, oldImage);
        writeFileSync(n, newImage);
        const t0 = performance.now();
        const report = diffDetailed(oldImage, newImage);
        const encodeS = (performance.now() - t0) / 1000;
        const p = join(dir, 'p');
        writeFileSync(p, report.patch);
        const child = applyChild(self, o, p, join(dir, 'out.bin'));
        const ok = sameFile(join(dir, 'out.bin'), n);
        const bs = runTool('bsdiff', dir, o, n);
        synthetic.push({
          mib,
          patch: report.patch.length,
          encodeS,
          applyS: child.ms / 1000,
          applyRssMiB: child.maxRssMiB,
          rssBeforeMiB: child.rssBeforeMiB,
          ok,
          bsdiff: bs,
        });
        console.error(
          `synthetic ${mib} MiB: patch ${report.patch.length} B, encode ${encodeS.toFixed(1)} s, apply ${(child.ms / 1000).toFixed(2)} s, peak RSS ${child.maxRssMiB.toFixed(1)} MiB (bspatch ${bs.applyRssMiB?.toFixed(1)} MiB)`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  // Markdown
  const f = (x: number, d = 2) => x.toFixed(d);
  const lines: string[] = [];
  lines.push(
    '| pair | new B | bsdiff | xdelta3 -9 -S djw | zstd -19 --patch-from | **Updraft** | Updraft / best | enc s (bsdiff / Updraft) | apply s (bspatch / Updraft) | apply peak RSS MiB (bspatch / Updraft) |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const u = r.updraft as ToolRun;
    const b = r.bsdiff as ToolRun;
    lines.push(
      `| ${r.pair} | ${r.newBytes} | ${b.patch} | ${(r['xdelta3-9djw'] as ToolRun).patch} | ${(r.zstd19 as ToolRun).patch} | **${u.patch}** | ${f(r.ratioToBest as number, 3)} | ${f(b.encodeS)} / ${f(u.encodeS)} | ${f(b.applyS, 3)} / ${f(u.applyS, 3)} | ${b.applyRssMiB === null ? 'NA' : f(b.applyRssMiB, 1)} / ${f(u.applyRssMiB!, 1)} |`,
    );
  }
  lines.push(
    `| **total** | ${sum((r) => r.newBytes as number)} | ${totals.bsdiff} | ${totals['xdelta3-9djw']} | ${totals.zstd19} | **${totals.updraft}** | | | | |`,
  );
  lines.push('');
  lines.push(
    `Updraft total / best single baseline (${bestSingle}, ${totals[bestSingle]} B): **${f(totalRatio, 3)}** (target ≤ 0.85)`,
  );
  lines.push(
    `Worst pair: ${worstPair.pair} at **${f(worstPair.ratioToBest as number, 3)}** × its best baseline (target ≤ 1.05); best of all baselines pair by pair: ${bestPerPair} B`,
  );
  lines.push(`All patches round-trip: ${allOk ? 'yes' : 'NO'}`);
  if (synthetic.length) {
    lines.push('');
    lines.push(
      '| synthetic pair | Updraft patch B | bsdiff patch B | encode s (bsdiff / Updraft) | apply s (bspatch / Updraft) | Updraft apply: RSS before → peak MiB | bspatch peak RSS MiB |',
    );
    lines.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const s of synthetic) {
      const b = s.bsdiff as ToolRun;
      lines.push(
        `| ${s.mib} MiB | ${s.patch} | ${b.patch} | ${f(b.encodeS, 1)} / ${f(s.encodeS as number, 1)} | ${f(b.applyS)} / ${f(s.applyS as number)} | ${f(s.rssBeforeMiB as number, 1)} → ${f(s.applyRssMiB as number, 1)} | ${f(b.applyRssMiB ?? Number.NaN, 1)} |`,
      );
    }
  }
  console.log(lines.join('\n'));

  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(
    join(root, 'bench/results/delta.json'),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        corpus: {
          pairs: rows.length,
          totals,
          bestSingleBaseline: bestSingle,
          bestOfAllPerPair: bestPerPair,
        },
        targets: {
          totalRatioToBestSingle: totalRatio,
          totalTarget: 0.85,
          worstPairRatio: worstPair.ratioToBest,
          worstPair: worstPair.pair,
          pairTarget: 1.05,
          met: totalRatio <= 0.85 && (worstPair.ratioToBest as number) <= 1.05,
        },
        allRoundTrip: allOk,
        pairs: rows,
        synthetic,
      },
      null,
      2,
    )}\n`,
  );
  if (!allOk) process.exitCode = 1;
}

await main();
