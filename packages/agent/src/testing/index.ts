/**
 * `@updraft/agent/testing`: helpers for tests of code that embeds or implements the agent's ports:
 * the port contract suites (every `Slot`, `StateStore` and `BootControl` implementation runs
 * them), a scriptable device API server, and real signed SUIT releases for it. Test code only:
 * nothing here is used by the agent on a device, and nothing here imports a test framework.
 */

export {
  GRUB_CASES,
  type GrubBoot,
  type GrubCase,
  simulateGrubBoot,
} from '../adapters/grub/grub-boot-script.js';
export {
  simulateUBootBoot,
  UBOOT_BOOT_DECISION,
  UBOOT_COMMANDS,
  type UBootBoot,
  type UBootCommand,
  type UBootDecisionRow,
} from '../adapters/uboot/uboot-boot-script.js';
export {
  type BootControlContractOptions,
  type BootControlSubject,
  runBootControlContract,
} from './boot-control.contract.js';
export {
  createFileUBootEnv,
  createGrubEnv,
  type FileUBootEnv,
  missingTools,
} from './boot-env-fixtures.js';
export type { ContractRunner } from './contract-runner.js';
export {
  DeviceApiServer,
  type RequestRecord,
  type ServerFaults,
  type TestRelease,
} from './device-api-server.js';
export {
  createRaucBundle,
  createRaucSigner,
  type RaucSession,
  type RaucSigner,
  type RaucTestSlot,
  startRaucSession,
  writeRaucSystemConf,
} from './rauc-fixtures.js';
export {
  CLASS,
  RELEASE_KEY,
  signedEnvelope,
  type TestManifest,
  testVerifier,
  VENDOR,
  withBadSignature,
} from './signed-release.js';
export { runSlotContract, type SlotContractOptions } from './slot.contract.js';
export {
  runStateStoreContract,
  type StateStoreContractOptions,
  type StateStoreSubject,
} from './state-store.contract.js';
