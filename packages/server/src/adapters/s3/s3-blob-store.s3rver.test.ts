import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerError } from '../../errors.js';
import { codeOf, sha256 } from '../../testing/blob-test-helpers.js';
import { startS3Server, type TestS3Server } from '../../testing/s3-server.js';
import { S3BlobStore } from './s3-blob-store.js';
import { createS3Client, type S3Settings } from './s3-client.js';

// What the contract cannot see: how the bytes reach the bucket (multipart, SSE on every write,
// nothing sent before verification), the abort of failed uploads, an unreachable bucket, and the
// pre-signed URLs devices download from. Requests are watched with an SDK middleware, on a real
// s3rver process (s3rver itself echoes no SSE header, so the request is where it shows).

const PART = 5_242_880;

interface Sent {
  readonly command: string;
  readonly headers: Record<string, string>;
  readonly query: Record<string, unknown>;
  /** HTTP status once answered. */
  status?: number;
}

/** Records every request the client sends (after signing) and its status. */
function watch(client: S3Client): Sent[] {
  const sent: Sent[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as {
        headers: Record<string, string>;
        query: Record<string, unknown>;
      };
      const entry: Sent = {
        command: String(context.commandName).replace(/Command$/, ''),
        headers: { ...request.headers },
        query: { ...request.query },
      };
      sent.push(entry);
      const out = await next(args);
      entry.status = (out.response as { statusCode?: number }).statusCode;
      return out;
    },
    { step: 'finalizeRequest', name: 'watchRequests' },
  );
  return sent;
}

const commands = (sent: readonly Sent[]) => sent.map((s) => s.command);

let s3: TestS3Server;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(() => s3?.dispose());

function settings(overrides: Partial<S3Settings> = {}): S3Settings {
  return {
    ...s3.config,
    prefix: `t${randomBytes(3).toString('hex')}/`,
    sse: 'AES256',
    kmsKeyId: '',
    partSizeBytes: PART,
    timeoutMs: 5_000,
    ...overrides,
  };
}

/** A store on its own watched client (closed by the test). */
function watchedStore(overrides: Partial<S3Settings> = {}) {
  const s = settings(overrides);
  const client = createS3Client(s);
  const sent = watch(client);
  const store = new S3BlobStore({ settings: s, client });
  return { store, sent, client, settings: s };
}

describe('S3BlobStore writes', () => {
  it('sends a payload over the part size as a multipart upload, SSE on the create, and reads it back across parts', async () => {
    const { store, sent, client } = watchedStore();
    const data = randomBytes(2 * PART + 1000);
    const digest = sha256(data);
    await store.put(Readable.from([data]), { digest, size: data.length });
    const writes = commands(sent).filter((c) => c !== 'HeadObject');
    expect(writes).toEqual([
      'CreateMultipartUpload',
      'UploadPart',
      'UploadPart',
      'UploadPart',
      'CompleteMultipartUpload',
    ]);
    const create = sent.find((s) => s.command === 'CreateMultipartUpload')!;
    expect(create.headers['x-amz-server-side-encryption']).toBe('AES256');
    // The parts are S3-sized: 5 MiB, 5 MiB and the rest.
    const parts = sent.filter((s) => s.command === 'UploadPart');
    expect(parts.map((p) => Number(p.headers['content-length']))).toEqual([PART, PART, 1000]);
    expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
    const across = { start: PART - 10, end: 2 * PART + 10 };
    const got = await buffer(await store.read(digest, across));
    expect(got.equals(data.subarray(across.start, across.end + 1))).toBe(true);
    client.destroy();
  });

  it('sends a small payload as one PutObject carrying the SSE header of s3.sse', async () => {
    for (const [sse, kmsKeyId, expected] of [
      ['AES256', '', { 'x-amz-server-side-encryption': 'AES256' }],
      [
        'aws:kms',
        'arn:aws:kms:us-east-1:111122223333:key/test',
        {
          'x-amz-server-side-encryption': 'aws:kms',
          'x-amz-server-side-encryption-aws-kms-key-id':
            'arn:aws:kms:us-east-1:111122223333:key/test',
        },
      ],
      ['aws:kms', '', { 'x-amz-server-side-encryption': 'aws:kms' }],
      ['none', '', {}],
    ] as const) {
      const { store, sent, client } = watchedStore({ sse, kmsKeyId });
      const data = randomBytes(1000);
      const digest = sha256(data);
      await store.put(Readable.from([data]), { digest, size: data.length });
      const put = sent.filter((s) => s.command === 'PutObject');
      expect(put).toHaveLength(1);
      const sseHeaders = Object.fromEntries(
        Object.entries(put[0]!.headers).filter(([name]) =>
          name.startsWith('x-amz-server-side-encryption'),
        ),
      );
      expect(sseHeaders).toEqual(expected);
      expect(await store.head(digest)).toEqual({ digest, size: 1000 });
      client.destroy();
    }
  });

  it('never sends a small payload whose digest is wrong (no PutObject at all)', async () => {
    const { store, sent, client } = watchedStore();
    const data = randomBytes(PART - 1);
    const wrong = sha256(Buffer.from('other'));
    expect(
      await codeOf(store.put(Readable.from([data]), { digest: wrong, size: data.length })),
    ).toBe('BLOB_DIGEST_MISMATCH');
    expect(commands(sent)).toEqual(['HeadObject']);
    expect(await store.head(wrong)).toBeUndefined();
    client.destroy();
  });

  it('aborts a multipart upload whose digest is wrong: no CompleteMultipartUpload, no object, the mismatch reported', async () => {
    const { store, sent, client } = watchedStore();
    const data = randomBytes(2 * PART + 7);
    const wrong = sha256(Buffer.from('other'));
    // s3rver does not implement AbortMultipartUpload (it answers 405): the mismatch must still
    // be what the caller hears, not the abort's failure.
    expect(
      await codeOf(store.put(Readable.from([data]), { digest: wrong, size: data.length })),
    ).toBe('BLOB_DIGEST_MISMATCH');
    const names = commands(sent);
    expect(names).toContain('UploadPart');
    expect(names).not.toContain('CompleteMultipartUpload');
    expect(names).not.toContain('PutObject');
    // The abort names the very upload that was created.
    const created = sent.findIndex((s) => s.command === 'CreateMultipartUpload');
    const aborted = sent.filter((s) => s.command === 'AbortMultipartUpload');
    expect(created).toBeGreaterThanOrEqual(0);
    expect(aborted).toHaveLength(1);
    const uploadIds = new Set(
      sent.filter((s) => s.command === 'UploadPart').map((s) => s.query.uploadId),
    );
    expect(uploadIds.size).toBe(1);
    expect(aborted[0]!.query.uploadId).toBe([...uploadIds][0]);
    expect(await store.head(wrong)).toBeUndefined();
    client.destroy();
  });

  it('aborts a multipart upload whose source fails after some parts and rethrows the source error', async () => {
    const { store, sent, client } = watchedStore();
    const data = randomBytes(3 * PART);
    const digest = sha256(data);
    async function* failing() {
      yield data.subarray(0, 2 * PART + 5);
      throw new Error('client went away');
    }
    await expect(store.put(failing(), { digest, size: data.length })).rejects.toThrow(
      'client went away',
    );
    expect(commands(sent)).toContain('AbortMultipartUpload');
    expect(commands(sent)).not.toContain('CompleteMultipartUpload');
    expect(await store.head(digest)).toBeUndefined();
    client.destroy();
  });

  it('only checks the bytes of a digest already stored: no second write, a mismatch still refused', async () => {
    const { store, sent, client } = watchedStore();
    const data = randomBytes(3000);
    const digest = sha256(data);
    await store.put(Readable.from([data]), { digest, size: data.length });
    sent.length = 0;
    await store.put(Readable.from([data]), { digest, size: data.length });
    expect(commands(sent)).toEqual(['HeadObject']);
    const tampered = Buffer.from(data);
    tampered[5] = tampered[5]! ^ 1;
    expect(await codeOf(store.put(Readable.from([tampered]), { digest, size: data.length }))).toBe(
      'BLOB_DIGEST_MISMATCH',
    );
    expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
    client.destroy();
  });

  it('ends a whole read of an object changed behind its back in BLOB_CORRUPT', async () => {
    const { store, client, settings: s } = watchedStore();
    const data = randomBytes(4000);
    const digest = sha256(data);
    const tampered = Buffer.from(data);
    tampered[100] = tampered[100]! ^ 1;
    await client.send(
      new PutObjectCommand({ Bucket: s.bucket, Key: `${s.prefix}blobs/${digest}`, Body: tampered }),
    );
    expect(await codeOf(buffer(await store.read(digest)))).toBe('BLOB_CORRUPT');
    client.destroy();
  });

  it('sends nothing to the bucket for a malformed digest', async () => {
    const { store, sent, client } = watchedStore();
    expect(await store.head('../../etc/passwd')).toBeUndefined();
    expect(await codeOf(store.read('../x'))).toBe('BLOB_NOT_FOUND');
    expect(await codeOf(store.delete('A'.repeat(64)))).toBe('BLOB_NOT_FOUND');
    expect(
      await codeOf(store.put(Readable.from([Buffer.from('x')]), { digest: '../x', size: 1 })),
    ).toBe('BLOB_NOT_FOUND');
    expect(sent).toEqual([]);
    client.destroy();
  });
});

describe('S3BlobStore pre-signed GET URLs', () => {
  it('serves the blob to a client without credentials, with Range, the file name, and the same URL for the same window', async () => {
    const { store, client } = watchedStore();
    const data = randomBytes(10_000);
    const digest = sha256(data);
    await store.put(Readable.from([data]), { digest, size: data.length });
    const signingDate = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const expiresAt = new Date(signingDate.getTime() + 600_000);
    const url = await store.presignedGetUrl(digest, {
      expiresAt,
      signingDate,
      fileName: 'fw 1.bin',
    });
    expect(
      await store.presignedGetUrl(digest, { expiresAt, signingDate, fileName: 'fw 1.bin' }),
    ).toBe(url);
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-disposition')).toContain('filename="fw 1.bin"');
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
    const part = await fetch(url, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);
    client.destroy();
  });

  it('stops working after expiresAt, and refuses lifetimes SigV4 cannot sign', async () => {
    const { store, client } = watchedStore();
    const data = randomBytes(100);
    const digest = sha256(data);
    await store.put(Readable.from([data]), { digest, size: data.length });
    const signingDate = new Date(Date.now() - 120_000);
    const url = await store.presignedGetUrl(digest, {
      signingDate,
      expiresAt: new Date(signingDate.getTime() + 60_000),
    });
    expect((await fetch(url)).status).toBe(403);
    await expect(
      store.presignedGetUrl(digest, { expiresAt: new Date(Date.now() - 1000) }),
    ).rejects.toThrow(/lifetime/);
    await expect(
      store.presignedGetUrl(digest, { expiresAt: new Date(Date.now() + 8 * 86_400_000) }),
    ).rejects.toThrow(/lifetime/);
    expect(
      await codeOf(store.presignedGetUrl('nope', { expiresAt: new Date(Date.now() + 60_000) })),
    ).toBe('BLOB_NOT_FOUND');
    client.destroy();
  });
});

describe('S3BlobStore when the bucket is unreachable', () => {
  it('is not ready, answers BLOB_STORE_UNAVAILABLE everywhere, and shows nothing half-written once back', async () => {
    const { store, sent, client } = watchedStore({ timeoutMs: 2_000 });
    const kept = randomBytes(500);
    const keptDigest = sha256(kept);
    await store.put(Readable.from([kept]), { digest: keptDigest, size: kept.length });
    expect(await store.ready()).toBe(true);

    // Killed in the middle of a multipart upload: part 1 stored, the rest never arrives.
    const big = randomBytes(3 * PART);
    const bigDigest = sha256(big);
    async function* killedMidway() {
      yield big.subarray(0, PART + 1);
      const deadline = Date.now() + 10_000;
      while (!sent.some((s) => s.command === 'UploadPart' && s.status === 200)) {
        if (Date.now() > deadline) throw new Error('part 1 was never uploaded');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await s3.stop('SIGKILL');
      yield big.subarray(PART + 1);
    }
    expect(await codeOf(store.put(killedMidway(), { digest: bigDigest, size: big.length }))).toBe(
      'BLOB_STORE_UNAVAILABLE',
    );

    const started = performance.now();
    expect(await store.ready()).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_000);
    const small = randomBytes(100);
    expect(
      await codeOf(store.put(Readable.from([small]), { digest: sha256(small), size: 100 })),
    ).toBe('BLOB_STORE_UNAVAILABLE');
    expect(await codeOf(store.head(keptDigest))).toBe('BLOB_STORE_UNAVAILABLE');
    expect(await codeOf(store.read(keptDigest))).toBe('BLOB_STORE_UNAVAILABLE');
    expect(await codeOf(store.read(keptDigest, { start: 0, end: 9 }))).toBe(
      'BLOB_STORE_UNAVAILABLE',
    );
    expect(await codeOf(store.delete(keptDigest))).toBe('BLOB_STORE_UNAVAILABLE');
    try {
      await store.head(keptDigest);
    } catch (error) {
      const failure = error as ServerError;
      expect(failure.status).toBe(503);
      expect(failure.exposable).toBe(true);
      expect(failure.cause).toBeDefined();
      expect(failure.details.retryAfterSeconds).toBeGreaterThan(0);
    }

    await s3.start();
    expect(await store.ready()).toBe(true);
    expect(await store.head(bigDigest)).toBeUndefined();
    expect(await codeOf(store.read(bigDigest))).toBe('BLOB_NOT_FOUND');
    expect(await store.head(sha256(small))).toBeUndefined();
    expect((await buffer(await store.read(keptDigest))).equals(kept)).toBe(true);
    client.destroy();
  });

  it('answers ready() false within a fifth of s3.timeoutMs when the endpoint accepts but never answers', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as net.AddressInfo;
    const store = new S3BlobStore({
      settings: settings({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1_000 }),
    });
    try {
      const started = performance.now();
      expect(await store.ready()).toBe(false);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(150);
      expect(elapsed).toBeLessThan(600);
    } finally {
      await store.close();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('keeps credentials out of its errors when the bucket refuses them', async () => {
    // s3rver checks the access key id, not SigV4 signatures: an unknown key id is its refusal.
    const secret = 'wrong-secret-Zq8dK2pXv7';
    const store = new S3BlobStore({
      settings: settings({ accessKeyId: 'NOT-AN-ACCOUNT', secretAccessKey: secret }),
    });
    try {
      // One at a time: a second call started at once could reject before the first settles,
      // unobserved (an unhandled rejection).
      for (const attempt of [() => store.init(), () => store.head(sha256(Buffer.from('a')))]) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ServerError);
        const failure = error as ServerError;
        expect(failure.code).toBe('BLOB_STORE_UNAVAILABLE');
        expect(failure.message).toMatch(/InvalidAccessKeyId|Forbidden|HTTP 403/);
        expect(`${failure.message} ${JSON.stringify(failure.details)}`).not.toContain(secret);
      }
    } finally {
      await store.close();
    }
  });
});
