import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliError } from './errors.js';
import { parseReleaseDescription } from './release-description.js';
import { tempDir } from './testing/capture-io.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  await mkdir(join(dir, 'build'));
  await writeFile(join(dir, 'build/app.bin'), 'app');
  await writeFile(join(dir, 'build/radio.bin'), 'radio');
  await writeFile(join(dir, 'class.kek'), '00112233445566778899aabbccddeeff\n');
});
afterEach(() => cleanup());

async function problemsOf(text: string, file = 'release.yaml') {
  try {
    await parseReleaseDescription(text, join(dir, file));
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).code).toBe('CLI_RELEASE_INVALID');
    return (error as CliError).details.problems as Array<{ path: string; message: string }>;
  }
  throw new Error('expected the description to be rejected');
}

describe('parseReleaseDescription', () => {
  it('accepts a multi-component YAML description and resolves paths against its directory', async () => {
    const release = await parseReleaseDescription(
      `
vendor: example.com
class: { id: 1492AF14-2569-5E48-BF42-9B2D51F2AB45 }
version: 1.3.0-rc.1
sequenceNumber: 42
text: { description: Thermostat firmware }
components:
  - { name: app, id: ["00"], image: build/app.bin, slot: 1, uri: "https://fw.example.com/a.bin" }
  - id: ["6D61696E", "01"]
    image: build/radio.bin
    text: { modelName: Radio }
    encryption: { algorithm: A128GCM, recipients: [{ alg: A128KW, key: class.kek }] }
`,
      join(dir, 'release.yaml'),
    );
    expect(release).toEqual({
      vendor: { name: 'example.com' },
      class: { id: '1492af14-2569-5e48-bf42-9b2d51f2ab45' },
      version: '1.3.0-rc.1',
      sequenceNumber: 42,
      text: { description: 'Thermostat firmware' },
      components: [
        {
          name: 'app',
          id: ['00'],
          image: join(dir, 'build/app.bin'),
          slot: 1,
          uri: 'https://fw.example.com/a.bin',
        },
        {
          name: 'radio.bin',
          id: ['6d61696e', '01'],
          image: join(dir, 'build/radio.bin'),
          text: { modelName: 'Radio' },
          encryption: {
            algorithm: 'A128GCM',
            recipients: [{ alg: 'A128KW', keyFile: join(dir, 'class.kek') }],
          },
        },
      ],
    });
  });

  it('accepts JSON, defaults the single component id to ["00"] and the sequence number to auto', async () => {
    const release = await parseReleaseDescription(
      JSON.stringify({
        vendor: { name: 'example.com' },
        class: 'm',
        version: '2.0.0',
        components: [{ image: 'build/app.bin' }],
      }),
      join(dir, 'release.json'),
    );
    expect(release.sequenceNumber).toBe('auto');
    expect(release.components[0]).toMatchObject({ id: ['00'], name: 'app.bin' });
  });

  it('reports every problem at once, each with its path', async () => {
    const problems = await problemsOf(`
vendor: { name: a, id: b }
version: one
sequenceNumber: -1
colour: blue
components:
  - image: build/missing.bin
    slot: 999
    uri: not a uri
  - id: ["zz"]
    image: build/app.bin
    encryption: { algorithm: DES, recipients: [{ alg: RSA, key: nope.kek }] }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: 'colour', message: expect.stringMatching(/unknown field/) },
        { path: 'vendor', message: 'needs exactly one of name or id' },
        { path: 'class', message: 'is required' },
        { path: 'version', message: 'must be a semantic version such as 1.2.3' },
        { path: 'sequenceNumber', message: expect.stringMatching(/integer/) },
        { path: 'components[0].id', message: 'is required when there are several components' },
        { path: 'components[0].slot', message: 'must be an integer from 0 to 255' },
        { path: 'components[0].uri', message: expect.stringMatching(/absolute URI/) },
        { path: 'components[1].id', message: expect.stringMatching(/hex byte strings/) },
        { path: 'components[1].encryption.algorithm', message: expect.stringMatching(/A128CTR/) },
        {
          path: 'components[1].encryption.recipients[0].alg',
          message: expect.stringMatching(/A128KW/),
        },
        // Files are checked even for components with other problems.
        {
          path: 'components[0].image',
          message: expect.stringMatching(/file not found: .*missing\.bin/),
        },
        {
          path: 'components[1].encryption.recipients[0].key',
          message: expect.stringMatching(/file not found: .*nope\.kek/),
        },
      ]),
    );
    expect(problems).toHaveLength(13);
  });

  it('reports missing image and key files', async () => {
    const problems = await problemsOf(`
vendor: v
class: c
version: 1.0.0
components:
  - image: build/nope.bin
    encryption: { recipients: [{ alg: A128KW, key: missing.kek }] }
`);
    expect(problems).toEqual([
      { path: 'components[0].image', message: `file not found: ${join(dir, 'build/nope.bin')}` },
      {
        path: 'components[0].encryption.recipients[0].key',
        message: `file not found: ${join(dir, 'missing.kek')}`,
      },
    ]);
  });

  it('rejects duplicate component ids', async () => {
    const problems = await problemsOf(`
vendor: v
class: c
version: 1.0.0
components:
  - { id: ["00"], image: build/app.bin }
  - { id: ["00"], image: build/radio.bin }
`);
    expect(problems).toEqual([
      { path: 'components[1].id', message: 'duplicates the id of components[0]' },
    ]);
  });

  it.each([
    ['broken YAML', 'vendor: [unclosed', 'release.yaml', /YAML/],
    ['duplicate keys', 'vendor: a\nvendor: b\n', 'release.yaml', /unique/i],
    [
      'an alias bomb',
      `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n`,
      'release.yaml',
      /alias/i,
    ],
    ['broken JSON', '{"vendor": ', 'release.json', /JSON/],
    ['an unknown YAML tag', 'vendor: !shell rm -rf /\n', 'release.yaml', /YAML: .*tag/i],
    ['several YAML documents', 'vendor: a\n---\nvendor: b\n', 'release.yaml', /YAML: .*document/i],
    ['a scalar document', '42', 'release.yaml', /mapping/],
  ])('rejects %s as CLI_RELEASE_INVALID', async (_name, text, file, pattern) => {
    const problems = await problemsOf(text, file);
    expect(problems.map((p) => p.message).join(' ')).toMatch(pattern);
  });
});
