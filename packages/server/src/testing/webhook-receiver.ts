import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a {@link WebhookReceiver} got. */
export interface ReceivedWebhook {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * A real HTTP receiver on 127.0.0.1 for webhook tests: records each request and answers the next
 * status queued in `statuses` (200 when none). `waitFor(n)` resolves once n requests arrived.
 *
 * @example
 * const receiver = await WebhookReceiver.start();
 * receiver.statuses.push(500); // the first delivery fails
 * await receiver.waitFor(2);
 */
export class WebhookReceiver {
  readonly requests: ReceivedWebhook[] = [];
  readonly statuses: number[] = [];
  readonly #waiters: Array<() => void> = [];
  readonly #server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = this.statuses.shift() ?? 200;
      res.end('ok');
      for (const wake of this.#waiters.splice(0)) wake();
    });
  });
  #url = '';

  /** Listens on a free loopback port. */
  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    receiver.#server.listen(0, '127.0.0.1');
    await once(receiver.#server, 'listening');
    receiver.#url = `http://127.0.0.1:${(receiver.#server.address() as AddressInfo).port}/hook`;
    return receiver;
  }

  /** `http://127.0.0.1:<port>/hook`. */
  get url(): string {
    return this.#url;
  }

  /** Resolves once `n` requests in total arrived. */
  async waitFor(n: number): Promise<void> {
    while (this.requests.length < n) await new Promise<void>((wake) => this.#waiters.push(wake));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * The receiver's side of docs/webhooks.md, written with node:crypto only (independent of the
 * server's signing code): `v1=` + hex HMAC-SHA256(secret, `<timestamp>.<body>`).
 */
export function webhookSignatureValid(secret: string, received: ReceivedWebhook): boolean {
  const timestamp = String(received.headers['updraft-webhook-timestamp']);
  const expected = createHmac('sha256', secret)
    .update(`${timestamp}.${received.body}`)
    .digest('hex');
  return received.headers['updraft-webhook-signature'] === `v1=${expected}`;
}
