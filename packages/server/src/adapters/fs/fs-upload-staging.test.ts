import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { newSessionId, runUploadStagingContract } from '../../testing/upload-staging.contract.js';
import { FsUploadStaging } from './fs-upload-staging.js';

runUploadStagingContract('FsUploadStaging', {
  create: async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-staging-'));
    const staging = new FsUploadStaging(dir);
    await staging.init();
    return { staging, dispose: () => rm(dir, { recursive: true, force: true }) };
  },
});

describe('FsUploadStaging', () => {
  it('keeps chunks under the blob directory, one file per offset, and spools beside them', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-staging-'));
    try {
      const staging = new FsUploadStaging(dir);
      await staging.init();
      const id = newSessionId();
      const chunk = await staging.receive(id, Readable.from([Buffer.alloc(5, 1)]), 10);
      expect(await readdir(path.join(dir, 'upload-spool'))).toHaveLength(1);
      expect(await readdir(path.join(dir, 'uploads'))).toEqual([]);
      await chunk.place(0);
      await chunk.discard();
      expect(await readdir(path.join(dir, 'upload-spool'))).toEqual([]);
      expect(await readdir(path.join(dir, 'uploads', id))).toEqual(['0000000000000000']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
