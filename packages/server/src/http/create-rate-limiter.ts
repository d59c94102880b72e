import { DatabaseRateLimitStore } from '../adapters/database/database-rate-limit-store.js';
import type { ServerConfig } from '../config/config.js';
import type { DatabaseHandle } from '../db/create-database.js';
import { RATE_LIMIT_MAX_KEYS, RateLimiter } from './rate-limit.js';
import type { SyncLogger } from './rate-limit-synchroniser.js';

/**
 * The rate limiter `rateLimit.store` asks for: counts shared by every replica through the
 * database (`database`; `auto` where the database serves several processes at once, i.e.
 * PostgreSQL), or kept in this process (`memory`; `auto` on a SQLite file, one process). With
 * limits off nothing is counted, so nothing is shared either.
 */
export function createRateLimiter(
  limits: ServerConfig['rateLimit'],
  database: Pick<DatabaseHandle, 'db' | 'support'>,
  clock: () => number,
  logger: SyncLogger,
): RateLimiter {
  const shared =
    limits.enabled &&
    (limits.store === 'database' ||
      (limits.store === 'auto' && database.support.supportsConcurrentWriters));
  return new RateLimiter(
    limits,
    clock,
    RATE_LIMIT_MAX_KEYS,
    shared
      ? { store: new DatabaseRateLimitStore(database.db, database.support), logger }
      : undefined,
  );
}
