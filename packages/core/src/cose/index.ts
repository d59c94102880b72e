export * from './cose-algorithms.js';
export * from './cose-sign1.js';
export * from './signer.js';
