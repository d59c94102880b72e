// Child-process side of bench/delta.bench.ts: applies a patch from files through the public
// streaming `apply` and prints its time and peak RSS as JSON.
import { spawnSync } from 'node:child_process';
import { closeSync, createReadStream, openSync, readFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { apply } from '../../packages/delta/src/index.ts';

export interface ChildResult {
  ms: number;
  /** RSS before the patch is opened (node + tsx + modules): the floor. */
  rssBeforeMiB: number;
  maxRssMiB: number;
}

/** Runs `bench/delta.bench.ts --child-apply old patch out` and parses its result. */
export function applyChild(
  benchFile: string,
  oldFile: string,
  patchFile: string,
  outFile: string,
): ChildResult {
  // A device-like heap cap: V8 otherwise lets garbage (chunks already written) pile up to
  // hundreds of MiB on a large machine before collecting it, which says nothing about what apply
  // keeps alive. Live memory growing with the image would fail here with out-of-memory instead.
  const heap = ['--max-old-space-size=64', '--max-semi-space-size=1'];
  const r = spawnSync(
    process.execPath,
    [...heap, '--import', 'tsx', benchFile, '--child-apply', oldFile, patchFile, outFile],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`apply child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

/** The child: old image by positional reads, patch streamed, output streamed to a file. */
export async function childApply([
  oldFile = '',
  patchFile = '',
  outFile = '',
]: string[]): Promise<void> {
  const rssBeforeMiB = process.memoryUsage().rss / 2 ** 20;
  const old = await open(oldFile, 'r');
  const out = openSync(outFile, 'w');
  const t0 = performance.now();
  // apply is done with each read before the next one, so one buffer serves every read; output
  // chunks are views of apply's own buffer, written synchronously (as a device writes its flash)
  // before the next one is asked for. Nothing is allocated per block or per chunk.
  let buf = new Uint8Array(0);
  const readOld = async (offset: number, length: number) => {
    if (buf.length < length) buf = new Uint8Array(length);
    const { bytesRead } = await old.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  };
  const patch = createReadStream(patchFile, { highWaterMark: 16384 });
  for await (const chunk of apply(readOld, patch, { reuseOutput: true })) writeSync(out, chunk);
  closeSync(out);
  const ms = performance.now() - t0;
  await old.close();
  const maxRssMiB = peakRssKiB() / 1024;
  console.log(JSON.stringify({ ms, rssBeforeMiB, maxRssMiB } satisfies ChildResult));
}

/**
 * Peak RSS of this process in KiB. On Linux, VmHWM of /proc/self/status: getrusage's maxRSS
 * survives exec, so a child forked from a large parent (the bench holds 64 MiB images) would
 * report the parent's size; VmHWM belongs to the new address space.
 */
function peakRssKiB(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux: fall back below
  }
  return process.resourceUsage().maxRSS;
}
