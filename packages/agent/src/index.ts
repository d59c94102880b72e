/**
 * `@updraft/agent`: the device-side update client.
 *
 * The hardware and platform are reached only through the ports below; `@updraft/sim` implements
 * them for simulated devices, `adapters/file` for Linux devices with file- or block-device slots.
 */

export {
  FileComponentHandler,
  type FileComponentOptions,
} from './adapters/file/file-component-handler.js';
export { FileDeviceKey, FileDeviceKeyHolder } from './adapters/file/file-device-key.js';
export { FileSlot, type FileSlotOptions } from './adapters/file/file-slot.js';
export { FileStateStore } from './adapters/file/file-state-store.js';
export { JsonBootControl, type JsonBootControlOptions } from './adapters/file/json-boot-control.js';
export { GrubEnv, type GrubEnvOptions } from './adapters/grub/grub-env.js';
export {
  GrubEnvBootControl,
  type GrubEnvBootControlOptions,
} from './adapters/grub/grub-env-boot-control.js';
export { DEFAULT_GRUB_VARIABLES, type GrubVariables } from './adapters/grub/grub-variables.js';
export { HttpTransport, type HttpTransportOptions } from './adapters/http/http-transport.js';
export {
  type MqttConnectionOptions,
  openMqttConnection,
} from './adapters/mqtt/mqtt-connection.js';
export {
  type MqttPacket,
  MqttTransport,
  type MqttTransportClient,
  type MqttTransportOptions,
} from './adapters/mqtt/mqtt-transport.js';
export { PushChannel, type PushCredentials } from './adapters/mqtt/push-channel.js';
export { subscribePush } from './adapters/mqtt/push-subscriber.js';
export {
  type RaucBundleInfo,
  RaucClient,
  type RaucClientOptions,
  type RaucImage,
  type RaucSlotStatus,
  type RaucStatus,
} from './adapters/rauc/rauc-client.js';
export {
  RaucComponentHandler,
  type RaucComponentOptions,
} from './adapters/rauc/rauc-component-handler.js';
export { systemClock } from './adapters/system/system-clock.js';
export { UBootEnv, type UBootEnvOptions } from './adapters/uboot/uboot-env.js';
export {
  UBootEnvBootControl,
  type UBootEnvBootControlOptions,
} from './adapters/uboot/uboot-env-boot-control.js';
export {
  BOOT_TRIAL_EXHAUSTED,
  DEFAULT_UBOOT_VARIABLES,
  type UBootVariables,
} from './adapters/uboot/uboot-variables.js';
export { Agent, type RunResult, systemRandom } from './agent.js';
export { type AgentOptions, DEFAULT_AGENT_OPTIONS } from './agent-options.js';
export { fullJitterDelay } from './backoff.js';
export {
  type AgentConfig,
  type AgentConfigOverrides,
  type BootControlConfig,
  type ComponentConfig,
  loadAgentConfig,
  parseAgentConfig,
} from './config/agent-config.js';
export * from './errors.js';
export {
  type FileDevice,
  type FileDeviceHooks,
  openFileDevice,
  runFileAgent,
} from './file-agent.js';
export {
  type EnrollmentCredentials,
  EstClient,
  type EstClientOptions,
} from './identity/est-client.js';
export {
  IdentityRotation,
  type IdentityRotationOptions,
  type RenewalOutcome,
} from './identity/identity-rotation.js';
export { type DeviceIdentity, IdentityStore } from './identity/identity-store.js';
export { PinnedCa } from './identity/pinned-ca.js';
export { buildCsr } from './identity/x509.js';
export { coreDecryptor } from './install/core-decryptor.js';
export { type CoreVerifierOptions, coreVerifier } from './install/core-verifier.js';
export type {
  Decryptor,
  EnvelopeVerifier,
  PayloadDecipher,
  VerifiedComponent,
  VerifiedUpdate,
} from './install/envelope-verifier.js';
export { SlotWriter } from './install/slot-writer.js';
export { decodeJournal, encodeJournal, type Journal } from './journal/journal.js';
export { RollbackFloor, type RollbackFloorRecord } from './journal/rollback-floor.js';
export * from './machine/agent-states.js';
export type { AgentDeps, Handler, Handlers } from './machine/handler-context.js';
export { TRANSITIONS, type Transition } from './machine/transitions.js';
export * from './ports/index.js';
