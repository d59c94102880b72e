export * from './cbor/index.js';
export * from './cose/index.js';
export * from './device-api/index.js';
export * from './encryption/index.js';
export * from './errors.js';
export * from './keys/index.js';
export * from './suit/index.js';
export * from './versions/index.js';
