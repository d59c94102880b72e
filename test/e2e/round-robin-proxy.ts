import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Largest request body the proxy buffers (device reports and check-ins are small). */
const MAX_BODY = 1024 * 1024;

/**
 * A load balancer for tests: spreads requests round-robin over the upstream base URLs that
 * `upstreams()` returns, and sends a request to the next upstream when one refuses the
 * connection (a killed replica), as a production balancer's health check would.
 */
export class RoundRobinProxy {
  readonly #server: http.Server;
  #next = 0;
  #url = '';
  /** Requests answered by each upstream (by base URL). */
  readonly served = new Map<string, number>();

  private constructor(upstreams: () => readonly string[]) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy();
        else chunks.push(c);
      });
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const targets = upstreams();
        const attempt = (tries: number) => {
          if (tries >= targets.length) {
            res.writeHead(502).end();
            return;
          }
          const base = targets[this.#next++ % targets.length]!;
          const upstream = http.request(
            `${base}${req.url ?? '/'}`,
            { method: req.method, headers: req.headers, agent },
            (answer) => {
              this.served.set(base, (this.served.get(base) ?? 0) + 1);
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              answer.pipe(res);
              answer.on('error', () => res.destroy());
            },
          );
          upstream.on('error', (error: NodeJS.ErrnoException) => {
            // Refused before anything was sent back: another replica can take it.
            if (!res.headersSent && error.code === 'ECONNREFUSED') attempt(tries + 1);
            else res.destroy();
          });
          upstream.end(body);
        };
        attempt(0);
      });
    });
  }

  static async start(upstreams: () => readonly string[]): Promise<RoundRobinProxy> {
    const proxy = new RoundRobinProxy(upstreams);
    proxy.#server.listen(0, '127.0.0.1');
    await once(proxy.#server, 'listening');
    proxy.#url = `http://127.0.0.1:${(proxy.#server.address() as AddressInfo).port}`;
    return proxy;
  }

  get url(): string {
    return this.#url;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
