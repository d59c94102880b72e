import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyToBuffer } from './apply.js';
import { diff } from './diff.js';

// Real firmware pairs (../shared/corpus). Fetching takes ~25 s here, so CI fetches them; a
// developer machine without the corpus skips this file (run the fetch script to include it).
const corpusDir = process.env.UPDRAFT_CORPUS ?? '/tmp/corpus';
const fetchScript = new URL('../../../../shared/corpus/fetch-corpus.sh', import.meta.url).pathname;
const inCi = process.env.CI === 'true';
const available = inCi || existsSync(join(corpusDir, 'manifest.tsv'));

describe.skipIf(!available)(
  'corpus round trip (skipped: no corpus at UPDRAFT_CORPUS or /tmp/corpus, not CI)',
  () => {
    beforeAll(async () => {
      if (!existsSync(join(corpusDir, 'manifest.tsv'))) {
        await promisify(execFile)('bash', [fetchScript, corpusDir], { timeout: 170_000 });
      }
    }, 180_000);

    it('restores every corpus pair byte for byte', async () => {
      const pairs = readdirSync(corpusDir).filter((d) => existsSync(join(corpusDir, d, 'new.bin')));
      expect(pairs.length).toBeGreaterThanOrEqual(8);
      for (const pair of pairs) {
        const oldImage = readFileSync(join(corpusDir, pair, 'old.bin'));
        const newImage = readFileSync(join(corpusDir, pair, 'new.bin'));
        const patch = diff(oldImage, newImage);
        expect(patch.length, pair).toBeLessThan(newImage.length);
        expect(Buffer.from(await applyToBuffer(oldImage, patch)).equals(newImage), pair).toBe(true);
      }
    }, 120_000);
  },
);
