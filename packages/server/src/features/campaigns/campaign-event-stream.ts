import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import { campaignEventsAfter } from './campaign-events.js';

/** How often a stream reads the log, sends progress at most, and proves it is alive. */
export interface StreamTimings {
  readonly pollMs: number;
  readonly progressMs: number;
  readonly keepAliveMs: number;
}

export const DEFAULT_STREAM_TIMINGS: StreamTimings = {
  pollMs: 500,
  progressMs: 1000,
  keepAliveMs: 15_000,
};

/** Open streams a tenant may hold (each polls the database). */
export const MAX_STREAMS_PER_TENANT = 100;

// Log entries read per query; a longer backlog is read in several.
const BATCH = 100;
// How much later than its stamp an event-log entry may commit and still be streamed live (a
// reconnect resumes strictly after its Last-Event-ID).
const LATE_COMMIT_MS = 5000;
// A client that reads slower than this much queued output is dropped (it reconnects and resumes).
const MAX_BUFFERED_BYTES = 1 << 20;

/** What a stream follows. */
export interface StreamTarget {
  readonly tenantId: string;
  readonly campaignId: string;
  /** Resume after this log id (the `Last-Event-ID` header); from the start when undefined. */
  readonly lastEventId: string | undefined;
}

/**
 * The campaign event streams (`GET /campaigns/{id}/events`, server-sent events): each replays the
 * campaign's event log after the client's `Last-Event-ID` and then polls it, adds a `progress`
 * event whenever the status document changed (at most once per `progressMs`; the document is
 * computed once per campaign for all its watchers) and a comment line to keep proxies from
 * closing an idle stream. Everything comes from the database, so a stream shows what every
 * replica did. Streams end when the client goes and when the server closes ({@link close}).
 */
export class CampaignEventStreams {
  readonly #perTenant = new Map<string, number>();
  readonly #stops = new Set<() => void>();
  readonly #statusCache = new Map<string, { at: number; json: Promise<string> }>();
  #closed = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly status: (tenantId: string, campaignId: string) => Promise<unknown>,
    private readonly log: FastifyBaseLogger,
    private readonly timings: StreamTimings = DEFAULT_STREAM_TIMINGS,
    private readonly maxPerTenant = MAX_STREAMS_PER_TENANT,
  ) {}

  /** Streams currently open (all tenants). */
  get openCount(): number {
    return this.#stops.size;
  }

  /** Takes over the reply and streams until the client or the server goes. */
  async open(request: FastifyRequest, reply: FastifyReply, target: StreamTarget): Promise<void> {
    const held = this.#perTenant.get(target.tenantId) ?? 0;
    if (this.#closed || held >= this.maxPerTenant)
      throw new ServerError(
        'CAMPAIGN_STREAM_LIMIT',
        this.#closed
          ? 'the server is shutting down'
          : `the tenant already has ${held} campaign event streams open (at most ${this.maxPerTenant})`,
      );
    this.#perTenant.set(target.tenantId, held + 1);
    reply.hijack();
    const res = reply.raw;
    // Hijacked: the app's onSend hooks (request id, no-store) do not run; set what they would.
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': request.id,
      // nginx and similar proxies would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let lastId = target.lastEventId;
    // Entries sent within the late-commit window (id → time stamped), and the newest stamp.
    const sent = new Map<string, number>();
    let newestAt: number | undefined;
    let lastProgress: string | undefined;
    let progressDueAt = 0;
    let lastWriteAt = performance.now();
    const write = (chunk: string) => {
      res.write(chunk);
      lastWriteAt = performance.now();
      if (res.writableLength > MAX_BUFFERED_BYTES) stop();
    };
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      this.#stops.delete(stop);
      const left = (this.#perTenant.get(target.tenantId) ?? 1) - 1;
      if (left > 0) this.#perTenant.set(target.tenantId, left);
      else this.#perTenant.delete(target.tenantId);
      if (!res.writableEnded) res.end();
    };
    this.#stops.add(stop);
    res.on('close', stop);
    res.on('error', stop);
    // Tells EventSource clients how soon to reconnect after a drop.
    write('retry: 2000\n\n');

    const pass = async () => {
      try {
        // Re-read the last LATE_COMMIT_MS of the log: an entry stamped before one already sent
        // may commit after it (another replica's longer transaction); those sent are skipped.
        let cursor = lastId;
        if (newestAt !== undefined) {
          const floor = `cev_${new Date(newestAt - LATE_COMMIT_MS).toISOString().replaceAll(/[-:.TZ]/g, '')}`;
          if (cursor === undefined || floor < cursor) cursor = floor;
        }
        for (;;) {
          const events = await campaignEventsAfter(
            this.db,
            target.tenantId,
            target.campaignId,
            cursor,
            BATCH,
          );
          for (const e of events) {
            if (stopped) return;
            cursor = e.id;
            if (sent.has(e.id)) continue;
            write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(JSON.parse(e.data))}\n\n`);
            const at = Date.parse(e.at);
            sent.set(e.id, at);
            newestAt = Math.max(newestAt ?? at, at);
            if (lastId === undefined || e.id > lastId) lastId = e.id;
          }
          if (events.length < BATCH || stopped) break;
        }
        if (newestAt !== undefined)
          for (const [id, at] of sent) if (at < newestAt - LATE_COMMIT_MS) sent.delete(id);
        const now = performance.now();
        if (!stopped && now >= progressDueAt) {
          progressDueAt = now + this.timings.progressMs;
          const json = await this.#statusJson(target.tenantId, target.campaignId);
          // No `id:`: progress is not in the log, so a reconnect resumes after the last log entry.
          if (!stopped && json !== lastProgress) {
            write(`event: progress\ndata: ${json}\n\n`);
            lastProgress = json;
          }
        }
        if (!stopped && performance.now() - lastWriteAt >= this.timings.keepAliveMs)
          write(': keep-alive\n\n');
      } catch (error) {
        // The database went (shutdown) or failed: end the stream; the client reconnects.
        this.log.warn({ err: error, campaignId: target.campaignId }, 'campaign event stream ended');
        stop();
        return;
      }
      if (!stopped) timer = setTimeout(pass, this.timings.pollMs);
    };
    void pass();
  }

  /** Ends every stream and refuses new ones (server shutdown must not wait for them). */
  close(): void {
    this.#closed = true;
    for (const stop of [...this.#stops]) stop();
  }

  #statusJson(tenantId: string, campaignId: string): Promise<string> {
    const key = `${tenantId}/${campaignId}`;
    const now = performance.now();
    const cached = this.#statusCache.get(key);
    if (cached !== undefined && now - cached.at < this.timings.progressMs) return cached.json;
    if (this.#statusCache.size > 1000) this.#statusCache.clear();
    const json = this.status(tenantId, campaignId).then((s) => JSON.stringify(s));
    this.#statusCache.set(key, { at: now, json });
    // A failed computation is not kept for the other watchers.
    json.catch(() => this.#statusCache.delete(key));
    return json;
  }
}
