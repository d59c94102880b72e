import { describe, expect, it } from 'vitest';
import { createIssuingCa, createRootCa } from '../pki/pki.js';
import { MAX_CLIENT_CERT_HEADER_BYTES, peerCertificateReader } from './peer-certificate.js';

const now = new Date();
const root = await createRootCa({ commonName: 'Header test root', validityDays: 2, now });
const issuing = await createIssuingCa(root, { commonName: 'Header test CA', validityDays: 2, now });
const escaped = encodeURIComponent(issuing.certificatePem);

describe('peerCertificateReader', () => {
  const reader = peerCertificateReader({
    trustProxy: ['10.0.0.5', '192.168.0.0/16'],
    tls: { clientCertHeader: 'x-ssl-client-cert' },
  });
  // A plain (non-TLS) socket: no certificate of its own.
  const from = (remoteAddress: string, headers: Record<string, string | string[]>) =>
    reader({ socket: { remoteAddress }, headers });

  it('believes the header from a trustProxy address (address and CIDR, IPv4-mapped too)', () => {
    for (const peer of ['10.0.0.5', '192.168.7.9', '::ffff:10.0.0.5']) {
      const chain = from(peer, { 'x-ssl-client-cert': escaped });
      expect(chain).toHaveLength(1);
      expect(chain?.[0]?.trim()).toBe(issuing.certificatePem.trim());
    }
  });

  it('ignores the header from any other peer, whatever X-Forwarded-For claims', () => {
    expect(
      from('10.0.0.6', { 'x-ssl-client-cert': escaped, 'x-forwarded-for': '10.0.0.5' }),
    ).toBeUndefined();
    expect(from('127.0.0.1', { 'x-ssl-client-cert': escaped })).toBeUndefined();
  });

  it('takes leaf and chain in order and reads an absent header as no certificate', () => {
    const both = encodeURIComponent(`${issuing.certificatePem}${root.certificatePem}`);
    const chain = from('10.0.0.5', { 'x-ssl-client-cert': both });
    expect(chain?.map((c) => c.trim())).toEqual([
      issuing.certificatePem.trim(),
      root.certificatePem.trim(),
    ]);
    expect(from('10.0.0.5', {})).toBeUndefined();
  });

  it('reads an oversized, repeated or garbled header as an unreadable certificate ([]), not as none', () => {
    const big = 'A'.repeat(MAX_CLIENT_CERT_HEADER_BYTES + 1);
    expect(from('10.0.0.5', { 'x-ssl-client-cert': big })).toEqual([]);
    expect(from('10.0.0.5', { 'x-ssl-client-cert': [escaped, escaped] })).toEqual([]);
    expect(from('10.0.0.5', { 'x-ssl-client-cert': '%E0%A4%A' })).toEqual([]);
    expect(from('10.0.0.5', { 'x-ssl-client-cert': 'not a certificate' })).toEqual([]);
  });

  it('ignores the header entirely when tls.clientCertHeader is off', () => {
    const off = peerCertificateReader({
      trustProxy: ['10.0.0.5'],
      tls: { clientCertHeader: '' },
    });
    expect(
      off({ socket: { remoteAddress: '10.0.0.5' }, headers: { 'x-ssl-client-cert': escaped } }),
    ).toBeUndefined();
  });
});
