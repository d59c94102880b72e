import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { type RunResult, run, tempDir } from '../testing/capture-io.js';

let dir: string;
let cleanup: () => Promise<void>;
const app = randomBytes(40_000);
const radio = randomBytes(10_000);

const RELEASE = `
vendor: example.com
class: thermostat-v2
version: 1.3.0
text: { updateDescription: Fixes the relay timing }
components:
  - { name: app, id: ["00"], image: app.bin, slot: 1, uri: "https://fw.example.com/app.bin" }
  - name: radio
    id: ["01"]
    image: radio.bin
    encryption: { algorithm: A128GCM, recipients: [{ alg: A128KW, key: class.kek }] }
`;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeFile(join(dir, 'app.bin'), app);
  await writeFile(join(dir, 'radio.bin'), radio);
  await writeFile(join(dir, 'release.yaml'), RELEASE);
  for (const [alg, name] of [
    ['es256', 'release'],
    ['ed25519', 'deploy'],
    ['es256', 'other'],
  ]) {
    await run(dir, ['keys', 'generate', '--alg', alg!, '--out', name!]);
  }
  await run(dir, ['keys', 'generate', '--alg', 'a128kw', '--out', 'class']);
});
afterEach(() => cleanup());

async function createSigned(): Promise<void> {
  expect((await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'r.suit'])).code).toBe(0);
  expect((await run(dir, ['manifest', 'sign', 'r.suit', '--key', 'release.key'])).code).toBe(0);
}

function expectOneLineError(r: RunResult, exitCode: number, code: string): void {
  expect(r.code, r.stderr).toBe(exitCode);
  expect(r.stderr).toMatch(new RegExp(`^updraft: .*\\[${code}\\]\\n$`));
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('manifest create', () => {
  it('builds an unsigned envelope with hashed and encrypted components', async () => {
    const r = await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'r.suit', '--json']);
    expect(r.code, r.stdout).toBe(0);
    const out = r.json<{ sequenceNumber: number; components: Array<Record<string, unknown>> }>();
    expect(out).toMatchObject({ signed: false, version: '1.3.0', sequenceNumber: 10000300000999 });
    expect(out.components[0]).toMatchObject({ name: 'app', id: '00', size: app.length, slot: 1 });
    expect(out.components[1]).toMatchObject({
      name: 'radio',
      payload: join(dir, 'radio.enc'),
      encryption: { algorithm: 'A128GCM', recipients: 1 },
    });
    // The encrypted payload decrypts back to the image with the class KEK.
    const inspect = (await run(dir, ['manifest', 'inspect', 'r.suit', '--json'])).json<{
      components: Array<{ encrypted: boolean }>;
      signatures: unknown[];
    }>();
    expect(inspect.signatures).toEqual([]);
    expect(inspect.components.map((c) => c.encrypted)).toEqual([false, true]);
  });

  it('writes an encrypted payload that decrypts with the encryption info taken from the envelope', async () => {
    await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'r.suit']);
    const r = await run(dir, [
      'decrypt',
      'radio.enc',
      '--envelope',
      'r.suit',
      '--key',
      'class.kek',
      '--out',
      'radio.out',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(join(dir, 'radio.out'))).equals(radio)).toBe(true);
    const byId = await run(dir, [
      'decrypt',
      'radio.enc',
      '--envelope',
      'r.suit',
      '--component',
      '814101',
      '--key',
      'class.kek',
      '--out',
      'radio2.out',
    ]);
    expect(byId.code, byId.stderr).toBe(0);
    expectOneLineError(
      await run(dir, [
        'decrypt',
        'radio.enc',
        '--envelope',
        'r.suit',
        '--component',
        '814100',
        '--key',
        'class.kek',
        '--out',
        'x',
      ]),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
    expectOneLineError(
      await run(dir, [
        'decrypt',
        'radio.enc',
        '--envelope',
        'r.suit',
        '--info',
        'r.suit',
        '--key',
        'class.kek',
        '--out',
        'x',
      ]),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
  });

  it('gives the same bytes for the same description (deterministic)', async () => {
    await writeFile(
      join(dir, 'plain.yaml'),
      'vendor: v.example\nclass: c\nversion: 1.0.0\ncomponents: [{ image: app.bin }]\n',
    );
    await run(dir, ['manifest', 'create', 'plain.yaml', '--out', 'a.suit']);
    await run(dir, ['manifest', 'create', 'plain.yaml', '--out', 'b.suit']);
    expect((await readFile(join(dir, 'a.suit'))).equals(await readFile(join(dir, 'b.suit')))).toBe(
      true,
    );
  });

  it('refuses to overwrite an existing envelope or encrypted payload without --force', async () => {
    expect((await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'r.suit'])).code).toBe(
      0,
    );
    const first = await readFile(join(dir, 'r.suit'));
    const payload = await readFile(join(dir, 'radio.enc'));
    await writeFile(join(dir, 'app.bin'), randomBytes(40_000));
    const again = await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'r.suit']);
    expectOneLineError(again, EXIT_CODES.input, 'CLI_FILE_EXISTS');
    expect(again.stderr).toContain(join(dir, 'r.suit'));
    expect(await readFile(join(dir, 'r.suit'))).toEqual(first);
    // A new envelope name, but the encrypted payload beside it exists: still nothing written.
    const other = await run(dir, ['manifest', 'create', 'release.yaml', '--out', 's.suit']);
    expectOneLineError(other, EXIT_CODES.input, 'CLI_FILE_EXISTS');
    await expect(readFile(join(dir, 's.suit'))).rejects.toThrow();
    expect(await readFile(join(dir, 'radio.enc'))).toEqual(payload);
    const forced = await run(dir, [
      'manifest',
      'create',
      'release.yaml',
      '--out',
      'r.suit',
      '--force',
    ]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await readFile(join(dir, 'r.suit'))).not.toEqual(first);
  });

  it('reports every problem of a bad description with paths, and writes nothing', async () => {
    await writeFile(
      join(dir, 'bad.yaml'),
      'vendor: v\nversion: x\ncomponents: [{ image: nope.bin, slot: -1 }]\n',
    );
    const r = await run(dir, ['manifest', 'create', 'bad.yaml', '--out', 'r.suit']);
    expect(r.code).toBe(EXIT_CODES.input);
    expect(r.stderr.split('\n')[0]).toMatch(
      /bad\.yaml: 4 problems in the release description \[CLI_RELEASE_INVALID\]$/,
    );
    expect(r.stderr).toMatch(/ {2}- class: is required\n/);
    expect(r.stderr).toMatch(/ {2}- components\[0\]\.image: file not found: .*nope\.bin\n/);
    await expect(readFile(join(dir, 'r.suit'))).rejects.toThrow();
  });

  it('asks for an explicit sequence number when the version cannot map to one', async () => {
    await writeFile(
      join(dir, 'pre.yaml'),
      'vendor: v\nclass: c\nversion: 1.0.0-beta\ncomponents: [{ image: app.bin }]\n',
    );
    const r = await run(dir, ['manifest', 'create', 'pre.yaml', '--out', 'r.suit', '--json']);
    expect(r.code).toBe(EXIT_CODES.input);
    expect(r.json()).toMatchObject({
      error: { code: 'CLI_RELEASE_INVALID', details: { problems: [{ path: 'sequenceNumber' }] } },
    });
  });

  it('reports a missing description file and broken YAML', async () => {
    expectOneLineError(
      await run(dir, ['manifest', 'create', 'nope.yaml', '--out', 'r.suit']),
      EXIT_CODES.input,
      'CLI_FILE_NOT_FOUND',
    );
    await writeFile(join(dir, 'broken.yaml'), 'vendor: [\n');
    const r = await run(dir, ['manifest', 'create', 'broken.yaml', '--out', 'r.suit']);
    expect(r.code).toBe(EXIT_CODES.input);
    expect(r.stderr).toMatch(/ {2}- \(file\): YAML: /);
  });
});

describe('manifest sign', () => {
  it('signs, and adds a second signature that keeps the first', async () => {
    await createSigned();
    const second = await run(dir, [
      'manifest',
      'sign',
      'r.suit',
      '--key',
      'deploy.key',
      '--out',
      'r2.suit',
      '--json',
    ]);
    expect(second.code).toBe(0);
    expect(second.json()).toMatchObject({ alg: 'EdDSA', signatures: 2 });
    const inspect = (await run(dir, ['manifest', 'inspect', 'r2.suit', '--json'])).json<{
      signatures: Array<{ alg: string }>;
    }>();
    expect(inspect.signatures.map((s) => s.alg)).toEqual(['ES256', 'EdDSA']);
    for (const trust of ['release.pub', 'deploy.pub']) {
      expect((await run(dir, ['manifest', 'verify', 'r2.suit', '--trust', trust])).code).toBe(0);
    }
    const both = (
      await run(dir, [
        'manifest',
        'verify',
        'r2.suit',
        '--trust',
        'release.pub',
        '--trust',
        'deploy.pub',
        '--json',
      ])
    ).json<{ signers: unknown[] }>();
    expect(both.signers).toHaveLength(2);
  });

  it('signs with an external signer command (DER ECDSA output) and self-checks it', async () => {
    await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'r.suit']);
    await writeFile(
      join(dir, 'signer.mjs'),
      `import { sign } from 'node:crypto'; import { readFileSync } from 'node:fs';
       const data = readFileSync(0); const key = readFileSync(process.argv[2], 'utf8');
       if (process.env.UPDRAFT_SIGN_ALG !== '-7' || process.env.UPDRAFT_SIGN_KID.length !== 64) process.exit(9);
       process.stdout.write(sign('sha256', data, { key, dsaEncoding: 'der' }));`,
    );
    const r = await run(
      dir,
      [
        'manifest',
        'sign',
        'r.suit',
        '--signer-command',
        `"${process.execPath}" signer.mjs release.key`,
        '--public-key',
        'release.pub',
        '--json',
      ],
      { env: { PATH: process.env.PATH ?? '' } },
    );
    expect(r.code, r.stdout).toBe(0);
    expect((await run(dir, ['manifest', 'verify', 'r.suit', '--trust', 'release.pub'])).code).toBe(
      0,
    );
    // A signer that signs with another key than it claims is caught before anything is written.
    const before = await readFile(join(dir, 'r.suit'));
    const wrong = await run(dir, [
      'manifest',
      'sign',
      'r.suit',
      '--signer-command',
      `"${process.execPath}" signer.mjs other.key`,
      '--public-key',
      'release.pub',
    ]);
    expectOneLineError(wrong, EXIT_CODES.signer, 'CLI_SIGNER_FAILED');
    expect((await readFile(join(dir, 'r.suit'))).equals(before)).toBe(true);
  });

  it.each([
    ['exits non-zero', 'echo "hsm locked" >&2; exit 3', /exited with code 3: hsm locked/],
    ['prints garbage', 'cat >/dev/null; echo nope', /no usable signature/],
    ['does not exist', 'definitely-not-a-command-xyz', /exited with code 127/],
  ])('fails with CLI_SIGNER_FAILED when the signer %s', async (_name, command, pattern) => {
    await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'r.suit']);
    const r = await run(
      dir,
      ['manifest', 'sign', 'r.suit', '--signer-command', command, '--public-key', 'release.pub'],
      { env: { PATH: process.env.PATH ?? '' } },
    );
    expectOneLineError(r, EXIT_CODES.signer, 'CLI_SIGNER_FAILED');
    expect(r.stderr).toMatch(pattern);
  });

  it('rejects bad key arguments', async () => {
    await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'r.suit']);
    expectOneLineError(
      await run(dir, ['manifest', 'sign', 'r.suit']),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
    expectOneLineError(
      await run(dir, ['manifest', 'sign', 'r.suit', '--key', 'release.pub']),
      EXIT_CODES.input,
      'CLI_KEY_INVALID',
    );
    expectOneLineError(
      await run(dir, ['manifest', 'sign', 'r.suit', '--key', 'class.kek']),
      EXIT_CODES.input,
      'CLI_KEY_INVALID',
    );
    expectOneLineError(
      await run(dir, ['manifest', 'sign', 'r.suit', '--key', 'release.key', '--alg', 'ed25519']),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
    expectOneLineError(
      await run(dir, ['manifest', 'sign', 'r.suit', '--signer-command', 'true']),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
    const key = await readFile(join(dir, 'release.key'), 'utf8');
    await writeFile(join(dir, 'corrupt.key'), key.replace(/[A-Za-z]{8}/, 'AAAAAAAA'));
    expectOneLineError(
      await run(dir, ['manifest', 'sign', 'r.suit', '--key', 'corrupt.key']),
      EXIT_CODES.input,
      'CLI_KEY_INVALID',
    );
  });

  it('refuses to sign something that is not an envelope', async () => {
    await writeFile(join(dir, 'junk.suit'), randomBytes(100));
    expectOneLineError(
      await run(dir, ['manifest', 'sign', 'junk.suit', '--key', 'release.key']),
      EXIT_CODES.malformed,
      'MANIFEST_MALFORMED',
    );
  });
});

describe('manifest verify', () => {
  it('prints the install plan for a device that fits', async () => {
    await createSigned();
    const r = await run(dir, [
      'manifest',
      'verify',
      'r.suit',
      '--trust',
      'release.pub',
      '--vendor-id',
      'example.com',
      '--class-id',
      'thermostat-v2',
      '--installed-seq',
      '7',
      '--image',
      'app.bin',
      '--image',
      'radio.bin',
      '--json',
    ]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json()).toMatchObject({
      verified: true,
      device: { identityFrom: 'options' },
      components: [
        { index: 0, id: '814100', action: 'fetch', slot: 1, size: app.length, encrypted: false },
        { index: 1, id: '814101', action: 'fetch', size: radio.length, encrypted: true },
      ],
      imagesChecked: [{ component: '814100' }, { component: '814101' }],
    });
    const human = await run(dir, ['manifest', 'verify', 'r.suit', '--trust', 'release.pub']);
    expect(human.stdout).toMatch(/verified\n/);
    expect(human.stdout).toMatch(
      /\[0\] component 814100: fetch 40000 bytes into slot 1 from https:\/\/fw\.example\.com\/app\.bin/,
    );
    expect(human.stdout).toMatch(/taken from the manifest/);
  });

  it.each([
    [['--trust', 'other.pub'], EXIT_CODES.rejected, 'MANIFEST_UNTRUSTED_KEY'],
    [
      ['--trust', 'release.pub', '--installed-seq', '10000300000999'],
      EXIT_CODES.rejected,
      'MANIFEST_ROLLBACK',
    ],
    [
      ['--trust', 'release.pub', '--vendor-id', 'example.org', '--class-id', 'thermostat-v2'],
      EXIT_CODES.rejected,
      'MANIFEST_VENDOR_MISMATCH',
    ],
    [
      ['--trust', 'release.pub', '--vendor-id', 'example.com', '--class-id', 'thermostat-v3'],
      EXIT_CODES.rejected,
      'MANIFEST_CLASS_MISMATCH',
    ],
    [
      ['--trust', 'release.pub', '--image', 'radio.bin'],
      EXIT_CODES.rejected,
      'MANIFEST_DIGEST_MISMATCH',
    ],
    [['--trust', 'release.pub', '--vendor-id', 'example.com'], EXIT_CODES.usage, 'CLI_USAGE'],
    [['--trust', 'class.kek'], EXIT_CODES.input, 'CLI_KEY_INVALID'],
    [['--trust', 'missing.pub'], EXIT_CODES.input, 'CLI_FILE_NOT_FOUND'],
  ])('rejects with %j', async (extra, exitCode, code) => {
    await createSigned();
    expectOneLineError(await run(dir, ['manifest', 'verify', 'r.suit', ...extra]), exitCode, code);
  });

  it('checks an encrypted payload as the device will: decrypted with --decrypt-key, then digested', async () => {
    await createSigned();
    const base = [
      'manifest',
      'verify',
      'r.suit',
      '--trust',
      'release.pub',
      '--image',
      'app.bin',
      '--image',
      'radio.enc',
    ];
    const r = await run(dir, [...base, '--decrypt-key', 'class.kek', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json<{ imagesChecked: unknown[] }>().imagesChecked).toHaveLength(2);
    // Without the key the ciphertext is taken for the image and does not match.
    expectOneLineError(await run(dir, base), EXIT_CODES.rejected, 'MANIFEST_DIGEST_MISMATCH');
    const ciphertext = await readFile(join(dir, 'radio.enc'));
    ciphertext[7]! ^= 0x10;
    await writeFile(join(dir, 'radio.enc'), ciphertext);
    expectOneLineError(
      await run(dir, [...base, '--decrypt-key', 'class.kek']),
      EXIT_CODES.crypto,
      'MANIFEST_DECRYPTION_FAILED',
    );
  });

  it('verifies several envelopes with a status per file, exiting with the first failure', async () => {
    await createSigned();
    // --force: the encrypted payload beside it was written by createSigned.
    await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'unsigned.suit', '--force']);
    await writeFile(join(dir, 'junk.suit'), randomBytes(50));
    const r = await run(dir, [
      'manifest',
      'verify',
      'r.suit',
      'unsigned.suit',
      'junk.suit',
      'r.suit',
      '--trust',
      'release.pub',
      '--json',
    ]);
    expect(r.code).toBe(EXIT_CODES.rejected);
    const { results } = r.json<{ results: Array<{ ok: boolean; error?: { code: string } }> }>();
    expect(results.map((x) => x.ok)).toEqual([true, false, false, true]);
    expect(results.map((x) => x.error?.code)).toEqual([
      undefined,
      'MANIFEST_UNTRUSTED_KEY',
      'MANIFEST_MALFORMED',
      undefined,
    ]);
    const human = await run(dir, [
      'manifest',
      'verify',
      'r.suit',
      'junk.suit',
      '--trust',
      'release.pub',
    ]);
    expect(human.code).toBe(EXIT_CODES.malformed);
    expect(human.stdout).toMatch(
      /r\.suit: verified \(sequence number 10000300000999\)\n.*junk\.suit: .*\[MANIFEST_MALFORMED\]\n$/,
    );
    expectOneLineError(
      await run(dir, [
        'manifest',
        'verify',
        'r.suit',
        'r.suit',
        '--trust',
        'release.pub',
        '--image',
        'app.bin',
      ]),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
  });

  it('rejects an unsigned envelope', async () => {
    await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'u.suit']);
    expectOneLineError(
      await run(dir, ['manifest', 'verify', 'u.suit', '--trust', 'release.pub']),
      EXIT_CODES.rejected,
      'MANIFEST_UNTRUSTED_KEY',
    );
  });

  it('rejects every single-byte change of a signed envelope outside the unsigned kid with a typed manifest error', async () => {
    await writeFile(
      join(dir, 'one.yaml'),
      'vendor: v.example\nclass: c\nversion: 1.0.0\ncomponents: [{ image: app.bin, uri: "https://x.example/a" }]\n',
    );
    await run(dir, ['manifest', 'create', 'one.yaml', '--out', 's.suit']);
    await run(dir, ['manifest', 'sign', 's.suit', '--key', 'release.key']);
    const original = await readFile(join(dir, 's.suit'));
    const { kid } = (await run(dir, ['keys', 'show', 'release.pub', '--json'])).json<{
      kid: string;
    }>();
    // The kid sits in the COSE unprotected header, which the signature does not cover (RFC 9052):
    // a changed kid only changes which trusted keys are tried, so the envelope may stay valid.
    const kidAt = original.indexOf(Buffer.from(kid, 'hex'));
    expect(kidAt).toBeGreaterThan(0);
    const unprotected = (i: number) => i >= kidAt - 4 && i < kidAt + 32;
    const codes = new Map<string, number>();
    for (let i = 0; i < original.length; i++) {
      const tampered = Buffer.from(original);
      tampered[i]! ^= 0x5a;
      await writeFile(join(dir, 't.suit'), tampered);
      const r = await run(dir, [
        'manifest',
        'verify',
        't.suit',
        '--trust',
        'release.pub',
        '--json',
      ]);
      if (r.code === 0 && unprotected(i)) continue;
      expect([EXIT_CODES.rejected, EXIT_CODES.malformed], `byte ${i}: ${r.stdout}`).toContain(
        r.code,
      );
      const code = r.json<{ error: { code: string } }>().error.code;
      expect(code, `byte ${i}`).toMatch(/^MANIFEST_/);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // Changes land in the signature, the signed digest and the manifest: all three defences fire.
    expect([...codes.keys()]).toEqual(
      expect.arrayContaining(['MANIFEST_SIGNATURE_INVALID', 'MANIFEST_MALFORMED']),
    );
  });
});

describe('manifest inspect', () => {
  it('shows a human view and CBOR diagnostic notation without verifying', async () => {
    await createSigned();
    const r = await run(dir, ['manifest', 'inspect', 'r.suit']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/NOT verified/);
    expect(r.stdout).toMatch(/sign1 ES256 kid [0-9a-f]{64}/);
    expect(r.stdout).toMatch(/CBOR diagnostic notation:\n107\(\{/);
    const j = (await run(dir, ['manifest', 'inspect', 'r.suit', '--json'])).json<
      Record<string, unknown>
    >();
    expect(j).toMatchObject({
      verified: false,
      manifest: { sequenceNumber: 10000300000999 },
      severed: [],
    });
    expect(String(j.diagnostic)).toMatch(/^107\(/);
    expect(j.text).toMatchObject({ en: { updateDescription: 'Fixes the relay timing' } });
  });

  it('rejects a truncated envelope as malformed', async () => {
    await createSigned();
    const bytes = await readFile(join(dir, 'r.suit'));
    await writeFile(join(dir, 'cut.suit'), bytes.subarray(0, bytes.length - 10));
    expectOneLineError(
      await run(dir, ['manifest', 'inspect', 'cut.suit']),
      EXIT_CODES.malformed,
      'MANIFEST_MALFORMED',
    );
  });
});
