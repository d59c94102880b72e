// Synthetic firmware-like image pair of a given size for bench/delta.bench.ts: a compressible
// pseudo-random image (a small instruction vocabulary) and a new version with scattered edits,
// one inserted block and a 4-byte-pointer table whose entries all moved.

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export function syntheticPair(
  size: number,
  seed: number,
): { oldImage: Uint8Array; newImage: Uint8Array } {
  const rnd = prng(seed);
  const vocab = Array.from({ length: 512 }, () => Math.floor(rnd() * 65536));
  const oldImage = new Uint8Array(size);
  for (let i = 0; i + 1 < size; i += 2) {
    const hw = vocab[Math.floor(rnd() * vocab.length)]!;
    oldImage[i] = hw & 0xff;
    oldImage[i + 1] = hw >>> 8;
  }
  const insertAt = Math.floor(size / 3) & ~3;
  const inserted = Uint8Array.from({ length: 4096 }, () => Math.floor(rnd() * 256));
  const newImage = new Uint8Array(size);
  newImage.set(oldImage.subarray(0, insertAt));
  newImage.set(inserted, insertAt);
  newImage.set(oldImage.subarray(insertAt, size - inserted.length), insertAt + inserted.length);
  const view = new DataView(newImage.buffer);
  for (let k = 0; k < 2000; k++) {
    const at = (Math.floor(rnd() * (size - 4)) & ~3) >>> 0;
    view.setUint32(at, (view.getUint32(at, true) + 4096) >>> 0, true);
  }
  for (let k = 0; k < 200; k++) newImage[Math.floor(rnd() * size)] = Math.floor(rnd() * 256);
  return { oldImage, newImage };
}
