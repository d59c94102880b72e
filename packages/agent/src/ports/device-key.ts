/**
 * What node:tls needs to prove possession of the device key during a handshake: a PEM private key
 * for a key kept in a file, or an OpenSSL engine reference (`privateKeyEngine` e.g. `pkcs11`,
 * `privateKeyIdentifier` e.g. `pkcs11:token=device;object=updraft-1;type=private`) for a key held
 * by a secure element or TPM, so that the private key never enters the Node process.
 */
export type TlsKey =
  | { readonly key: string }
  | { readonly privateKeyEngine: string; readonly privateKeyIdentifier: string };

/**
 * A device's private key, held by something that never hands it out (a file readable by the agent
 * only, a PKCS#11 token, a TPM). The agent asks for the public key, for signatures (the CSR), and
 * for what TLS needs to use it; nothing else.
 */
export interface DeviceKey {
  /** Where the key is kept (file name, PKCS#11 object label, TPM handle); logged, never secret. */
  readonly label: string;
  /** The DER SubjectPublicKeyInfo of the key (an EC P-256 key). */
  publicKeySpki(): Promise<Uint8Array>;
  /**
   * ECDSA with SHA-256 over `data`, the signature as r‖s (IEEE P1363, 64 bytes for P-256): the
   * shape WebCrypto and PKCS#11's `CKM_ECDSA_SHA256` produce.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /** The key for node:tls (client certificate authentication). */
  tlsKey(): TlsKey;
}

/**
 * Creates, opens and deletes device keys by label: the shape of a PKCS#11 token (objects by
 * `CKA_LABEL`) or a TPM's persistent handles, so the identity store works with any of them.
 */
export interface DeviceKeyHolder {
  /** Generates a new P-256 key inside the holder and keeps it under `label` (durably). */
  generate(label: string): Promise<DeviceKey>;
  /** Opens the key kept under `label`; rejects with `AGENT_IDENTITY_CORRUPT` when it is missing. */
  open(label: string): Promise<DeviceKey>;
  /** Deletes the key under `label` (nothing when there is none). */
  remove(label: string): Promise<void>;
  /** Labels of every key kept, so keys a power cut orphaned can be removed. */
  list(): Promise<readonly string[]>;
}
