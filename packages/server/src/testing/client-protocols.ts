import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

// What the third-party device clients send, for tests of the DDI and Mender device APIs.

/** `Authorization` for a hawkBit DDI controller authenticating with its device token. */
export function targetTokenHeaders(token: string): Record<string, string> {
  return { authorization: `TargetToken ${token}` };
}

/** A DDI feedback body as SWUpdate/rauc-hawkbit-updater send it. */
export function ddiFeedback(execution: string, finished: string, details: string[] = []) {
  return {
    id: '1',
    time: '20261203T120000',
    status: { execution, result: { finished, progress: { cnt: 1, of: 2 } }, details },
  };
}

/** A Mender device's key pair (mender-client: RSA, ECDSA P-256 or Ed25519). */
export interface MenderDeviceKey {
  readonly privateKey: KeyObject;
  readonly pem: string;
  readonly alg: 'rsa' | 'ec' | 'ed25519';
}

export function menderDeviceKey(alg: MenderDeviceKey['alg']): MenderDeviceKey {
  const pair =
    alg === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  return {
    privateKey: pair.privateKey,
    pem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    alg,
  };
}

/** Signs as mender-client does: RSA PKCS#1 v1.5/SHA-256, ECDSA/SHA-256 (DER), pure Ed25519. */
export function menSignature(key: MenderDeviceKey, body: Buffer): string {
  return sign(key.alg === 'ed25519' ? null : 'sha256', body, key.privateKey).toString('base64');
}

/** The raw `auth_requests` body mender-client signs. */
export function menderAuthBody(idData: object, key: MenderDeviceKey, extra: object = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      id_data: JSON.stringify(idData),
      pubkey: key.pem,
      tenant_token: '',
      ...extra,
    }),
  );
}
