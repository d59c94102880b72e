import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { BlobStore } from '../../ports/blob-store.js';
import { pingDatabase } from './system.repository.js';

/** What readiness checks: each backend the service cannot answer without. */
export const READINESS_CHECKS = ['database', 'blobs'] as const;
export type ReadinessCheck = (typeof READINESS_CHECKS)[number];

/** The outcome of a readiness probe. */
export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<ReadinessCheck, boolean>>;
  /** The checks that failed, in {@link READINESS_CHECKS} order. */
  readonly failing: readonly ReadinessCheck[];
}

/** Liveness, readiness and the Prometheus exposition. */
export class SystemService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly blobs: BlobStore,
    private readonly metrics: Metrics,
  ) {}

  /** Probes the database and the blob store; never throws (`onDatabaseError` hears why). */
  async readiness(onDatabaseError: (error: unknown) => void): Promise<Readiness> {
    const checks: Record<ReadinessCheck, boolean> = { database: false, blobs: false };
    try {
      await pingDatabase(this.db);
      checks.database = true;
    } catch (error) {
      onDatabaseError(error);
    }
    checks.blobs = await this.blobs.ready().catch(() => false);
    const failing = READINESS_CHECKS.filter((check) => !checks[check]);
    return { ready: failing.length === 0, checks, failing };
  }

  /** The metrics in Prometheus text format, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    const { registry } = this.metrics;
    return { contentType: registry.contentType, body: await registry.metrics() };
  }
}
