// Latency histogram with 1 % relative precision: log-spaced buckets of microseconds, merged
// across load-generator processes by adding counts (percentiles of the merged whole, never an
// average of per-process percentiles).
const GROWTH = Math.log(1.01);
const BUCKETS = 2_000; // 1.01^2000 µs ≈ 4e8 µs: beyond any timeout

/** Bucket counts; index i holds latencies in (1.01^(i-1), 1.01^i] µs. */
export type Histogram = number[];

export function newHistogram(): Histogram {
  return new Array<number>(BUCKETS).fill(0);
}

export function record(h: Histogram, micros: number): void {
  const i = micros <= 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(micros) / GROWTH));
  h[i] = (h[i] ?? 0) + 1;
}

export function merge(into: Histogram, from: Histogram): Histogram {
  for (let i = 0; i < BUCKETS; i++) into[i] = (into[i] ?? 0) + (from[i] ?? 0);
  return into;
}

export function count(h: Histogram): number {
  return h.reduce((n, c) => n + c, 0);
}

/** The latency (ms, upper bucket bound) below which `p` (0–100) percent of samples fall. */
export function percentileMs(h: Histogram, p: number): number {
  const total = count(h);
  if (total === 0) return 0;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += h[i] ?? 0;
    if (seen >= rank) return Number((1.01 ** i / 1000).toFixed(2));
  }
  return Number((1.01 ** BUCKETS / 1000).toFixed(2));
}
