import { useEffect, useRef, useState } from 'react';

/** Whether a {@link useEventStream} is receiving: `open`, `connecting` (or reconnecting). */
export type StreamState = 'connecting' | 'open';

/** One server-sent event as the hook hands it over: its type, its id (if any), its JSON data. */
export interface StreamEvent {
  readonly type: string;
  readonly id: string | undefined;
  readonly data: unknown;
}

/** The longest wait before opening a stream again after the service refused or ended it. */
const MAX_RETRY_MS = 30_000;

/**
 * Follows a same-origin `text/event-stream` (EventSource: the session cookie goes with it, no
 * token in the URL) and hands each event of `types` to `onEvent`, parsed as JSON. The browser
 * reconnects by itself after a dropped connection (with `Last-Event-ID`); when it gives up (the
 * service answered an error, e.g. 429 CAMPAIGN_STREAM_LIMIT) the stream is opened again after 1 s,
 * doubling up to 30 s. `url` null: no stream.
 */
export function useEventStream(
  url: string | null,
  types: readonly string[],
  onEvent: (event: StreamEvent) => void,
): StreamState {
  const [state, setState] = useState<StreamState>('connecting');
  // The latest handler without reopening the stream on every render.
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const typeKey = types.join(',');
  useEffect(() => {
    if (url === null) return;
    let source: EventSource | undefined;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let retryMs = 1000;
    let ended = false;
    const open = () => {
      source = new EventSource(url);
      source.onopen = () => {
        retryMs = 1000;
        setState('open');
      };
      source.onerror = () => {
        setState('connecting');
        // CONNECTING: the browser retries by itself. CLOSED: it gave up; try again later.
        if (source?.readyState !== EventSource.CLOSED || ended) return;
        source.close();
        retryTimer = setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      };
      for (const type of typeKey.split(',')) {
        source.addEventListener(type, (e) => {
          const message = e as MessageEvent<string>;
          let data: unknown;
          try {
            data = JSON.parse(message.data);
          } catch {
            return;
          }
          handler.current({ type, id: message.lastEventId || undefined, data });
        });
      }
    };
    open();
    return () => {
      ended = true;
      clearTimeout(retryTimer);
      source?.close();
      setState('connecting');
    };
  }, [url, typeKey]);
  return state;
}
