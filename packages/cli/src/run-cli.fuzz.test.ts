import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from './exit-codes.js';
import { run, tempDir } from './testing/capture-io.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeFile(join(dir, 'app.bin'), randomBytes(1000));
  await writeFile(join(dir, 'junk'), randomBytes(300));
  await writeFile(
    join(dir, 'r.yaml'),
    'vendor: v\nclass: c\nversion: 1.0.0\ncomponents: [{ image: app.bin }]\n',
  );
  await run(dir, ['keys', 'generate', '--alg', 'es256', '--out', 'k']);
  await run(dir, ['keys', 'generate', '--alg', 'a128kw', '--out', 'c']);
  await run(dir, ['manifest', 'create', 'r.yaml', '--out', 'm.suit']);
  await run(dir, ['manifest', 'sign', 'm.suit', '--key', 'k.key', '--out', 's.suit']);
});
afterAll(() => cleanup());

// Offline commands only (no server, no network), with words, options and files mixed at random.
const words = fc.constantFrom(
  'keys',
  'generate',
  'show',
  'manifest',
  'create',
  'sign',
  'verify',
  'inspect',
  'encrypt',
  'decrypt',
  '--alg',
  'es256',
  'ed25519',
  'a128kw',
  'A128GCM',
  '--out',
  'o1',
  'o2.suit',
  '--key',
  '--trust',
  '--image',
  '--vendor-id',
  '--class-id',
  '--installed-seq',
  '--info',
  '--recipient',
  '--force',
  '--json',
  '-o',
  '-k',
  'k.key',
  'k.pub',
  'c.kek',
  'm.suit',
  's.suit',
  'junk',
  'app.bin',
  'r.yaml',
  'nope',
  '.',
  '',
  '-1',
  '7',
  'example.com',
  '--',
  '--signer-command',
  'false',
  '--public-key',
  '--help',
);

describe('runCli (fuzz)', () => {
  it('never fails with an unexpected error or a stack trace, whatever the command line', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(words, { minLength: 1, maxLength: 9 }), async (argv) => {
        const r = await run(dir, argv, { env: { PATH: process.env.PATH ?? '' } });
        seen.set(r.code, (seen.get(r.code) ?? 0) + 1);
        expect(r.code, `${argv.join(' ')}\n${r.stderr}`).not.toBe(EXIT_CODES.failure);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        if (
          argv.includes('--json') &&
          !argv.includes('--help') &&
          !argv.slice(0, argv.indexOf('--json')).includes('--')
        ) {
          // Exactly one JSON document, success or error.
          expect(() => JSON.parse(r.stdout), `${argv.join(' ')}: ${r.stdout}`).not.toThrow();
        }
      }),
      { numRuns: 400 },
    );
    // The run reached real commands, not only usage errors.
    expect(seen.get(EXIT_CODES.usage)).toBeGreaterThan(0);
    expect([...seen.keys()].some((c) => c !== EXIT_CODES.usage)).toBe(true);
  });
});
