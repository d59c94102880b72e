export * from './cbor-decode.js';
export * from './cbor-diagnostic.js';
export * from './cbor-encode.js';
export * from './cbor-types.js';
