/**
 * `@updraft/core/testing`: helpers for the tests of every package that need real X.509 material
 * (a throwaway openssl CA for TLS servers, brokers and client certificates). Test code only:
 * nothing in core's main entry uses it, and nothing here imports a test framework.
 */

export { createOpensslCa, type OpensslCa } from './openssl-ca.js';
