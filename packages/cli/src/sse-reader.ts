/** One server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export interface ServerSentEvent {
  /** `event:` field; `message` when absent. */
  readonly event: string;
  /** `data:` lines joined with newlines. */
  readonly data: string;
  /** `id:` field, when the event had one. */
  readonly id?: string;
}

/** Largest event the reader buffers; a longer one is a broken stream, not something to keep. */
const MAX_EVENT_CHARS = 1024 * 1024;

/**
 * Reads `text/event-stream` bytes and yields its events; comment lines (`: keep-alive`) only call
 * `onActivity`, as every chunk does (an idle timer uses it to detect a silent connection).
 */
export async function* readServerSentEvents(
  body: AsyncIterable<Uint8Array>,
  onActivity: () => void = () => {},
): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  let size = 0;
  for await (const chunk of body) {
    onActivity();
    buffer += decoder.decode(chunk, { stream: true });
    for (;;) {
      const end = buffer.search(/\r\n|\r|\n/);
      if (end === -1) break;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) {
          yield { event: event || 'message', data: data.join('\n'), ...(id ? { id } : {}) };
        }
        event = '';
        data = [];
        id = undefined;
        size = 0;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      size += value.length;
      if (size > MAX_EVENT_CHARS) throw new Error('an event of the stream is too large');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
    }
    if (buffer.length > MAX_EVENT_CHARS) throw new Error('a line of the stream is too large');
  }
}
