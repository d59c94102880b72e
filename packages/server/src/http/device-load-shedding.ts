import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ServerError } from '../errors.js';

/** Options of {@link DeviceLoadShedder}. */
export interface DeviceLoadSheddingOptions {
  /** Most device requests being worked on at once; more are refused at once. 0: no bound. */
  readonly maxPending: number;
  /** Longest Retry-After told to a refused device (seconds); each gets a random one up to it. */
  readonly maxRetryAfterSeconds: number;
  /** Uniform [0, 1) (tests pin it). */
  readonly random?: () => number;
}

/** Shortest Retry-After: a refused device never comes straight back. */
const MIN_RETRY_AFTER_SECONDS = 5;

/**
 * Bounds the device requests (routes declared `permission: 'device'`: check-ins, reports,
 * envelopes; not downloads through signed URLs) that are between arrival and their answer's
 * headers. Past the bound a device gets `DEVICE_SERVICE_BUSY` (503) at once, before any
 * authentication or database work, with a Retry-After spread at random over
 * [5 s, maxRetryAfterSeconds], so a fleet that comes back together (a restart with cold caches,
 * the end of a network outage) is spread out instead of queueing until every device times out
 * and retries into the same queue. A request counts from its headers, so a client sending its
 * body slowly holds a slot until `limits.requestTimeoutMs`: a proxy that buffers request bodies
 * (nginx does by default) keeps such clients off the count.
 */
export class DeviceLoadShedder {
  #pending = 0;
  #shed = 0;
  readonly #counted = new WeakSet<FastifyRequest>();

  constructor(private readonly options: DeviceLoadSheddingOptions) {}

  /** Device requests being worked on now. */
  get pending(): number {
    return this.#pending;
  }

  /** Device requests refused since start. */
  get shed(): number {
    return this.#shed;
  }

  /** Adds the hooks; install before the rate limits and the access check (no work first). */
  install(app: FastifyInstance): void {
    const { maxPending, maxRetryAfterSeconds } = this.options;
    if (maxPending <= 0) return;
    const random = this.options.random ?? Math.random;
    const spread = Math.max(0, maxRetryAfterSeconds - MIN_RETRY_AFTER_SECONDS);
    const release = (request: FastifyRequest) => {
      if (this.#counted.delete(request)) this.#pending--;
    };
    // Callback style: this runs on every request, and a promise per hook shows.
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.routeOptions.config.permission !== 'device') return done();
      if (this.#pending >= maxPending) {
        this.#shed++;
        const retryAfterSeconds = MIN_RETRY_AFTER_SECONDS + Math.floor(random() * (spread + 1));
        return done(
          new ServerError(
            'DEVICE_SERVICE_BUSY',
            `the service is working on ${this.#pending} device requests; retry after ${retryAfterSeconds} s`,
            { details: { retryAfterSeconds }, exposable: true },
          ),
        );
      }
      this.#pending++;
      this.#counted.add(request);
      done();
    });
    // Whichever comes first: the answer's headers, or the request's end without an answer.
    app.addHook('onSend', (request, _reply, payload, done) => {
      release(request);
      done(null, payload);
    });
    app.addHook('onResponse', (request, _reply, done) => {
      release(request);
      done();
    });
    app.addHook('onRequestAbort', (request, done) => {
      release(request);
      done();
    });
  }
}
