import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIssuingCa,
  createRootCa,
  describeCertificate,
  issueDeviceCertificate,
  issueServerCertificate,
  MAX_CSR_BYTES,
  PkiError,
  type PkiKeyPair,
  spkiFingerprint,
  verifyCertificateChain,
} from './pki.js';

// The real openssl is the independent judge of what we issue. It is required, never skipped:
// a machine (or CI) without it fails here loudly.
const OPENSSL = '/usr/bin/openssl';
const now = new Date('2026-12-03T12:00:00Z');
const DAY = 86_400_000;

let dir: string;
let root: PkiKeyPair;
let issuing: PkiKeyPair;

function openssl(args: string[], input?: Buffer | string): Buffer {
  return execFileSync(OPENSSL, args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function write(name: string, content: string | Buffer): string {
  writeFileSync(join(dir, name), content);
  return name;
}

/** A CSR made by `openssl req` with a fresh key; returns the CSR (PEM or DER) and the key file. */
function opensslCsr(
  name: string,
  keyArgs: string[],
  options: { subject?: string; der?: boolean; extra?: string[] } = {},
): { csr: string | Buffer; keyFile: string } {
  const keyFile = `${name}.key`;
  const out = `${name}.csr`;
  openssl([
    'req',
    '-new',
    ...keyArgs,
    '-nodes',
    '-keyout',
    keyFile,
    '-subj',
    options.subject ?? `/CN=${name}`,
    ...(options.extra ?? []),
    '-outform',
    options.der === true ? 'DER' : 'PEM',
    '-out',
    out,
  ]);
  const raw = readFileSync(join(dir, out));
  return { csr: options.der === true ? raw : raw.toString('utf8'), keyFile };
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

async function rejection(promise: Promise<unknown>): Promise<PkiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PkiError);
    return error as PkiError;
  }
  throw new Error('expected a PkiError, got success');
}

function deviceOptions(overrides: Partial<Parameters<typeof issueDeviceCertificate>[2]> = {}) {
  return {
    deviceName: 'pump-17',
    deviceId: 'dev_01J9',
    tenantId: 'ten_acme',
    validityDays: 90,
    now,
    ...overrides,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'updraft-pki-'));
  root = await createRootCa({ commonName: 'Updraft root CA', validityDays: 3650, now });
  issuing = await createIssuingCa(root, {
    commonName: 'Updraft issuing CA acme',
    validityDays: 1825,
    now,
  });
  write('root.pem', root.certificatePem);
  write('issuing.pem', issuing.certificatePem);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('CA hierarchy', () => {
  it('root and issuing CA carry the constraints openssl reads back', () => {
    const rootText = openssl(['x509', '-in', 'root.pem', '-noout', '-text']).toString();
    expect(rootText).toMatch(/CA:TRUE, pathlen:1/);
    expect(rootText).toMatch(/Certificate Sign, CRL Sign/);
    expect(rootText).toMatch(/Subject Key Identifier/);
    expect(rootText).toMatch(/ASN1 OID: prime256v1/);
    const issuingText = openssl(['x509', '-in', 'issuing.pem', '-noout', '-text']).toString();
    expect(issuingText).toMatch(/CA:TRUE, pathlen:0/);
    expect(issuingText).toMatch(/Issuer: CN\s?=\s?Updraft root CA/);
    expect(issuingText).toMatch(/Authority Key Identifier/);
    const serial = openssl(['x509', '-in', 'root.pem', '-noout', '-serial'])
      .toString()
      .trim()
      .split('=')[1]!;
    expect(serial).toMatch(/^[0-7][0-9A-F]{31}$/); // 16 bytes, positive
    expect(describeCertificate(issuing.certificatePem).serialNumber).not.toBe(
      describeCertificate(root.certificatePem).serialNumber,
    );
  });

  it('a device certificate from an openssl P-256 CSR verifies with openssl verify for client auth', async () => {
    const { csr } = opensslCsr('verify-me', P256);
    write('leaf.pem', await issueDeviceCertificate(issuing, csr, deviceOptions()));
    const out = openssl([
      'verify',
      '-attime',
      String(now.getTime() / 1000 + 60),
      '-purpose',
      'sslclient',
      '-CAfile',
      'root.pem',
      '-untrusted',
      'issuing.pem',
      'leaf.pem',
    ]).toString();
    expect(out.trim()).toBe('leaf.pem: OK');
    // Without the intermediate, or against another root, openssl refuses: the check above means something.
    expect(() => openssl(['verify', '-CAfile', 'root.pem', 'leaf.pem'])).toThrow();
  });

  it('the device certificate takes CN and SAN from Updraft, never from the CSR', async () => {
    const { csr } = opensslCsr('asks-too-much', P256, {
      subject: '/CN=someone-else/O=Evil',
      extra: [
        '-addext',
        'subjectAltName=DNS:evil.example',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      ],
    });
    const pem = await issueDeviceCertificate(issuing, csr, deviceOptions());
    write('named.pem', pem);
    const text = openssl(['x509', '-in', 'named.pem', '-noout', '-text']).toString();
    expect(text).toMatch(/Subject: O\s?=\s?ten_acme, CN\s?=\s?pump-17\n/);
    const rfc2253 = openssl([
      'x509',
      '-in',
      'named.pem',
      '-noout',
      '-subject',
      '-nameopt',
      'RFC2253',
    ]);
    expect(rfc2253.toString().trim()).toBe('subject=CN=pump-17,O=ten_acme');
    expect(text).toContain('URI:urn:updraft:device:dev_01J9');
    expect(text).not.toContain('evil.example');
    expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Client Authentication\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s*\n\s*Digital Signature\n/);
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toMatch(/Subject Key Identifier/);
    expect(text).toMatch(/Authority Key Identifier/);
    const description = describeCertificate(pem);
    expect(description.subject).toBe('O=ten_acme\nCN=pump-17');
    expect(description.issuer).toBe('CN=Updraft issuing CA acme');
    expect(description.subjectAltNames).toEqual(['URI:urn:updraft:device:dev_01J9']);
    expect(description.notAfter).toBe(new Date(now.getTime() + 90 * DAY).toISOString());
    expect(description.isCa).toBe(false);
  });

  it('accepts DER CSRs and P-384 and Ed25519 keys', async () => {
    const der = opensslCsr('der', P256, { der: true });
    const p384 = opensslCsr('p384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
    const ed = opensslCsr('ed', ['-newkey', 'ed25519']);
    for (const [name, { csr }] of Object.entries({ der, p384, ed })) {
      const file = write(
        `${name}-leaf.pem`,
        await issueDeviceCertificate(issuing, csr, deviceOptions()),
      );
      const out = openssl([
        'verify',
        '-attime',
        String(now.getTime() / 1000 + 60),
        '-CAfile',
        'root.pem',
        '-untrusted',
        'issuing.pem',
        file,
      ]).toString();
      expect(out.trim()).toBe(`${file}: OK`);
    }
  });

  it('issues a server certificate for DNS names and IPs that openssl accepts for TLS servers', async () => {
    const server = await issueServerCertificate(issuing, {
      hosts: ['updraft.example.com', 'localhost', '127.0.0.1', '::1'],
      validityDays: 397,
      now,
    });
    write('server.pem', server.certificatePem);
    write('server.key', server.privateKeyPem);
    const verify = (host: string[]) =>
      openssl([
        'verify',
        '-attime',
        String(now.getTime() / 1000 + 60),
        '-purpose',
        'sslserver',
        ...host,
        '-CAfile',
        'root.pem',
        '-untrusted',
        'issuing.pem',
        'server.pem',
      ]).toString();
    expect(verify(['-verify_hostname', 'updraft.example.com']).trim()).toBe('server.pem: OK');
    expect(verify(['-verify_ip', '127.0.0.1']).trim()).toBe('server.pem: OK');
    expect(() => verify(['-verify_hostname', 'other.example.com'])).toThrow();
    // The key belongs to the certificate.
    const keyPub = openssl(['pkey', '-in', 'server.key', '-pubout']).toString();
    expect(spkiFingerprint(keyPub)).toBe(describeCertificate(server.certificatePem).fingerprint);
    expect(describeCertificate(server.certificatePem).subjectAltNames).toEqual([
      'DNS:updraft.example.com',
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
    ]);
  });

  it('refuses hosts that are neither DNS names nor IP addresses', async () => {
    for (const hosts of [
      [],
      ['bad host'],
      ['-x.example'],
      ['a..b'],
      [`${'a'.repeat(64)}.example`],
    ]) {
      const error = await rejection(
        issueServerCertificate(issuing, { hosts, validityDays: 30, now }),
      );
      expect(error.code).toBe('PKI_INPUT_INVALID');
    }
  });
});

describe('CSR checks', () => {
  it('refuses a CSR with one byte of its signature flipped', async () => {
    const { csr } = opensslCsr('tampered', P256, { der: true });
    const bytes = Buffer.from(csr as Buffer);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01; // last byte of ECDSA s
    expect((await rejection(issueDeviceCertificate(issuing, bytes, deviceOptions()))).code).toBe(
      'PKI_CSR_SIGNATURE_INVALID',
    );
  });

  it('refuses an RSA key', async () => {
    const { csr } = opensslCsr('rsa', ['-newkey', 'rsa:2048']);
    const error = await rejection(issueDeviceCertificate(issuing, csr, deviceOptions()));
    expect(error.code).toBe('PKI_KEY_UNSUPPORTED');
    expect(error.details).toMatchObject({ keyType: 'rsa' });
  });

  it('refuses an EC key on another curve', async () => {
    const { csr } = opensslCsr('k256', [
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:secp256k1',
    ]);
    expect((await rejection(issueDeviceCertificate(issuing, csr, deviceOptions()))).code).toBe(
      'PKI_KEY_UNSUPPORTED',
    );
  });

  it('refuses a CSR whose key is a forbidden (birth) key, matched by the SPKI fingerprint openssl computes', async () => {
    const { csr, keyFile } = opensslCsr('birth', P256);
    const spkiDer = openssl(['pkey', '-in', keyFile, '-pubout', '-outform', 'DER']);
    const birthFingerprint = createHash('sha256').update(spkiDer).digest('hex');
    expect(spkiFingerprint(csr as string)).toBe(birthFingerprint);
    const error = await rejection(
      issueDeviceCertificate(
        issuing,
        csr,
        deviceOptions({ forbiddenKeys: ['00'.repeat(32), birthFingerprint.toUpperCase()] }),
      ),
    );
    expect(error.code).toBe('PKI_KEY_REUSED');
    expect(error.details).toEqual({ fingerprint: birthFingerprint });
    // Another key passes the same list.
    const other = opensslCsr('operational', P256);
    await expect(
      issueDeviceCertificate(
        issuing,
        other.csr,
        deviceOptions({ forbiddenKeys: [birthFingerprint] }),
      ),
    ).resolves.toMatch(/BEGIN CERTIFICATE/);
  });

  it('bounds the CSR size and refuses what is not a CSR', async () => {
    const { csr } = opensslCsr('bounded', P256);
    const padded = `${csr as string}${' '.repeat(MAX_CSR_BYTES)}`;
    expect((await rejection(issueDeviceCertificate(issuing, padded, deviceOptions()))).code).toBe(
      'PKI_CSR_TOO_LARGE',
    );
    for (const bad of [
      '',
      'hello',
      issuing.certificatePem,
      '-----BEGIN CERTIFICATE REQUEST-----\n!!\n-----END CERTIFICATE REQUEST-----',
    ]) {
      expect((await rejection(issueDeviceCertificate(issuing, bad, deviceOptions()))).code).toBe(
        'PKI_CSR_MALFORMED',
      );
    }
  });

  it('refuses unusable device names, ids and validities', async () => {
    const { csr } = opensslCsr('names', P256);
    for (const overrides of [
      { deviceName: '' },
      { deviceName: 'x'.repeat(65) },
      { deviceName: 'a\nb' },
      { deviceId: 'has space' },
      { validityDays: 0 },
      { validityDays: 1.5 },
      { now: new Date(Number.NaN) },
    ]) {
      expect(
        (await rejection(issueDeviceCertificate(issuing, csr, deviceOptions(overrides)))).code,
      ).toBe('PKI_INPUT_INVALID');
    }
  });

  it('refuses to sign with a certificate that is not a CA', async () => {
    const { csr } = opensslCsr('not-ca', P256);
    const server = await issueServerCertificate(issuing, {
      hosts: ['x.example'],
      validityDays: 30,
      now,
    });
    expect((await rejection(issueDeviceCertificate(server, csr, deviceOptions()))).code).toBe(
      'PKI_INPUT_INVALID',
    );
  });
});

describe('verifyCertificateChain', () => {
  let leaf: string;
  beforeAll(async () => {
    leaf = await issueDeviceCertificate(issuing, opensslCsr('chain', P256).csr, deviceOptions());
  });

  it('returns the chain leaf to root', () => {
    const result = verifyCertificateChain(
      leaf,
      [issuing.certificatePem],
      [root.certificatePem],
      now,
    );
    expect(result).toEqual({
      ok: true,
      chain: [leaf, issuing.certificatePem, root.certificatePem].map(normalize),
    });
  });

  it('refuses expired and not-yet-valid chains at the injected time', () => {
    const late = verifyCertificateChain(
      leaf,
      [issuing.certificatePem],
      [root.certificatePem],
      new Date(now.getTime() + 91 * DAY),
    );
    expect(late.ok === false && late.error.code).toBe('PKI_EXPIRED');
    const early = verifyCertificateChain(
      leaf,
      [issuing.certificatePem],
      [root.certificatePem],
      new Date(now.getTime() - DAY),
    );
    expect(early.ok === false && early.error.code).toBe('PKI_NOT_YET_VALID');
  });

  it('refuses a chain to another root, a missing intermediate and a forged issuer', async () => {
    const otherRoot = await createRootCa({
      commonName: 'Updraft root CA',
      validityDays: 3650,
      now,
    });
    const wrongRoot = verifyCertificateChain(
      leaf,
      [issuing.certificatePem],
      [otherRoot.certificatePem],
      now,
    );
    expect(wrongRoot.ok === false && wrongRoot.error.code).toBe('PKI_UNTRUSTED');
    const missing = verifyCertificateChain(leaf, [], [root.certificatePem], now);
    expect(missing.ok === false && missing.error.code).toBe('PKI_UNTRUSTED');
    // Same subject name as the real issuing CA, different key, signed by another root.
    const forged = await createIssuingCa(otherRoot, {
      commonName: 'Updraft issuing CA acme',
      validityDays: 365,
      now,
    });
    const forgedLeaf = await issueDeviceCertificate(
      forged,
      opensslCsr('forged', P256).csr,
      deviceOptions(),
    );
    const viaForged = verifyCertificateChain(
      forgedLeaf,
      [forged.certificatePem, issuing.certificatePem],
      [root.certificatePem],
      now,
    );
    expect(viaForged.ok === false && viaForged.error.code).toBe('PKI_UNTRUSTED');
  });

  it('refuses a CA below the pathLen 0 issuing CA', async () => {
    const sub = await createIssuingCa(issuing, { commonName: 'sub CA', validityDays: 30, now });
    const subLeaf = await issueDeviceCertificate(sub, opensslCsr('sub', P256).csr, deviceOptions());
    const result = verifyCertificateChain(
      subLeaf,
      [sub.certificatePem, issuing.certificatePem],
      [root.certificatePem],
      now,
    );
    expect(result.ok === false && result.error.code).toBe('PKI_UNTRUSTED');
  });

  it('refuses a leaf signed by a certificate that is not a CA', async () => {
    // Directly under the root (pathLen 1): only its CA:FALSE and its keyUsage without keyCertSign
    // (checked by OpenSSL's issuer check) stand in the way.
    const server = await issueServerCertificate(root, {
      hosts: ['x.example'],
      validityDays: 30,
      now,
    });
    write('noca.pem', server.certificatePem);
    write('noca.key', server.privateKeyPem);
    const { csr } = opensslCsr('under-noca', P256);
    write('under-noca.csr', csr);
    // openssl signs with any key it is given; our verifier must not accept the result.
    const forged = openssl([
      'x509',
      '-req',
      '-in',
      'under-noca.csr',
      '-CA',
      'noca.pem',
      '-CAkey',
      'noca.key',
      '-days',
      '30',
    ]).toString();
    const at = new Date(Date.now() + 60_000);
    const result = verifyCertificateChain(
      forged,
      [server.certificatePem],
      [root.certificatePem],
      at,
    );
    expect(result.ok === false && result.error.code).toBe('PKI_UNTRUSTED');
  });

  it('reports malformed input as PKI_CERTIFICATE_MALFORMED', () => {
    const result = verifyCertificateChain('nope', [], [root.certificatePem], now);
    expect(result.ok === false && result.error.code).toBe('PKI_CERTIFICATE_MALFORMED');
  });
});

describe('fuzz: hostile CSR bytes raise PkiError only', () => {
  let validDer: Buffer;
  beforeAll(() => {
    validDer = opensslCsr('fuzz', P256, { der: true }).csr as Buffer;
  });

  async function onlyPkiErrors(input: string | Uint8Array): Promise<void> {
    try {
      await issueDeviceCertificate(issuing, input, deviceOptions());
    } catch (error) {
      if (!(error instanceof PkiError)) throw error;
    }
  }

  it('random bytes and strings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.string({ maxLength: 2048 })),
        onlyPkiErrors,
      ),
      { numRuns: 300 },
    );
  });

  it('mutations of a valid CSR (flipped bytes, truncation, insertion), DER and PEM', async () => {
    const mutation = fc.record({
      flips: fc.array(fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), {
        maxLength: 4,
      }),
      cut: fc.option(fc.nat()),
      insert: fc.option(
        fc.record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
      ),
      pem: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(mutation, async ({ flips, cut, insert, pem }) => {
        let bytes = Buffer.from(validDer);
        for (const { at, bit } of flips)
          bytes[at % bytes.length] = bytes[at % bytes.length]! ^ (1 << bit);
        if (insert !== null) {
          const at = insert.at % bytes.length;
          bytes = Buffer.concat([bytes.subarray(0, at), insert.bytes, bytes.subarray(at)]);
        }
        if (cut !== null) bytes = bytes.subarray(0, cut % bytes.length);
        const input = pem
          ? `-----BEGIN CERTIFICATE REQUEST-----\n${bytes.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`
          : bytes;
        await onlyPkiErrors(input);
      }),
      { numRuns: 300 },
    );
  });
});

function normalize(pem: string): string {
  return new X509Certificate(pem).toString();
}
