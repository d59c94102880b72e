import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PkiError } from '../../pki/pki.js';
import { basicCredentials, decodeEstCsr, MAX_EST_BODY_BYTES } from './est-body.js';

const csrDer = execFileSync(
  'openssl',
  [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    '/dev/null',
    '-subj',
    '/CN=x',
    '-outform',
    'DER',
  ],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);

describe('EST request body', () => {
  it('reads base64 with and without line breaks, and PEM, to the same DER', () => {
    const b64 = csrDer.toString('base64');
    const wrapped = `${(b64.match(/.{1,64}/g) ?? []).join('\r\n')}\r\n`;
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    for (const body of [b64, wrapped, pem])
      expect(Buffer.from(decodeEstCsr(Buffer.from(body))).equals(csrDer)).toBe(true);
  });

  it('refuses empty, oversized, non-base64 and non-DER bodies with typed errors', () => {
    const code = (body: Uint8Array) => {
      try {
        decodeEstCsr(body);
      } catch (error) {
        expect(error).toBeInstanceOf(PkiError);
        return (error as PkiError).code;
      }
      return 'accepted';
    };
    expect(code(Buffer.alloc(0))).toBe('PKI_CSR_MALFORMED');
    expect(code(Buffer.alloc(MAX_EST_BODY_BYTES + 1, 0x41))).toBe('PKI_CSR_TOO_LARGE');
    expect(code(Buffer.from('not base64!'))).toBe('PKI_CSR_MALFORMED');
    expect(code(Buffer.from('aGVsbG8='))).toBe('PKI_CSR_MALFORMED'); // "hello": no DER SEQUENCE
  });

  it('answers any bytes with DER or a PkiError, never anything else (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2048 }),
          fc.string({ maxLength: 2048 }).map((s) => Buffer.from(s)),
          fc
            .uint8Array({ maxLength: 1024 })
            .map((b) => Buffer.from(Buffer.from(b).toString('base64'))),
        ),
        (body) => {
          try {
            const der = decodeEstCsr(body);
            expect(der[0]).toBe(0x30);
          } catch (error) {
            expect(error).toBeInstanceOf(PkiError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads HTTP Basic credentials (the password may hold colons) and nothing else', () => {
    const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    expect(basicCredentials(basic('pump-1:updraft_enroll_a:b'))).toEqual({
      user: 'pump-1',
      password: 'updraft_enroll_a:b',
    });
    expect(basicCredentials(undefined)).toBeUndefined();
    expect(basicCredentials('Bearer x')).toBeUndefined();
    expect(basicCredentials(basic(':no-user'))).toBeUndefined();
    expect(basicCredentials(basic('no-colon'))).toBeUndefined();
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (header) => {
        const parsed = basicCredentials(header);
        if (parsed !== undefined) expect(parsed.user.length).toBeGreaterThan(0);
      }),
    );
  });
});
