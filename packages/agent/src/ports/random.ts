/** Randomness for backoff jitter and report ids; injected so fleets are reproducible from a seed. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** A fresh RFC 4122 v4 UUID (feedback `reportId`). */
  uuid(): string;
}
