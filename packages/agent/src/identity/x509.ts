// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect API.
import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AgentError } from '../errors.js';
import type { DeviceKey } from '../ports/device-key.js';
import { MAX_CERTIFICATES } from './pem.js';

type CsrParams = Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>;
type WebCrypto = NonNullable<CsrParams[1]>;
type WebCryptoKey = CsrParams[0]['keys']['privateKey'];

x509.cryptoProvider.set(webcrypto as unknown as WebCrypto);

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * A PKCS#10 request for `key` (DER), signed through the DeviceKey port: @peculiar/x509 builds and
 * encodes it, and its two calls into WebCrypto (export the public key, sign the request info) are
 * answered by the key's holder, so the private key never has to be a WebCrypto key.
 */
export async function buildCsr(key: DeviceKey, commonName: string): Promise<Uint8Array> {
  const spki = await key.publicKeySpki();
  // Stand-ins for WebCrypto keys: the generator reads only `algorithm` and hands them back to us.
  const publicKey = { algorithm: ECDSA_P256, type: 'public' } as unknown as WebCryptoKey;
  const privateKey = { algorithm: ECDSA_P256, type: 'private' } as unknown as WebCryptoKey;
  const subtle = {
    exportKey: async () => spki.slice().buffer,
    sign: async (_alg: unknown, _key: unknown, data: ArrayBuffer | ArrayBufferView) => {
      const bytes = ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data);
      return (await key.sign(bytes)).slice().buffer;
    },
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: [{ CN: [commonName] }],
      keys: { publicKey, privateKey },
      signingAlgorithm: ECDSA_SHA256,
    },
    { subtle } as unknown as WebCrypto,
  );
  return new Uint8Array(csr.rawData);
}

/** The certificates of a PKCS#7 certs-only bundle (DER), as node:crypto certificates. */
export function parseCertsOnly(der: Uint8Array): X509Certificate[] {
  let certs: x509.X509Certificates;
  try {
    certs = new x509.X509Certificates();
    certs.import(der.slice().buffer);
  } catch (cause) {
    throw new AgentError('AGENT_RESPONSE_INVALID', 'not a PKCS#7 certs-only message', { cause });
  }
  if (certs.length === 0 || certs.length > MAX_CERTIFICATES) {
    throw new AgentError(
      'AGENT_RESPONSE_INVALID',
      `a certs-only answer must hold 1 to ${MAX_CERTIFICATES} certificates`,
    );
  }
  return certs.map((c) => {
    try {
      return new X509Certificate(Buffer.from(c.rawData));
    } catch (cause) {
      throw new AgentError('AGENT_RESPONSE_INVALID', 'a certificate in the answer is invalid', {
        cause,
      });
    }
  });
}
