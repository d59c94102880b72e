/**
 * Synthetic firmware for tests: Thumb-2-like functions that call each other with BL, plus
 * literal pools holding absolute addresses. `relink` rebuilds an image after functions grew or
 * shrank, so every call and pointer to a moved function changes as a real linker would change it.
 */

/** Encodes `BL target` at byte offset `at` (pc = at + 4). */
export function putBl(b: Uint8Array, at: number, target: number): void {
  const off = ((target - (at + 4)) >> 1) & 0xffffff;
  const s = (off >>> 23) & 1;
  const j1 = 1 ^ ((off >>> 22) & 1) ^ s;
  const j2 = 1 ^ ((off >>> 21) & 1) ^ s;
  const hw1 = 0xf000 | (s << 10) | ((off >>> 11) & 0x3ff);
  const hw2 = 0xd000 | (j1 << 13) | (j2 << 11) | (off & 0x7ff);
  b[at] = hw1 & 0xff;
  b[at + 1] = hw1 >>> 8;
  b[at + 2] = hw2 & 0xff;
  b[at + 3] = hw2 >>> 8;
}

/** A function: 16-bit instruction bodies, call sites (callee index) and a literal pool. */
export interface FakeFunction {
  body: Uint8Array<ArrayBufferLike>;
  /** Even offsets in `body` where a BL to `callees[i]` goes. */
  callSites: number[];
  callees: number[];
  /** Function indexes whose address is stored in the literal pool after the body. */
  pointers: number[];
}

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A program of `count` functions with a small instruction vocabulary (compressible like code). */
export function makeProgram(count: number, seed: number): FakeFunction[] {
  const rnd = prng(seed);
  const vocab = Array.from({ length: 48 }, () => Math.floor(rnd() * 0xe800));
  const fns: FakeFunction[] = [];
  for (let f = 0; f < count; f++) {
    const halfwords = 8 + Math.floor(rnd() * 120);
    const body = new Uint8Array(halfwords * 2);
    for (let i = 0; i < halfwords; i++) {
      const hw = vocab[Math.floor(rnd() * vocab.length)]!;
      body[2 * i] = hw & 0xff;
      body[2 * i + 1] = hw >>> 8;
    }
    const callSites: number[] = [];
    const callees: number[] = [];
    for (let at = 4; at + 4 <= body.length; at += 12 + 2 * Math.floor(rnd() * 20)) {
      callSites.push(at);
      callees.push(Math.floor(rnd() * count));
    }
    const pointers = Array.from({ length: Math.floor(rnd() * 4) }, () => Math.floor(rnd() * count));
    fns.push({ body, callSites, callees, pointers });
  }
  return fns;
}

/** Lays the functions out from address 0 and links calls and pointers. */
export function link(fns: readonly FakeFunction[]): Uint8Array {
  const addr: number[] = [];
  let size = 0;
  for (const fn of fns) {
    addr.push(size);
    size += fn.body.length + fn.pointers.length * 4;
    size += size & 2; // keep literal pools word-aligned
  }
  const image = new Uint8Array(size);
  fns.forEach((fn, i) => {
    const at = addr[i]!;
    image.set(fn.body, at);
    fn.callSites.forEach((site, k) => {
      putBl(image, at + site, addr[fn.callees[k]!]!);
    });
    fn.pointers.forEach((target, k) => {
      new DataView(image.buffer).setUint32(
        at + fn.body.length + 4 * k,
        0x0800_0000 + addr[target]! + 1,
        true,
      );
    });
  });
  return image;
}

/** A new version: some functions grow (inserted instructions), one is added, one changes code. */
export function evolve(fns: readonly FakeFunction[], seed: number): FakeFunction[] {
  const rnd = prng(seed);
  const next: FakeFunction[] = fns.map((fn) => ({
    ...fn,
    body: fn.body.slice(),
    callSites: [...fn.callSites],
  }));
  for (let k = 0; k < 3; k++) {
    const fn = next[Math.floor(rnd() * next.length)]!;
    const insertAt = 2 * Math.floor((rnd() * fn.body.length) / 2);
    const extra = Uint8Array.from({ length: 2 * (1 + Math.floor(rnd() * 20)) }, () =>
      Math.floor(rnd() * 0xe0),
    );
    const body = new Uint8Array(fn.body.length + extra.length);
    body.set(fn.body.subarray(0, insertAt));
    body.set(extra, insertAt);
    body.set(fn.body.subarray(insertAt), insertAt + extra.length);
    fn.body = body;
    fn.callSites = fn.callSites
      .map((s) => (s >= insertAt ? s + extra.length : s))
      .filter((s) => s < insertAt || s >= insertAt + extra.length);
  }
  const victim = next[Math.floor(rnd() * next.length)]!;
  for (let i = 0; i < 6; i++) {
    const at = Math.floor(rnd() * victim.body.length);
    victim.body[at] = victim.body[at]! ^ 0x5a;
  }
  const inserted = Math.floor(rnd() * next.length);
  const fresh = makeProgram(1, seed + 1)[0]!;
  next.splice(inserted, 0, { ...fresh, callees: fresh.callees.map(() => 0), pointers: [] });
  // Indexes at or after the inserted function moved up by one, as a linker would see it.
  const shift = (c: number) => (c >= inserted ? c + 1 : c);
  return next.map((fn, i) =>
    i === inserted
      ? fn
      : { ...fn, callees: fn.callees.map(shift), pointers: fn.pointers.map(shift) },
  );
}
