export * from './command-args.js';
export * from './command-context.js';
export * from './command-spec.js';
export * from './command-table.js';
export * from './errors.js';
export * from './exit-codes.js';
export * from './io.js';
export * from './run-cli.js';
