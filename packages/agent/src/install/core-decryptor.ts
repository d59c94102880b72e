import { finished } from 'node:stream/promises';
import { createDecryptStream, type RecipientKey } from '@updraft/core';
import type { Decryptor, PayloadDecipher } from './envelope-verifier.js';

/**
 * Decrypts payloads with the device's key through core's streaming decryption
 * (SUIT firmware encryption: AES-KW or ECDH-ES+AES-KW, then AES-GCM or AES-CTR).
 */
export function coreDecryptor(deviceKey: RecipientKey): Decryptor {
  return {
    open(encryption: Uint8Array): PayloadDecipher {
      const stream = createDecryptStream(encryption, deviceKey, { highWaterMark: 64 * 1024 });
      const out: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => out.push(chunk));
      // The error also rejects `finished` below; this listener only keeps it from being unhandled.
      stream.on('error', () => {});
      const take = (): Uint8Array => {
        const joined = Buffer.concat(out);
        out.length = 0;
        return joined;
      };
      return {
        async update(ciphertext) {
          await new Promise<void>((resolve, reject) =>
            stream.write(ciphertext, (error) => (error ? reject(error) : resolve())),
          );
          return take();
        },
        async final() {
          stream.end();
          await finished(stream);
          return take();
        },
      };
    },
  };
}
