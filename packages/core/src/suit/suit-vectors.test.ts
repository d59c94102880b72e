import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.js';
import { coseKeyToKeyObject } from '../keys/cose-key.js';
import { decodeEnvelope } from './decode-envelope.js';
import { suitVectors } from './suit-vectors.js';
import { verifyEnvelope } from './verify-envelope.js';

const { index, read } = suitVectors;
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof CoreError) return error.code;
    throw error;
  }
  return 'OK';
}

/** Every file the index names (envelopes, encryption infos, payloads, key files). */
function indexedFiles(): string[] {
  return [
    ...index.envelopes.map((v) => v.file),
    ...index.encryptedPayloads.flatMap((v) => [v.info, v.payload]),
    ...Object.values(index.keys).flatMap((k) => (k.pem ? [k.pem] : [])),
  ];
}

describe('the SUIT vector index (testdata/suit-vectors/index.json)', () => {
  it('lists every fixture file in the folder, and every file it lists exists', () => {
    const onDisk = [
      ...readdirSync(suitVectors.dir).filter((f) => f.endsWith('.cbor') || f.endsWith('.bin')),
      ...readdirSync(new URL('keys/', suitVectors.dir)).map((f) => `keys/${f}`),
    ].sort();
    const listed = [...new Set(indexedFiles())].sort();
    expect(listed).toEqual(onDisk);
    expect(listed).toHaveLength(indexedFiles().length); // no file listed twice
  });

  it('holds no file besides the fixtures, the index and the provenance note', () => {
    const others = readdirSync(suitVectors.dir).filter(
      (f) => !/\.(cbor|bin)$/.test(f) && f !== 'keys',
    );
    expect(others.sort()).toEqual(['PROVENANCE.md', 'index.json']);
  });

  it('names only keys and sources it defines', () => {
    for (const v of index.envelopes) {
      expect(index.keys, v.file).toHaveProperty([v.verifyWith]);
      expect(index.sources, v.file).toHaveProperty([v.source]);
    }
    for (const v of index.encryptedPayloads) {
      expect(index.keys, v.id).toHaveProperty([v.decryptWith]);
      expect(index.sources, v.id).toHaveProperty([v.source]);
    }
  });

  it('indexes 30 authentic envelopes, 3 negatives and 4 encrypted payloads', () => {
    const verdicts = index.envelopes.map((v) => v.expect.verdict);
    expect(verdicts.filter((v) => v === 'authentic')).toHaveLength(30);
    expect(verdicts.filter((v) => v === 'rejected')).toHaveLength(3);
    expect(index.encryptedPayloads).toHaveLength(4);
  });

  it('gives each PEM key the same public key as its COSE_Key', () => {
    for (const [name, entry] of Object.entries(index.keys)) {
      if (!entry.pem) continue;
      const fromCose = coseKeyToKeyObject(suitVectors.coseKey(name), 'public');
      expect(fromCose.export({ format: 'pem', type: 'spki' }), name).toBe(
        suitVectors.key(name).export({ format: 'pem', type: 'spki' }),
      );
    }
  });
});

describe('SUIT envelope vectors', () => {
  for (const v of index.envelopes) {
    const expectation = v.expect;
    if (expectation.verdict === 'authentic') {
      it(`${v.file} verifies with ${v.verifyWith} and decodes to its index entry`, () => {
        const bytes = read(v.file);
        expect(sha256(bytes)).toBe(v.sha256);
        const summary = verifyEnvelope(bytes, { keys: [{ key: suitVectors.key(v.verifyWith) }] });
        expect(summary.signers).toHaveLength(1);
        expect(summary.sequenceNumber).toBe(expectation.sequenceNumber);
        expect(summary.components.map((c) => c.id.map(hex))).toEqual(expectation.components);
        expect(summary.severedMembers).toEqual(expectation.severed);
      });
    } else {
      it(`${v.file} is rejected with ${expectation.code}`, () => {
        const bytes = read(v.file);
        expect(sha256(bytes)).toBe(v.sha256);
        expect(
          codeOf(() => verifyEnvelope(bytes, { keys: [{ key: suitVectors.key(v.verifyWith) }] })),
        ).toBe(expectation.code);
      });
    }
  }

  it('rejects the dependency example when checked with the other (wrong) P-256 key', () => {
    const bytes = read('enc-esdh-dependency.cbor');
    expect(
      codeOf(() => verifyEnvelope(bytes, { keys: [{ key: suitVectors.key('example-p256') }] })),
    ).toBe('MANIFEST_SIGNATURE_INVALID');
  });

  it('accepts the COSE_Key form of each published public key as well as the PEM', () => {
    const cose = coseKeyToKeyObject(suitVectors.coseKey('example-p256'), 'public');
    expect(
      verifyEnvelope(read('mspec-example0.cbor'), { keys: [{ key: cose }] }).signers,
    ).toHaveLength(1);
  });

  it('exposes the encryption-info bytes of the encryption examples', () => {
    for (const file of [
      'enc-aeskw-write-hmac.cbor',
      'enc-esdh-write-esp256.cbor',
      'enc-aeskw-fetch-copy-hmac.cbor',
    ]) {
      const envelope = decodeEnvelope(read(file));
      const commands = envelope.manifest.install!.value!.commands;
      const infos = commands.flatMap((c) =>
        c.kind === 'parameters' && c.parameters.encryptionInfo ? [c.parameters.encryptionInfo] : [],
      );
      expect(infos).toHaveLength(1);
      expect(infos[0]![0]).toBe(0xd8); // tag 96 (COSE_Encrypt): d8 60
      expect(infos[0]![1]).toBe(0x60);
    }
  });

  it('lists both images of the A/B example in the summary (every try-each alternative)', () => {
    const summary = verifyEnvelope(read('mspec-example3.cbor'), {
      keys: [{ key: suitVectors.key('example-p256') }],
    });
    const payloads = summary.components[0]!.payloads.map((p) => [
      p.uri,
      p.slot,
      p.size,
      hex(p.digest!.bytes).slice(0, 8),
    ]);
    expect(payloads).toEqual([
      ['http://example.com/file1.bin', 0, 34768, '00112233'],
      ['http://example.com/file2.bin', 1, 76834, '01234567'],
    ]);
  });

  it('reports the text of example 2 in its language', () => {
    const summary = verifyEnvelope(read('mspec-example2-full.cbor'), {
      keys: [{ key: suitVectors.key('example-p256') }],
    });
    const en = summary.text!.languages.get('en-US')!;
    expect(en.fields.manifestDescription).toMatch(/^## Example 2/);
    expect(en.components[0]!.fields.vendorDomain).toBe('arm.com');
  });
});
