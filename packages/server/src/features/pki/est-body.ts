import { PkiError } from '../../pki/pki.js';

/** Largest EST request body accepted (a base64 CSR is a few hundred bytes; RSA-4096 under 2 KiB). */
export const MAX_EST_BODY_BYTES = 32 * 1024;

const PEM_CSR =
  /^-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (?:NEW )?CERTIFICATE REQUEST-----\s*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The DER of an EST `application/pkcs10` body (RFC 7030 §4.2.1): base64, with or without line
 * breaks (`Content-Transfer-Encoding: base64`), or, for convenience, a PEM request. Only the
 * framing is checked here; the request itself is checked when it is certified.
 *
 * @example
 * decodeEstCsr(Buffer.from('MIIBOjCB4gIBADA…'))
 */
export function decodeEstCsr(body: Uint8Array): Uint8Array {
  if (body.byteLength === 0) throw malformed('the body is empty');
  if (body.byteLength > MAX_EST_BODY_BYTES)
    throw new PkiError(
      'PKI_CSR_TOO_LARGE',
      `an EST body may be at most ${MAX_EST_BODY_BYTES} bytes`,
    );
  const text = Buffer.from(body).toString('latin1').trim();
  const pem = PEM_CSR.exec(text);
  const compact = (pem === null ? text : pem[1]!).replace(/[\r\n\t ]+/g, '');
  if (compact.length === 0 || compact.length % 4 === 1 || !BASE64.test(compact))
    throw malformed('the body is not a base64 PKCS#10 request');
  const der = Buffer.from(compact, 'base64');
  // A DER SEQUENCE; anything else is not a request whatever it decodes to.
  if (der.length < 2 || der[0] !== 0x30) throw malformed('the body is not a DER PKCS#10 request');
  return new Uint8Array(der);
}

function malformed(message: string): PkiError {
  return new PkiError('PKI_CSR_MALFORMED', message);
}

/** The user and password of an HTTP Basic `Authorization` header, or undefined. */
export function basicCredentials(
  header: string | undefined,
): { user: string; password: string } | undefined {
  if (header === undefined || header.length > 1024) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/]+=*)\s*$/i.exec(header);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
