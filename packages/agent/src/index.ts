/**
 * `@updraft/agent`: the device-side update client.
 *
 * The hardware and platform are reached only through the ports below; `@updraft/sim` implements
 * them for simulated devices, `adapters/file` for Linux devices with file- or block-device slots.
 */
export * from './errors.js';
export * from './machine/agent-states.js';
export * from './ports/index.js';
