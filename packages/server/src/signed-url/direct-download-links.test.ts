import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig, type ServerConfigInput } from '../config/config.js';
import type { DownloadWindow } from '../ports/download-links.js';
import type { PresignedGetOptions } from '../ports/object-store.js';
import { createDownloadLinks } from './create-download-links.js';
import { DirectDownloadLinks } from './direct-download-links.js';
import { downloadWindow, MAX_DIRECT_LINK_SECONDS } from './download-window.js';

const DIGEST = 'ab'.repeat(32);
const T0 = Date.parse('2026-12-03T18:00:00Z');

/** A stand-in store that records what it was asked to sign (the real one: the s3 e2e test). */
function presigner() {
  const calls: { digest: string; expiresInSeconds: number; signingDate: Date }[] = [];
  return {
    calls,
    presignedGetUrl: async (digest: string, options: PresignedGetOptions) => {
      const signingDate = options.signingDate ?? new Date();
      const expiresInSeconds = (options.expiresAt.getTime() - signingDate.getTime()) / 1000;
      calls.push({ digest, signingDate, expiresInSeconds });
      return `https://bucket.s3.example/blobs/${digest}?X-Amz-Date=${signingDate.getTime()}&X-Amz-Expires=${expiresInSeconds}`;
    },
  };
}

const config = (overrides: ServerConfigInput) =>
  loadConfig({ overrides: { dataDir: '/tmp/updraft-links', ...overrides } });
const s3 = { bucket: 'fw', region: 'eu-west-1' };

describe('downloadWindow', () => {
  it('starts at a multiple of the TTL and lasts until the end of the next window', () => {
    const w = downloadWindow(600, T0 + 123_456);
    expect(w.startMs).toBe(T0);
    expect(w.expiresAt).toBe(T0 / 1000 + 1200);
    // Issued at the very end of a window, a link still has a whole TTL ahead.
    expect(downloadWindow(600, T0 + 599_999).expiresAt * 1000 - (T0 + 599_999)).toBeGreaterThan(
      600_000,
    );
  });

  it('never outlives a SigV4 pre-signed URL (7 days)', () => {
    const w = downloadWindow(604_800, T0);
    expect(w.expiresAt - w.startMs / 1000).toBe(MAX_DIRECT_LINK_SECONDS);
  });
});

describe('DirectDownloadLinks', () => {
  it('hands out one URL per blob within a window, signed at its start, and a new one after', async () => {
    const store = presigner();
    const links = new DirectDownloadLinks(
      {
        kind: 's3',
        url: (digest, w: DownloadWindow) =>
          store.presignedGetUrl(digest, {
            signingDate: new Date(w.startMs),
            expiresAt: new Date(w.expiresAt * 1000),
          }),
      },
      600,
    );
    const a = await links.direct(DIGEST, T0 + 1_000);
    const b = await links.direct(DIGEST, T0 + 500_000);
    expect(b).toEqual(a);
    expect(a.expiresAt).toBe(T0 / 1000 + 1200);
    expect(store.calls).toHaveLength(1);
    expect(store.calls[0]?.signingDate.getTime()).toBe(T0);
    const next = await links.direct(DIGEST, T0 + 600_000);
    expect(next.url).not.toBe(a.url);
    expect(store.calls).toHaveLength(2);
  });

  it('does not keep a failed signing', async () => {
    let fail = true;
    const links = new DirectDownloadLinks(
      {
        kind: 'cdn',
        url: async (digest) => {
          if (fail) throw new Error('no key');
          return `https://cdn.example/${digest}`;
        },
      },
      600,
    );
    await expect(links.direct(DIGEST, T0)).rejects.toThrow('no key');
    fail = false;
    expect((await links.direct(DIGEST, T0)).url).toBe(`https://cdn.example/${DIGEST}`);
  });
});

describe('createDownloadLinks', () => {
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  const readKey = async () => pem;

  it('keeps downloads on the service with the fs store, or with downloads.direct off', async () => {
    expect(await createDownloadLinks(config({}), presigner())).toBeUndefined();
    expect(
      await createDownloadLinks(
        config({ blobs: { store: 's3' }, s3, downloads: { direct: false } }),
        presigner(),
      ),
    ).toBeUndefined();
  });

  it('pre-signs on the object store with blobs.store=s3 and downloads.direct', async () => {
    const store = presigner();
    const links = await createDownloadLinks(
      config({ blobs: { store: 's3' }, s3, device: { downloadUrlTtlSeconds: 300 } }),
      store,
    );
    expect(links?.kind).toBe('s3');
    const link = await links!.direct(DIGEST, T0 + 10_000);
    expect(link.url).toMatch(/^https:\/\/bucket\.s3\.example\/blobs\//);
    expect(store.calls[0]).toMatchObject({ digest: DIGEST, expiresInSeconds: 600 });
  });

  it('signs CDN URLs under the configured key when downloads.cdnBaseUrl is set', async () => {
    const links = await createDownloadLinks(
      config({
        blobs: { store: 's3' },
        s3: { ...s3, prefix: 'fleet/' },
        downloads: {
          cdnBaseUrl: 'https://cdn.example.com',
          cdnKeyPairId: 'KID',
          cdnPrivateKeyFile: '/keys/cdn.pem',
        },
      }),
      presigner(),
      readKey,
    );
    expect(links?.kind).toBe('cdn');
    const url = new URL((await links!.direct(DIGEST, T0)).url);
    expect(url.origin + url.pathname).toBe(`https://cdn.example.com/fleet/blobs/${DIGEST}`);
  });

  it('fails at startup on an unreadable or non-PEM CDN key, or a store that cannot pre-sign', async () => {
    const cdn = config({
      blobs: { store: 's3' },
      s3,
      downloads: {
        cdnBaseUrl: 'https://cdn.example.com',
        cdnKeyPairId: 'KID',
        cdnPrivateKeyFile: '/nonexistent/cdn.pem',
      },
    });
    await expect(createDownloadLinks(cdn, {})).rejects.toThrow(/cdnPrivateKeyFile: cannot read/);
    await expect(createDownloadLinks(cdn, {}, async () => 'not a key')).rejects.toThrow(
      /not a PEM/,
    );
    await expect(createDownloadLinks(config({ blobs: { store: 's3' }, s3 }), {})).rejects.toThrow(
      /cannot pre-sign/,
    );
  });
});
