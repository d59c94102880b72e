import { json, problem, stubFetch } from './render';

/**
 * A stand-in for the service's upload sessions: it keeps the bytes it acknowledged, refuses a
 * chunk at any other offset (UPLOAD_OFFSET_MISMATCH, as the service does), and can be told to
 * fail chosen PUTs — before storing, or after storing (the answer lost on the way back).
 */
export function fakeUploads(
  options: {
    /** Which PUT (0-based) fails, and whether before or after storing its bytes. */
    fail?: (put: number) => 'before' | 'after' | null;
    /** Awaited before each PUT is answered (to hold an upload mid-way). */
    gate?: (put: number) => Promise<void>;
    /** Answers every request outside /api/v1/uploads. */
    other?: (request: Request) => Response | Promise<Response>;
  } = {},
) {
  const fail = options.fail ?? (() => null);
  const sessions = new Map<string, { size: number; bytes: number[] }>();
  const puts: number[] = [];
  let n = 0;
  const view = (id: string) => {
    const s = sessions.get(id)!;
    return {
      id,
      size: s.size,
      offset: s.bytes.length,
      complete: s.bytes.length === s.size,
      createdAt: '2026-12-01T10:00:00.000Z',
    };
  };
  const seen = stubFetch(async (request) => {
    const url = new URL(request.url);
    if (!url.pathname.startsWith('/api/v1/uploads'))
      return options.other?.(request) ?? problem(404, { code: 'RESOURCE_NOT_FOUND' });
    const id = url.pathname.split('/')[4];
    if (request.method === 'POST' && url.pathname === '/api/v1/uploads') {
      const { size } = (await request.json()) as { size: number };
      const newId = `upl_${'a'.repeat(15)}${sessions.size}`;
      sessions.set(newId, { size, bytes: [] });
      return json(view(newId), 201);
    }
    if (!id || !sessions.has(id)) return problem(404, { code: 'RESOURCE_NOT_FOUND' });
    if (request.method === 'GET') return json(view(id));
    if (request.method === 'DELETE') {
      sessions.delete(id);
      return new Response(null, { status: 204 });
    }
    const offset = Number(url.searchParams.get('offset'));
    const body = new Uint8Array(await request.arrayBuffer());
    const put = n++;
    await options.gate?.(put);
    const mode = fail(put);
    puts.push(offset);
    if (mode === 'before') return problem(503, { code: 'SERVICE_UNAVAILABLE', detail: 'busy' });
    const s = sessions.get(id)!;
    if (offset !== s.bytes.length)
      return problem(409, {
        code: 'UPLOAD_OFFSET_MISMATCH',
        detail: `expected a chunk at offset ${s.bytes.length}`,
      });
    s.bytes.push(...body);
    if (mode === 'after') return problem(502, { code: 'HTTP_502', detail: 'answer lost' });
    return json(view(id));
  });
  return { sessions, puts, seen };
}
