// @updraft/core/fs: durable file writes for the packages that run on a file system (agent, CLI,
// server). A subpath of its own, so the main entry stays free of node:fs.
export { type AtomicFile, createAtomicFile } from './atomic-file.js';
export { type AtomicWriteOptions, atomicWriteFile } from './atomic-write.js';
export { syncDirectory } from './sync-directory.js';
