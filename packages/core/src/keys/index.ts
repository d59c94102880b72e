export * from './cose-key.js';
export * from './key-pair.js';
export * from './key-thumbprint.js';
