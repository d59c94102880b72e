import { X509Certificate } from 'node:crypto';
import { isUpdraftError } from '@updraft/core';
import { fullJitterDelay } from '../backoff.js';
import type { Clock } from '../ports/clock.js';
import type { IdentityRenewal } from '../ports/identity-renewal.js';
import type { Logger } from '../ports/logger.js';
import type { EstClient } from './est-client.js';
import type { IdentityStore } from './identity-store.js';
import { commonName } from './pem.js';

/** Tunables of {@link IdentityRotation}. */
export interface IdentityRotationOptions {
  /** Renew when less than this fraction of the certificate's lifetime is left. Default 1/3. */
  readonly renewAtFraction?: number;
  /** Retry backoff after a failed renewal: first ceiling and cap. Defaults 1 min and 6 h. */
  readonly retryBaseMs?: number;
  readonly retryCapMs?: number;
  /** Uniform [0, 1) for the backoff's jitter. */
  readonly random?: () => number;
  readonly logger?: Logger;
}

/** What one {@link IdentityRotation.renewIfDue} call did. */
export type RenewalOutcome = 'not-enrolled' | 'not-due' | 'backing-off' | 'renewed' | 'failed';

/**
 * Automatic certificate rotation: before a check-in, when the certificate's remaining life is
 * below the threshold, re-enrolls over EST with a new key (`simplereenroll`, authenticated by the
 * current certificate), stores the result atomically and switches to it; the transport picks the
 * new identity up on its next request. A failure keeps the old identity (still valid: the
 * threshold leaves a third of the lifetime) and retries after a jittered, growing delay.
 */
export class IdentityRotation implements IdentityRenewal {
  readonly #store: IdentityStore;
  readonly #est: EstClient;
  readonly #clock: Clock;
  readonly #fraction: number;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #random: () => number;
  readonly #log: Logger | undefined;
  #failures = 0;
  #notBefore = 0;

  constructor(
    store: IdentityStore,
    est: EstClient,
    clock: Clock,
    options: IdentityRotationOptions = {},
  ) {
    this.#store = store;
    this.#est = est;
    this.#clock = clock;
    this.#fraction = options.renewAtFraction ?? 1 / 3;
    this.#baseMs = options.retryBaseMs ?? 60_000;
    this.#capMs = options.retryCapMs ?? 6 * 3600_000;
    this.#random = options.random ?? Math.random;
    this.#log = options.logger;
  }

  /** Whether the current certificate is inside its renewal window at the clock's `now`. */
  isDue(): boolean {
    const current = this.#store.current();
    if (current === null) return false;
    const lifetime = current.notAfter - current.notBefore;
    return current.notAfter - this.#clock.now() < lifetime * this.#fraction;
  }

  async renewIfDue(): Promise<RenewalOutcome> {
    const current = this.#store.current();
    if (current === null) return 'not-enrolled';
    if (!this.isDue()) return 'not-due';
    const now = this.#clock.now();
    if (now < this.#notBefore) return 'backing-off';
    try {
      // The service names the device in its certificate; a renewal keeps that name.
      const name = commonName(new X509Certificate(current.certificatePem)) ?? '';
      const key = await this.#store.pendingKey();
      const certs = await this.#est.reenroll(name, key, current);
      const next = await this.#store.install(certs);
      this.#failures = 0;
      this.#notBefore = 0;
      this.#log?.info(
        { notAfter: new Date(next.notAfter).toISOString(), key: key.label },
        'device certificate renewed',
      );
      return 'renewed';
    } catch (error) {
      if (!isUpdraftError(error)) throw error;
      // A refused request (400) will be refused again with the same key, e.g. when a cut lost
      // the answer that certified it: the next attempt uses a new key.
      if (error.code === 'AGENT_ENROLLMENT_REJECTED') await this.#store.discardPending();
      this.#failures += 1;
      const delay = fullJitterDelay(this.#failures, this.#baseMs, this.#capMs, this.#random);
      this.#notBefore = now + delay;
      this.#log?.warn(
        { code: error.code, failures: this.#failures, retryInMs: delay },
        'certificate renewal failed, keeping the current certificate',
      );
      return 'failed';
    }
  }
}
