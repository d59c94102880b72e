import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('..', import.meta.url));

/** Every `.ts` file under src that ships (not a test, not under src/testing/). */
async function shippedFiles(dir = src): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (full !== path.join(src, 'testing') && entry.name !== 'testdata')
        out.push(...(await shippedFiles(full)));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

// Test helpers live in src/testing/ (left out of the package's files); shipped code never
// imports them, nor vitest.
describe('shipped server code', () => {
  it('imports neither vitest nor src/testing', async () => {
    const offenders: string[] = [];
    for (const file of await shippedFiles()) {
      const text = await readFile(file, 'utf8');
      if (/from '(vitest|[./]*\/testing\/[^']*)'/.test(text))
        offenders.push(path.relative(src, file));
    }
    expect(offenders).toEqual([]);
  });

  it('has no test helper outside src/testing (contract suites and fixtures included)', async () => {
    const misplaced = (await shippedFiles())
      .filter((file) => /(contract|fixtures?)\.ts$/.test(file))
      .map((file) => path.relative(src, file));
    expect(misplaced).toEqual([]);
  });
});
