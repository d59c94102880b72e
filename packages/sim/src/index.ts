/**
 * `@updraft/sim`: a strict NOR-flash model with fault injection, an MCUboot-like bootloader,
 * the agent's ports on simulated hardware, simulated devices, and the power-cut sweep.
 */
export * from './adapters/bounded-clock.js';
export * from './adapters/flash-state-store.js';
export * from './adapters/memory-transport.js';
export * from './adapters/paced-transport.js';
export * from './adapters/sim-boot-control.js';
export * from './adapters/sim-clock.js';
export * from './adapters/sim-slot.js';
export * from './adapters/sim-swap-boot-control.js';
export * from './agent-application.js';
export * from './boot-decision-table.js';
export * from './bootloader.js';
export * from './build-image.js';
export * from './device-layout.js';
export * from './errors.js';
export * from './firmware-body.js';
export * from './flash-area.js';
export * from './image-format.js';
export * from './image-keys.js';
export * from './is-faulty-device.js';
export * from './power-cut-sweep.js';
export * from './prng.js';
export * from './record-log.js';
export * from './release-envelope.js';
export * from './sim-device.js';

export * from './sim-flash.js';
export * from './sim-fleet.js';
export * from './slot-trailer.js';
export * from './verify-image.js';
