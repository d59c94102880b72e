/**
 * A plain Uint8Array view of `bytes`. cbor2 encodes a Node Buffer through its toJSON()
 * ({"type":"Buffer",...}), not as a byte string, so every bstr must pass through here first.
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
