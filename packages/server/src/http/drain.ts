/**
 * Whether this replica is draining: set once on SIGTERM/SIGINT (see `startServer`), never unset.
 * While draining, /readyz answers 503 so the load balancer stops routing here, every response
 * carries `connection: close` so keep-alive clients reconnect (through the balancer) elsewhere,
 * and requests are still served until the listener closes.
 */
export class Drain {
  #draining = false;

  get draining(): boolean {
    return this.#draining;
  }

  /** Starts draining (idempotent). */
  begin(): void {
    this.#draining = true;
  }
}
