import http from 'node:http';

/** One server-sent event block as received (a comment block has only `comment`). */
export interface SseBlock {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  readonly comment?: string;
}

/** An open event stream: blocks received so far, the answer's status and headers, and a close. */
export interface SseStream {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly blocks: SseBlock[];
  /** Resolves when the server ended the stream (or the client closed it). */
  readonly ended: Promise<void>;
  close(): void;
}

function parseBlock(text: string): SseBlock {
  const block: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) block.comment = line.slice(1).trim();
    else {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      block[field] =
        field === 'data' && block.data !== undefined ? `${block.data}\n${value}` : value;
    }
  }
  return block;
}

/**
 * Opens `url` as a text/event-stream and collects its blocks as they arrive. node:http on a
 * connection of its own (no agent): fetch's pool opens a spare connection after an abort, which
 * a closing server then waits for.
 */
export function openSse(url: string, headers: Record<string, string>): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, {
      headers: { accept: 'text/event-stream', ...headers },
      agent: false,
    });
    request.on('error', reject);
    request.on('response', (res) => {
      const blocks: SseBlock[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          blocks.push(parseBlock(buffer.slice(0, end)));
          buffer = buffer.slice(end + 2);
        }
      });
      const ended = new Promise<void>((done) => res.on('close', () => done()));
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        blocks,
        ended,
        close: () => request.destroy(),
      });
    });
  });
}
