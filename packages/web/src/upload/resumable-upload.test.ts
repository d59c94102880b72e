// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import { fakeUploads } from '../testing/fake-uploads';
import { uploadResumable } from './resumable-upload';

afterEach(() => vi.unstubAllGlobals());

const file = (size: number) =>
  new File([Uint8Array.from({ length: size }, (_, i) => i % 251)], 'fw.bin');

describe('uploadResumable', () => {
  it('sends the file in chunks at the acknowledged offsets and reports progress', async () => {
    const server = fakeUploads();
    const progress: number[] = [];
    const id = await uploadResumable(file(10_000), {
      chunkBytes: 4096,
      onProgress: (sent, total) => {
        expect(total).toBe(10_000);
        progress.push(sent);
      },
    });
    expect(server.puts).toEqual([0, 4096, 8192]);
    expect(progress).toEqual([0, 4096, 8192, 10_000]);
    expect(server.sessions.get(id)!.bytes).toEqual([...new Uint8Array(await fileBytes(10_000))]);
    // Every chunk carries the dashboard's CSRF header and the raw media type.
    const put = server.seen.find((s) => s.method === 'PUT')!;
    expect(put.headers.get('x-updraft-client')).toBe('web');
    expect(put.headers.get('content-type')).toBe('application/octet-stream');
  });

  it('after a failed chunk continues from the offset the service reports, never resending', async () => {
    // PUT #1 is stored but its answer lost; PUT #3 is refused before storing.
    const server = fakeUploads({ fail: (n) => (n === 1 ? 'after' : n === 3 ? 'before' : null) });
    const id = await uploadResumable(file(5000), { chunkBytes: 1000 });
    // 0 ok, 1000 stored-but-lost → GET says 2000, 2000 ok, 3000 refused → GET says 3000, retried.
    expect(server.puts).toEqual([0, 1000, 2000, 3000, 3000, 4000]);
    const gets = server.seen.filter((s) => s.method === 'GET').map((s) => s.url);
    expect(gets).toHaveLength(2);
    expect(server.sessions.get(id)!.bytes).toEqual([...new Uint8Array(await fileBytes(5000))]);
  });

  it('gives up with the service error code after repeated failures, then resumes the session', async () => {
    let broken = true;
    const server = fakeUploads({ fail: (n) => (n >= 2 && broken ? 'before' : null) });
    let sessionId = '';
    const error = await uploadResumable(file(5000), {
      chunkBytes: 1000,
      retries: 2,
      onSession: (s) => {
        sessionId = s;
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).problem.code).toBe('SERVICE_UNAVAILABLE');
    expect(server.sessions.get(sessionId)!.bytes).toHaveLength(2000);

    broken = false;
    server.puts.length = 0;
    const progress: number[] = [];
    const id = await uploadResumable(file(5000), {
      chunkBytes: 1000,
      resumeId: sessionId,
      onProgress: (sent) => progress.push(sent),
    });
    expect(id).toBe(sessionId);
    expect(server.puts).toEqual([2000, 3000, 4000]);
    expect(progress[0]).toBe(2000);
    expect(server.sessions.get(id)!.bytes).toEqual([...new Uint8Array(await fileBytes(5000))]);
  });

  it('stops when cancelled', async () => {
    const controller = new AbortController();
    const server = fakeUploads();
    const error = await uploadResumable(file(5000), {
      chunkBytes: 1000,
      signal: controller.signal,
      onProgress: (sent) => {
        if (sent === 2000) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(server.puts).toEqual([0, 1000]);
  });
});

async function fileBytes(size: number): Promise<ArrayBuffer> {
  return Uint8Array.from({ length: size }, (_, i) => i % 251).buffer;
}
