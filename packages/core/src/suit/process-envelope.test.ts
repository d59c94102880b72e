import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, CborTag, type CborValue } from '../cbor/cbor-types.js';
import { createCoseSign1 } from '../cose/cose-sign1.js';
import { createKeySigner } from '../cose/signer.js';
import { CoreError } from '../errors.js';
import { generateSigningKeyPair, publicKeyOf } from '../keys/key-pair.js';
import { createEnvelope, severEnvelope, signEnvelope } from './create-envelope.js';
import {
  classId,
  image,
  imageDigest,
  radioImage,
  TESTDATA,
  testKey,
  vendorId,
} from './ed25519-test-vectors.js';
import { type DeviceIdentity, type ProcessOptions, processEnvelope } from './process-envelope.js';
import { computeBstrWrappedDigest, createDigestVerifier } from './suit-digest.js';
import { decodeSuitReport, encodeSuitReport, reportFromError } from './suit-report.js';
import { suitVectors } from './suit-vectors.js';
import { verifyEnvelope } from './verify-envelope.js';

const readPublished = suitVectors.read;
const readTestdata = (f: string) => new Uint8Array(readFileSync(new URL(f, TESTDATA)));
const exampleKey = suitVectors.key('example-p256');
const edPublic = publicKeyOf(testKey());

const device: DeviceIdentity = {
  vendorId,
  classId,
  components: [
    { id: '814100', sequenceNumber: 5, slot: 1 },
    { id: '8145726164696f', sequenceNumber: 5 },
  ],
};
const arm: DeviceIdentity = {
  vendorId: 'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
  classId: '1492af14-2569-5e48-bf42-9b2d51f2ab45',
  components: [{ id: '814100', sequenceNumber: 0, slot: 1 }, { id: '814101' }, { id: '814102' }],
};

function codeOf(fn: () => unknown): { code: string; details: Readonly<Record<string, unknown>> } {
  try {
    fn();
  } catch (error) {
    if (error instanceof CoreError) return { code: error.code, details: error.details };
    throw error;
  }
  return { code: 'OK', details: {} };
}

const edTrust = { keys: [{ key: edPublic }] };

/** Signs an arbitrary manifest map (to test what the builder would never produce). */
async function envelopeOf(manifest: CborMap): Promise<Uint8Array> {
  const manifestBytes = encodeCbor(manifest);
  const d = computeBstrWrappedDigest(manifestBytes);
  const digestBytes = encodeCbor([d.algorithm, d.bytes]);
  const block = await createCoseSign1(digestBytes, createKeySigner(testKey()));
  return encodeCbor(
    new CborTag(107, CborMap.of([2, encodeCbor([digestBytes, block])], [3, manifestBytes])),
  );
}

function manifestWith(install: CborValue[], extra: [CborValue, CborValue][] = []): CborMap {
  const shared = [
    20,
    CborMap.of(
      [1, vendorId],
      [2, classId],
      [3, encodeCbor([-16, imageDigest])],
      [14, image.length],
    ),
    1,
    15,
    2,
    15,
  ];
  return new CborMap([
    [1, 1],
    [2, 6],
    [3, encodeCbor(CborMap.of([2, [[new Uint8Array([0])]]], [4, encodeCbor(shared)]))],
    [20, encodeCbor(install)],
    ...extra,
  ]);
}

describe('processEnvelope', () => {
  it('returns the install plan of a valid update', () => {
    const plan = processEnvelope(readTestdata('ed25519-single.cbor'), { trust: edTrust, device });
    expect(plan.sequenceNumber).toBe(10000400000999);
    expect(plan.components).toHaveLength(1);
    const c = plan.components[0]!;
    expect(c).toMatchObject({
      idHex: '814100',
      action: 'fetch',
      size: image.length,
      integrated: false,
      slot: 1,
    });
    expect(c.uri).toBe('https://updates.updraft.example/sensor-x/1.4.0.bin');
    expect(Buffer.from(c.digest.bytes).equals(imageDigest)).toBe(true);
    expect(plan.text?.languages.get('en')?.fields.updateDescription).toBe('Release 1.4.0');
    expect(plan.signers[0]!.alg).toBe(-8);
  });

  it('plans an integrated payload and a slot-bound component', () => {
    const plan = processEnvelope(readTestdata('ed25519-two-components.cbor'), {
      trust: edTrust,
      device: {
        ...device,
        components: device.components.map((c) => ({ ...c, sequenceNumber: 1 })),
      },
    });
    expect(plan.components.map((c) => [c.idHex, c.slot, c.integrated])).toEqual([
      ['814100', 1, false],
      ['8145726164696f', undefined, true],
    ]);
    expect(Buffer.from(plan.components[1]!.payload!).equals(radioImage)).toBe(true);
    expect(plan.invoke).toBe(true);
  });

  const cases: [string, Partial<ProcessOptions>, string][] = [
    [
      'another vendor',
      { device: { ...device, vendorId: new Uint8Array(16) } },
      'MANIFEST_VENDOR_MISMATCH',
    ],
    [
      'another class',
      { device: { ...device, classId: new Uint8Array(16) } },
      'MANIFEST_CLASS_MISMATCH',
    ],
    [
      'an older sequence number',
      { device: { ...device, components: [{ id: '814100', sequenceNumber: 10000400000999 }] } },
      'MANIFEST_ROLLBACK',
    ],
    [
      'a key that is not trusted',
      { trust: { keys: [{ key: generateSigningKeyPair('ed25519').publicKey }] } },
      'MANIFEST_UNTRUSTED_KEY',
    ],
    [
      'a P-256 trust store only',
      { trust: { keys: [{ key: exampleKey }] } },
      'MANIFEST_UNTRUSTED_KEY',
    ],
    [
      'a device without the component',
      { device: { ...device, components: [{ id: '814101' }] } },
      'MANIFEST_COMPONENT_UNKNOWN',
    ],
    [
      'two required signers and one signature',
      { trust: { keys: [{ key: edPublic }], policy: { minSigners: 2 } } },
      'MANIFEST_UNTRUSTED_KEY',
    ],
  ];
  for (const [what, options, code] of cases) {
    it(`rejects ${what} with ${code}`, () => {
      const result = codeOf(() =>
        processEnvelope(readTestdata('ed25519-single.cbor'), {
          trust: edTrust,
          device,
          ...options,
        }),
      );
      expect(result.code).toBe(code);
    });
  }

  it('names the failing command when a slot condition fails', () => {
    const result = codeOf(() =>
      processEnvelope(readTestdata('ed25519-two-components.cbor'), {
        trust: edTrust,
        device: { ...device, components: [{ id: '814100', slot: 0 }, { id: '8145726164696f' }] },
      }),
    );
    expect(result.code).toBe('MANIFEST_CONDITION_FAILED');
    expect(result.details).toMatchObject({
      section: 'shared-sequence',
      command: 'condition-component-slot',
      componentIndex: 0,
    });
  });

  it('requires the release AND the deployment signature when the policy says so', async () => {
    const deployment = generateSigningKeyPair('es256');
    const twice = await signEnvelope(
      readTestdata('ed25519-single.cbor'),
      createKeySigner(deployment.privateKey),
    );
    const trust = {
      keys: [
        { key: edPublic, role: 'release' },
        { key: deployment.publicKey, role: 'deployment' },
      ],
      policy: { requiredRoles: ['release', 'deployment'] },
    };
    const plan = processEnvelope(twice, { trust, device });
    expect(plan.signers.map((s) => s.role).sort()).toEqual(['deployment', 'release']);
    expect(
      codeOf(() => processEnvelope(readTestdata('ed25519-single.cbor'), { trust, device })).code,
    ).toBe('MANIFEST_UNTRUSTED_KEY');
  });

  it('picks the A/B image for the slot the device installs into (try-each)', () => {
    const slot1 = processEnvelope(readPublished('mspec-example3.cbor'), {
      trust: { keys: [{ key: exampleKey }] },
      device: arm,
    });
    expect(slot1.components.map((c) => [c.uri, c.slot, c.size])).toEqual([
      ['http://example.com/file2.bin', 1, 76834],
    ]);
    const slot0 = processEnvelope(readPublished('mspec-example3.cbor'), {
      trust: { keys: [{ key: exampleKey }] },
      device: { ...arm, components: [{ id: '814100', slot: 0 }] },
    });
    expect(slot0.components.map((c) => [c.uri, c.slot, c.size])).toEqual([
      ['http://example.com/file1.bin', 0, 34768],
    ]);
  });

  it('plans fetch to external storage then copy (example 4)', () => {
    const plan = processEnvelope(readPublished('mspec-example4.cbor'), {
      trust: { keys: [{ key: exampleKey }] },
      device: arm,
    });
    expect(
      plan.components.map((c) => [c.idHex, c.action, c.uri ?? c.sourceComponent?.idHex]),
    ).toEqual([
      ['814102', 'fetch', 'http://example.com/file.bin'],
      ['814100', 'copy', '814102'],
    ]);
  });

  it('reports a severed install sequence as missing', () => {
    const result = codeOf(() =>
      processEnvelope(readPublished('mspec-example2-severed.cbor'), {
        trust: { keys: [{ key: exampleKey }] },
        device: arm,
      }),
    );
    expect(result).toMatchObject({
      code: 'MANIFEST_MEMBER_MISSING',
      details: { member: 'install' },
    });
    expect(
      processEnvelope(readPublished('mspec-example2-full.cbor'), {
        trust: { keys: [{ key: exampleKey }] },
        device: arm,
      }).components,
    ).toHaveLength(1);
  });

  it('rejects commands from extensions it does not implement (update management)', () => {
    expect(
      codeOf(() =>
        processEnvelope(readPublished('libcsuit-expU2-update-mgmt.cbor'), {
          trust: { keys: [{ key: exampleKey }] },
          device: arm,
        }),
      ).code,
    ).toBe('MANIFEST_UNSUPPORTED');
  });

  it('rejects an unknown command, an unknown parameter and a custom command, never ignoring them', async () => {
    for (const install of [
      [99, 0],
      [31, 15],
      [20, CborMap.of([21, 'https://x.example/a.bin'], [77, 1]), 21, 15],
      [-5, 0],
    ] as CborValue[][]) {
      const result = codeOf(() => processEnvelope(new Uint8Array(0), { trust: edTrust, device }));
      expect(result.code).toBe('MANIFEST_MALFORMED');
      const bytes = await envelopeOf(manifestWith(install));
      expect(codeOf(() => processEnvelope(bytes, { trust: edTrust, device })).code).toBe(
        'MANIFEST_UNSUPPORTED',
      );
    }
  });

  it('rejects a manifest that never checks vendor and class', async () => {
    const manifest = new CborMap([
      [1, 1],
      [2, 6],
      [3, encodeCbor(CborMap.of([2, [[new Uint8Array([0])]]]))],
      [
        20,
        encodeCbor([
          20,
          CborMap.of([21, 'https://x.example/a.bin'], [3, encodeCbor([-16, imageDigest])]),
          21,
          15,
        ]),
      ],
    ]);
    const bytes = await envelopeOf(manifest);
    expect(codeOf(() => processEnvelope(bytes, { trust: edTrust, device })).code).toBe(
      'MANIFEST_VENDOR_MISMATCH',
    );
  });

  it('rejects a payload written without an image digest', async () => {
    const manifest = new CborMap([
      [1, 1],
      [2, 6],
      [
        3,
        encodeCbor(
          CborMap.of(
            [2, [[new Uint8Array([0])]]],
            [4, encodeCbor([20, CborMap.of([1, vendorId], [2, classId]), 1, 15, 2, 15])],
          ),
        ),
      ],
      [20, encodeCbor([20, CborMap.of([21, 'https://x.example/a.bin']), 21, 15])],
    ]);
    const bytes = await envelopeOf(manifest);
    expect(codeOf(() => processEnvelope(bytes, { trust: edTrust, device })).code).toBe(
      'MANIFEST_UNSUPPORTED',
    );
  });

  it('rejects malformed SUIT reports with MANIFEST_MALFORMED', () => {
    for (const hex of [
      'a0',
      '80',
      'a2186380038004f5',
      'a3186381824100004180036004f5',
      'a3186381822040038004a305000680070d',
    ]) {
      expect(codeOf(() => decodeSuitReport(Buffer.from(hex, 'hex'))).code, hex).toBe(
        'MANIFEST_MALFORMED',
      );
    }
  });

  it('builds a SUIT report naming the failed command', () => {
    let error: CoreError | undefined;
    try {
      processEnvelope(readTestdata('ed25519-two-components.cbor'), {
        trust: edTrust,
        device: { ...device, components: [{ id: '814100', slot: 0 }, { id: '8145726164696f' }] },
      });
    } catch (e) {
      error = e as CoreError;
    }
    const report = reportFromError(error!, {
      manifestDigest: { algorithm: -16, bytes: new Uint8Array(32) },
      nonce: new Uint8Array([1, 2]),
    });
    const decoded = decodeSuitReport(encodeSuitReport(report));
    expect(decoded.result).not.toBe(true);
    if (decoded.result !== true) {
      expect(decoded.result.reason).toBe('condition-failed');
      expect(decoded.result.record).toMatchObject({ section: 3, componentIndex: 0 });
    }
    expect(decoded).toEqual(report);
  });
});

describe('createDigestVerifier', () => {
  const expected = { algorithm: -16, bytes: imageDigest };
  it('accepts the payload in chunks', () => {
    const v = createDigestVerifier(expected, image.length);
    v.update(image.subarray(0, 10));
    v.update(image.subarray(10));
    expect(() => v.verify()).not.toThrow();
  });
  it('rejects a changed byte, a short payload and a long one (as soon as it is too long)', () => {
    const changed = new Uint8Array(image);
    changed[3]! ^= 1;
    const a = createDigestVerifier(expected, image.length);
    a.update(changed);
    expect(codeOf(() => a.verify()).code).toBe('MANIFEST_DIGEST_MISMATCH');
    const b = createDigestVerifier(expected, image.length);
    b.update(image.subarray(1));
    expect(codeOf(() => b.verify()).code).toBe('MANIFEST_DIGEST_MISMATCH');
    const c = createDigestVerifier(expected, image.length);
    expect(codeOf(() => c.update(new Uint8Array(image.length + 1))).code).toBe(
      'MANIFEST_DIGEST_MISMATCH',
    );
  });
});

describe('createEnvelope', () => {
  it('gives the same bytes for the same description', () => {
    const description = {
      vendorId,
      classId,
      sequenceNumber: 3,
      components: [
        { id: '814100', digest: imageDigest, size: image.length, uri: 'https://x.example/a.bin' },
      ],
    };
    expect(Buffer.from(createEnvelope(description)).equals(createEnvelope(description))).toBe(true);
  });

  it('severs the text without breaking the signature', () => {
    const severed = severEnvelope(readTestdata('ed25519-single.cbor'), ['text']);
    const summary = verifyEnvelope(severed, edTrust);
    expect(summary.severedMembers).toEqual(['text']);
    expect(summary.text).toBeUndefined();
    expect(processEnvelope(severed, { trust: edTrust, device }).components).toHaveLength(1);
  });

  it('refuses to sign an envelope whose manifest does not match its digest', async () => {
    const tampered = new Uint8Array(readPublished('neg-example0-manifest-seq-tampered.cbor'));
    await expect(signEnvelope(tampered, createKeySigner(testKey()))).rejects.toMatchObject({
      code: 'MANIFEST_DIGEST_MISMATCH',
    });
  });

  it('keeps earlier signatures when another is added', async () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const once = readTestdata('ed25519-single.cbor');
    const twice = await signEnvelope(once, createKeySigner(p256.privateKey, { alg: -9 }));
    const plan = processEnvelope(twice, {
      trust: { keys: [{ key: edPublic }, { key: p256.publicKey }], policy: { minSigners: 2 } },
      device,
    });
    expect(plan.signers.map((s) => s.alg).sort((a, b) => a - b)).toEqual([-9, -8]);
  });
});
