export * from './errors.js';
export * from './encryption/index.js';
