import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run, tempDir } from '../testing/capture-io.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

/** A small firmware-like pair: repeated instruction words with a few edits and an insertion. */
async function writePair(): Promise<{ oldImage: Buffer; newImage: Buffer }> {
  const oldImage = Buffer.alloc(20_000);
  for (let i = 0; i < oldImage.length; i += 2) oldImage.writeUInt16LE((i * 2654435761) % 977, i);
  const newImage = Buffer.concat([
    oldImage.subarray(0, 5000),
    Buffer.from('inserted code'),
    oldImage.subarray(5000),
  ]);
  newImage[12_000] = 0xff - newImage[12_000]!;
  await writeFile(join(dir, 'old.bin'), oldImage);
  await writeFile(join(dir, 'new.bin'), newImage);
  return { oldImage, newImage };
}

describe('delta create / apply / info', () => {
  it('creates a small patch, shows its header and applies it back to the new image', async () => {
    const { oldImage, newImage } = await writePair();
    const created = await run(dir, ['delta', 'create', 'old.bin', 'new.bin', 'p.udelta', '--json']);
    expect(created.code).toBe(0);
    const report = created.json<{ kind: string; size: number }>();
    expect(report.kind).toBe('delta');
    expect(report.size).toBeLessThan(newImage.length / 10);
    const info = (await run(dir, ['delta', 'info', 'p.udelta', '--json'])).json();
    expect(info).toMatchObject({
      kind: 'delta',
      oldSize: oldImage.length,
      newSize: newImage.length,
      complete: true,
    });
    const applied = await run(dir, ['delta', 'apply', 'old.bin', 'p.udelta', 'out.bin']);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/verified/);
    expect(await readFile(join(dir, 'out.bin'))).toEqual(newImage);
  });

  it('says when the compressed full image is smaller and writes that instead', async () => {
    await writeFile(join(dir, 'old.bin'), Buffer.from('unrelated old image '.repeat(50)));
    await writeFile(join(dir, 'new.bin'), Buffer.alloc(5000, 7));
    const created = await run(dir, ['delta', 'create', 'old.bin', 'new.bin', 'p.udelta']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/compressed full image is smaller than a delta/);
  });

  it('refuses a wrong base with DELTA_BASE_MISMATCH, exits non-zero and leaves no output', async () => {
    await writePair();
    await run(dir, ['delta', 'create', 'old.bin', 'new.bin', 'p.udelta']);
    await writeFile(join(dir, 'other.bin'), Buffer.alloc(20_000, 1));
    const r = await run(dir, ['delta', 'apply', 'other.bin', 'p.udelta', 'out.bin', '--json']);
    expect(r.code).not.toBe(0);
    expect(r.json()).toMatchObject({ error: { code: 'DELTA_BASE_MISMATCH' } });
    expect((await readdir(dir)).filter((f) => f.startsWith('out') || f.includes('.tmp'))).toEqual(
      [],
    );
  });

  it('rejects a corrupt patch with DELTA_PATCH_MALFORMED and a truncated one with DELTA_PATCH_TRUNCATED', async () => {
    await writePair();
    await run(dir, ['delta', 'create', 'old.bin', 'new.bin', 'p.udelta']);
    const patch = await readFile(join(dir, 'p.udelta'));
    const corrupt = Buffer.from(patch);
    corrupt[corrupt.length - 3] = corrupt[corrupt.length - 3]! ^ 0x40;
    await writeFile(join(dir, 'corrupt.udelta'), corrupt);
    await writeFile(join(dir, 'short.udelta'), patch.subarray(0, patch.length - 10));
    const bad = await run(dir, ['delta', 'apply', 'old.bin', 'corrupt.udelta', 'out.bin']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/DELTA_PATCH_MALFORMED|DELTA_RESULT_MISMATCH/);
    const short = await run(dir, ['delta', 'apply', 'old.bin', 'short.udelta', 'out.bin']);
    expect(short.stderr).toMatch(/DELTA_PATCH_TRUNCATED/);
    const info = await run(dir, ['delta', 'info', 'old.bin']);
    expect(info.code).not.toBe(0);
    expect(info.stderr).toMatch(/DELTA_PATCH_MALFORMED/);
    expect((await readdir(dir)).filter((f) => f.startsWith('out'))).toEqual([]);
  });
});
