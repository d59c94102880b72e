import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadStaging } from '../ports/upload-staging.js';
import { codeOf } from './blob-test-helpers.js';

/** How the contract suite gets a fresh, initialised staging, and disposes of it. */
export interface UploadStagingContractOptions {
  create(): Promise<{ staging: UploadStaging; dispose(): Promise<void> }>;
}

let sessions = 0;
/** A fresh, well-formed session id. */
export const newSessionId = () =>
  `upl_contract${String(sessions++).padStart(6, '0')}${randomBytes(4).toString('hex')}`;

function body(...parts: Buffer[]): Readable {
  return Readable.from(parts);
}

/**
 * The behaviour every {@link UploadStaging} must show; each implementation's test file calls it.
 *
 * @example
 * runUploadStagingContract('FsUploadStaging', { create: async () => … });
 */
export function runUploadStagingContract(
  name: string,
  options: UploadStagingContractOptions,
): void {
  describe(`UploadStaging contract: ${name}`, () => {
    let staging: UploadStaging;
    let dispose: () => Promise<void>;
    beforeAll(async () => {
      ({ staging, dispose } = await options.create());
    });
    afterAll(() => dispose?.());

    const place = async (id: string, offset: number, bytes: Buffer) => {
      const chunk = await staging.receive(id, body(bytes), 1 << 20);
      try {
        await chunk.place(offset);
      } finally {
        await chunk.discard();
      }
    };

    it('reads the chunks back in the order of their offsets, whatever order they were placed in', async () => {
      const id = newSessionId();
      const data = randomBytes(2500);
      await place(id, 2000, data.subarray(2000));
      await place(id, 1000, data.subarray(1000, 2000));
      await place(id, 0, data.subarray(0, 1000));
      expect((await buffer(staging.read(id, 2500))).equals(data)).toBe(true);
      expect((await buffer(staging.read(id, 1500))).equals(data.subarray(0, 1500))).toBe(true);
      await staging.remove(id);
    });

    it('replaces an unacknowledged chunk retried at the same offset, even with another length', async () => {
      const id = newSessionId();
      const data = randomBytes(300);
      await place(id, 0, data.subarray(0, 100));
      // An attempt at 100 that was never acknowledged (say the commit failed)...
      await place(id, 100, randomBytes(150));
      // ...is overwritten by the retry, which this time carries the rest.
      await place(id, 100, data.subarray(100));
      expect((await buffer(staging.read(id, 300))).equals(data)).toBe(true);
      await staging.remove(id);
    });

    it('ignores a chunk past the acknowledged bytes and reports a chain that stops short', async () => {
      const id = newSessionId();
      const data = randomBytes(200);
      await place(id, 0, data.subarray(0, 100));
      await place(id, 100, data.subarray(100));
      await place(id, 200, randomBytes(50));
      expect((await buffer(staging.read(id, 200))).equals(data)).toBe(true);
      await staging.remove(id);
      const gap = newSessionId();
      await place(gap, 0, data.subarray(0, 100));
      await place(gap, 150, data.subarray(150));
      expect(await codeOf(buffer(staging.read(gap, 200)))).toBe('UPLOAD_INCOMPLETE');
      await staging.remove(gap);
    });

    it('refuses a chunk longer than allowed and keeps nothing of a discarded one', async () => {
      const id = newSessionId();
      await expect(
        staging.receive(id, body(randomBytes(60), randomBytes(60)), 100),
      ).rejects.toMatchObject({
        code: 'UPLOAD_TOO_LARGE',
      });
      const unplaced = await staging.receive(id, body(randomBytes(10)), 100);
      expect(unplaced.size).toBe(10);
      await unplaced.discard();
      expect(await staging.list()).not.toContain(id);
      expect(await staging.sweepSpool(0)).toBe(0);
      expect(await codeOf(buffer(staging.read(id, 10)))).toBe('UPLOAD_INCOMPLETE');
      expect((await buffer(staging.read(id, 0))).length).toBe(0);
    });

    it('lists sessions with chunks and removes every chunk of one', async () => {
      const id = newSessionId();
      await place(id, 0, randomBytes(10));
      await place(id, 10, randomBytes(10));
      expect(await staging.list()).toContain(id);
      await staging.remove(id);
      await staging.remove(id);
      expect(await staging.list()).not.toContain(id);
      expect(await codeOf(buffer(staging.read(id, 20)))).toBe('UPLOAD_INCOMPLETE');
    });

    it('sweeps the spool of a chunk received but never placed nor discarded (a crash)', async () => {
      const id = newSessionId();
      await staging.receive(id, body(randomBytes(10)), 100);
      expect(await staging.sweepSpool(60_000)).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await staging.sweepSpool(10)).toBe(1);
    });

    it('refuses session ids that could name another path or key', async () => {
      for (const bad of [
        '../etc/passwd',
        'upl_../../x',
        'upl_short',
        'upl_aaaaaaaaaaaaaaaa/../b',
        '',
      ]) {
        expect(await codeOf(staging.receive(bad, body(randomBytes(1)), 10))).toBe(
          'RESOURCE_NOT_FOUND',
        );
        expect(await codeOf(staging.remove(bad))).toBe('RESOURCE_NOT_FOUND');
      }
    });
  });
}
