import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CliError } from './errors.js';
import { parseReleaseDescription } from './release-description.js';
import { tempDir } from './testing/capture-io.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeFile(join(dir, 'app.bin'), 'x');
});
afterAll(() => cleanup());

// Anything the parser can be given either parses or fails with CLI_RELEASE_INVALID: no other
// exception may escape to the user.
async function outcome(text: string, file: string): Promise<'ok' | 'invalid'> {
  try {
    await parseReleaseDescription(text, join(dir, file));
    return 'ok';
  } catch (error) {
    if (error instanceof CliError && error.code === 'CLI_RELEASE_INVALID') return 'invalid';
    throw error;
  }
}

const scalar = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('app.bin', '1.2.3', 'example.com', ['00'], 'A128KW', 'auto'),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(
      fc.constantFrom(
        'vendor',
        'class',
        'version',
        'components',
        'image',
        'id',
        'slot',
        'uri',
        'encryption',
        'recipients',
        'alg',
        'key',
        'text',
        'name',
        'x',
      ),
      tie('v'),
      { maxKeys: 5 },
    ),
  ),
})).v;

describe('release description parser (fuzz)', () => {
  it('answers random structures, YAML and JSON, only with success or CLI_RELEASE_INVALID', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(value, fc.boolean(), async (doc, asJson) => {
        runs++;
        const text = asJson ? (JSON.stringify(doc) ?? 'null') : stringify(doc);
        expect(['ok', 'invalid']).toContain(await outcome(text, asJson ? 'r.json' : 'r.yaml'));
      }),
      { numRuns: 1500 },
    );
    expect(runs).toBe(1500);
  });

  it('answers random text and mutated descriptions only with success or CLI_RELEASE_INVALID', async () => {
    const valid =
      'vendor: example.com\nclass: c\nversion: 1.2.3\ncomponents:\n  - { image: app.bin, slot: 1 }\n';
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc
            .tuple(fc.nat(valid.length), fc.nat(valid.length), fc.string({ maxLength: 8 }))
            .map(
              ([a, b, insert]) =>
                valid.slice(0, Math.min(a, b)) + insert + valid.slice(Math.max(a, b)),
            ),
        ),
        async (text) => {
          expect(['ok', 'invalid']).toContain(await outcome(text, 'r.yaml'));
        },
      ),
      { numRuns: 1500 },
    );
  });
});
