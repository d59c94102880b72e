import { connect, createServer, type Server, type Socket } from 'node:net';

/** One HTTP request the proxy forwarded (its request line and Range header). */
export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | null;
}

/** A TCP proxy that cuts one chosen download after a number of body bytes. */
export interface CuttingProxy {
  readonly port: number;
  readonly requests: ProxiedRequest[];
  /** The next GET whose path matches `path` loses its connection after `bodyBytes` body bytes. */
  cutNext(path: RegExp, bodyBytes: number): void;
  /** Whether the armed cut happened. */
  readonly cut: boolean;
  close(): Promise<void>;
}

const REQUEST_LINE = /^(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP\/1\.[01]\r\n/;

/**
 * Forwards raw TCP from a loopback port to `targetPort` (transparent: signed Host headers stay
 * valid), records the HTTP requests it sees, and can cut the answer to one chosen GET after N
 * body bytes — a connection lost mid-download, for resume tests.
 */
export async function startCuttingProxy(targetPort: number): Promise<CuttingProxy> {
  const requests: ProxiedRequest[] = [];
  let armed: { path: RegExp; bodyBytes: number } | null = null;
  let cut = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let cutting: number | null = null;
    let head = Buffer.alloc(0);
    let body = -1;
    let severed = false;
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      const m = REQUEST_LINE.exec(text);
      if (m) {
        const range = /\r\nrange: *([^\r]*)\r\n/i.exec(text)?.[1] ?? null;
        requests.push({ method: m[1]!, path: m[2]!, range });
        if (armed && m[1] === 'GET' && armed.path.test(m[2]!)) {
          cutting = armed.bodyBytes;
          armed = null;
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (severed) return;
      if (cutting === null) return void client.write(chunk);
      let data = chunk;
      if (body < 0) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        client.write(head.subarray(0, end + 4));
        data = head.subarray(end + 4);
        body = 0;
      }
      const room = cutting - body;
      if (data.length < room) {
        body += data.length;
        return void client.write(data);
      }
      cut = true;
      severed = true;
      client.write(data.subarray(0, room), () => {
        client.destroy();
        upstream.destroy();
      });
      cutting = null;
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    requests,
    cutNext(path, bodyBytes) {
      armed = { path, bodyBytes };
    },
    get cut() {
      return cut;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
