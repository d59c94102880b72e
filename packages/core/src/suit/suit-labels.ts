/**
 * SUIT numbers (draft-ietf-suit-manifest, with the trust-domains, update-management and
 * firmware-encryption extensions where the shared vectors use them). Names follow the drafts.
 */

/** SUIT_Envelope members. */
export const ENVELOPE_KEY = {
  delegation: 1,
  authenticationWrapper: 2,
  manifest: 3,
  coswid: 14,
  dependencyResolution: 15,
  payloadFetch: 16,
  install: 20,
  text: 23,
} as const;

/** CBOR tag of SUIT_Envelope_Tagged. */
export const SUIT_ENVELOPE_TAG = 107;

/** SUIT_Manifest members. */
export const MANIFEST_KEY = {
  version: 1,
  sequenceNumber: 2,
  common: 3,
  referenceUri: 4,
  manifestComponentId: 5, // trust domains
  setVersion: 6, // update management
  validate: 7,
  load: 8,
  invoke: 9,
  coswid: 14, // update management (severable)
  dependencyResolution: 15, // trust domains (severable)
  payloadFetch: 16,
  candidateVerification: 18, // trust domains
  install: 20,
  text: 23,
  uninstall: 24, // trust domains
} as const;

/** Manifest members that may be severed: the manifest holds either the member or its SUIT_Digest. */
export const SEVERABLE_MEMBERS = [
  'coswid',
  'dependencyResolution',
  'payloadFetch',
  'install',
  'text',
] as const;
export type SeverableMember = (typeof SEVERABLE_MEMBERS)[number];

/** SUIT_Common members. */
export const COMMON_KEY = { dependencies: 1, components: 2, sharedSequence: 4 } as const;

/** Conditions (each takes a SUIT_Rep_Policy). */
export const CONDITION = {
  vendorIdentifier: 1,
  classIdentifier: 2,
  imageMatch: 3,
  useBefore: 4, // update management
  componentSlot: 5,
  checkContent: 6,
  dependencyIntegrity: 7, // trust domains
  isDependency: 8, // trust domains
  abort: 14,
  deviceIdentifier: 24,
  imageNotMatch: 25, // update management
  minimumBattery: 26, // update management
  updateAuthorized: 27, // update management
  version: 28, // update management
} as const;

/** Directives. */
export const DIRECTIVE = {
  processDependency: 11, // trust domains
  setComponentIndex: 12,
  tryEach: 15,
  write: 18,
  setParameters: 19, // trust domains
  overrideParameters: 20,
  fetch: 21,
  copy: 22,
  invoke: 23,
  wait: 29, // update management
  swap: 31,
  runSequence: 32,
  unlink: 33, // trust domains
  overrideMultiple: 34, // update management
  copyParams: 35, // update management
} as const;

/** SUIT parameters. */
export const PARAMETER = {
  vendorIdentifier: 1,
  classIdentifier: 2,
  imageDigest: 3,
  useBefore: 4, // update management
  componentSlot: 5,
  strictOrder: 12,
  softFailure: 13,
  imageSize: 14,
  content: 18,
  encryptionInfo: 19, // firmware encryption
  uri: 21,
  sourceComponent: 22,
  invokeArgs: 23,
  deviceIdentifier: 24,
  minimumBattery: 26, // update management
  updatePriority: 27, // update management
  version: 28, // update management
  waitInfo: 29, // update management
} as const;

/** SUIT_Text_Map keys (per language) and per-component keys. */
export const TEXT_KEY = {
  manifestDescription: 1,
  updateDescription: 2,
  manifestJsonSource: 3,
  manifestYamlSource: 4,
} as const;
export const TEXT_COMPONENT_KEY = {
  vendorName: 1,
  modelName: 2,
  vendorDomain: 3,
  modelInfo: 4,
  componentDescription: 5,
  componentVersion: 6,
  versionRequired: 7,
} as const;

const invert = (o: Record<string, number>): ReadonlyMap<number, string> =>
  new Map(Object.entries(o).map(([k, v]) => [v, k]));

/** Names of command codes (conditions and directives) for messages and reports. */
export const COMMAND_NAMES: ReadonlyMap<number, string> = new Map([
  ...[...invert(CONDITION)].map(([k, v]) => [k, `condition-${kebab(v)}`] as const),
  ...[...invert(DIRECTIVE)].map(([k, v]) => [k, `directive-${kebab(v)}`] as const),
]);
/** Names of parameters for messages. */
export const PARAMETER_NAMES: ReadonlyMap<number, string> = new Map(
  [...invert(PARAMETER)].map(([k, v]) => [k, kebab(v)] as const),
);

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A printable name of a command code, e.g. "directive-fetch" or "command 99". */
export function commandName(code: number): string {
  return COMMAND_NAMES.get(code) ?? (code < 0 ? `custom-command ${code}` : `command ${code}`);
}
