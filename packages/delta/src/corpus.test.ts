import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyToBuffer } from './apply.js';
import { diff } from './diff.js';

// Real firmware pairs, pinned in packages/delta/corpus/pairs.tsv and fetched by the script beside
// it (~25 s, network). CI fetches them; a developer machine without the corpus skips this file
// (run the fetch script once to include it).
const corpusDir = process.env.UPDRAFT_CORPUS ?? '/tmp/corpus';
const corpusHome = new URL('../corpus/', import.meta.url);
const fetchScript = fileURLToPath(new URL('fetch-corpus.sh', corpusHome));
const pinnedPairs = [
  ...new Set(
    readFileSync(new URL('pairs.tsv', corpusHome), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'))
      .map((line) => line.split('\t')[0]!),
  ),
];
const inCi = process.env.CI === 'true';
const available = inCi || existsSync(join(corpusDir, 'manifest.tsv'));

describe.skipIf(!available)(
  'corpus round trip (skipped: no corpus at UPDRAFT_CORPUS or /tmp/corpus, not CI)',
  () => {
    beforeAll(async () => {
      if (!existsSync(join(corpusDir, 'manifest.tsv'))) {
        await promisify(execFile)('bash', [fetchScript, corpusDir], { timeout: 290_000 });
      }
    }, 300_000);

    it('has every pinned pair', () => {
      expect(pinnedPairs).toHaveLength(8);
      const fetched = readFileSync(join(corpusDir, 'manifest.tsv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => line.split('\t')[0]);
      expect(fetched).toEqual(pinnedPairs);
    });

    it('restores every corpus pair byte for byte', async () => {
      for (const pair of pinnedPairs) {
        const oldImage = readFileSync(join(corpusDir, pair, 'old.bin'));
        const newImage = readFileSync(join(corpusDir, pair, 'new.bin'));
        const patch = diff(oldImage, newImage);
        expect(patch.length, pair).toBeLessThan(newImage.length);
        expect(Buffer.from(await applyToBuffer(oldImage, patch)).equals(newImage), pair).toBe(true);
      }
    }, 120_000);
  },
);
