import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { MemoryRouter } from 'react-router';
import { vi } from 'vitest';
import { SessionProvider } from '../auth/session';

// jsdom lacks these; Mantine reads them for colour scheme and sizing.
if (!window.matchMedia) {
  window.matchMedia = (query: string) =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => undefined,
      removeListener: () => undefined,
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
      dispatchEvent: () => false,
    }) as MediaQueryList;
}
globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
};

/** A recorded request the component made. */
export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly credentials: RequestCredentials;
  readonly body: string;
}

/**
 * Answers the component's fetches with `answer` (a real Response per request) and records them,
 * so tests assert both what was sent and what is shown.
 */
export function stubFetch(answer: (request: Request) => Response | Promise<Response>): Seen[] {
  const seen: Seen[] = [];
  vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    seen.push({
      method: request.method,
      url: request.url,
      headers: request.headers,
      credentials: request.credentials,
      body: await request.clone().text(),
    });
    return answer(request);
  });
  return seen;
}

export function problem(status: number, body: Record<string, unknown>): Response {
  return new Response(JSON.stringify({ status, ...body }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/** Renders `ui` with the app's providers; `roles` signs a user in for session-aware components. */
export function renderWithApp(ui: ReactNode, options: { roles?: string[]; path?: string } = {}) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const me = {
    id: 'u1',
    username: 'tester',
    roles: options.roles ?? [],
    createdAt: '2026-01-01T00:00:00.000Z',
    disabledAt: null,
    passwordChangeRequired: false,
  };
  return render(
    <MantineProvider>
      <QueryClientProvider client={client}>
        <MemoryRouter initialEntries={[options.path ?? '/']}>
          {options.roles ? <SessionProvider me={me}>{ui}</SessionProvider> : ui}
        </MemoryRouter>
      </QueryClientProvider>
    </MantineProvider>,
  );
}
