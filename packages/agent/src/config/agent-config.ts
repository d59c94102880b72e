import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { GrubVariables } from '../adapters/grub/grub-variables.js';
import type { UBootVariables } from '../adapters/uboot/uboot-variables.js';
import { AgentError } from '../errors.js';

/**
 * Which boot control switches the A/B slots (docs/agent.md, "Choosing the boot control").
 * Tool paths are absolute, or null: the tool found on PATH.
 */
export type BootControlConfig =
  /** `stateDir/boot-state.json`, booted by the agent itself (a launcher; tests). The default. */
  | { readonly kind: 'json' }
  /** The U-Boot environment through `fw_printenv`/`fw_setenv -c <fwEnvConfig>`. */
  | {
      readonly kind: 'uboot';
      readonly fwEnvConfig: string;
      readonly printenv: string | null;
      readonly setenv: string | null;
      readonly variables: Partial<UBootVariables>;
    }
  /** The GRUB environment block through `grub-editenv <grubenv>`. */
  | {
      readonly kind: 'grub';
      readonly grubenv: string;
      readonly editenv: string | null;
      readonly variables: Partial<GrubVariables>;
    };

/** A component other than the main image, by how it is installed. */
export type ComponentConfig =
  /** Written to a file (configuration blob, co-processor image): `FileComponentHandler`. */
  | {
      readonly installer: 'file';
      readonly id: string;
      readonly path: string;
      readonly maxSize: number;
    }
  /** A signed RAUC bundle handed to `rauc install`: `RaucComponentHandler`. */
  | {
      readonly installer: 'rauc';
      readonly id: string;
      /** RAUC's `system.conf` (`rauc --conf`). */
      readonly systemConf: string;
      /** The `rauc` binary (absolute), or null: found on PATH. */
      readonly rauc: string | null;
      /** Largest bundle accepted. */
      readonly maxSize: number;
      /** The handler's own folder (staging file, bundle, revert record): `stateDir/rauc-<id>`. */
      readonly dir: string;
      readonly installTimeoutMs: number;
    };

/** The validated configuration of a Linux agent (`updraft agent run --config <file>`). */
export interface AgentConfig {
  readonly server: {
    readonly url: string;
    /** Bearer token; null when the device authenticates with its certificate only. */
    readonly token: string | null;
    /**
     * PEM of the pinned CA (the tenant's issuing CA or the root, never a leaf): the only trust
     * anchor for the service, at TLS 1.3. With it the device enrolls and then uses mutual TLS.
     */
    readonly caFile: string | null;
    /**
     * PEM of the CA for direct downloads on other hosts (object store, CDN); null: the system's
     * trust store. Never used for the service itself (that is `caFile`, the pin).
     */
    readonly downloadCaFile: string | null;
  };
  /** How the device gets its first certificate (EST `simpleenroll`); null: no enrollment. */
  readonly enrollment:
    | { readonly token: string }
    | { readonly birthCertificateFile: string; readonly birthKeyFile: string }
    | null;
  /** Renew the certificate when less than this fraction of its lifetime is left. */
  readonly renewAtFraction: number;
  readonly device: {
    /** The device's name at the service (certificate CN, EST Basic user); null = from the birth certificate. */
    readonly name: string | null;
    /** UUID text. */
    readonly vendorId: string;
    readonly classId: string;
    readonly attributes: Readonly<Record<string, string | number | boolean>>;
  };
  /** PEM files of the public keys allowed to sign firmware for this device. */
  readonly trustedKeyFiles: readonly string[];
  /** Raw AES key-encryption key (16 or 32 bytes) or a PEM private key for ECDH-ES; optional. */
  readonly deviceKeyFile: string | null;
  /** Holds the journal and the boot state. */
  readonly stateDir: string;
  readonly slots: {
    readonly a: { readonly path: string; readonly size: number };
    readonly b: { readonly path: string; readonly size: number };
    readonly sectorSize: number;
  };
  readonly mainComponent: string;
  /** How the slots are switched at boot (`bootControl` in the file; default `{ kind: 'json' }`). */
  readonly bootControl: BootControlConfig;
  /** Other components: files (configuration blobs, co-processor images) or RAUC bundles. */
  readonly components: readonly ComponentConfig[];
  /** What runs before the first update. */
  readonly installed: {
    readonly version: string;
    readonly sequenceNumber: number;
    /**
     * Bytes of the factory image at the start of slot `a`, so its SHA-256 can be reported (delta
     * bases match on it). Null: the length of slot a's file before the agent first sized it.
     */
    readonly size: number | null;
  };
  readonly rebootCommand: readonly string[] | null;
  readonly stallTimeoutMs: number;
  readonly defaultPollIntervalMs: number;
  /** Download checkpoint interval (fsync + journal save), bytes. */
  readonly checkpointBytes: number;
  /**
   * Health check after a trial boot: this command (no shell) must exit 0 within the timeout;
   * null = healthy once the agent runs.
   */
  readonly healthCheckCommand: readonly string[] | null;
  readonly healthCheckTimeoutMs: number;
}

const ROOT_KEYS = [
  'server',
  'enrollment',
  'renewAtFraction',
  'device',
  'trustedKeys',
  'deviceKeyFile',
  'stateDir',
  'slots',
  'mainComponent',
  'bootControl',
  'components',
  'installed',
  'rebootCommand',
  'stallTimeoutSeconds',
  'pollIntervalSeconds',
  'checkpointBytes',
  'healthCheckCommand',
  'healthCheckTimeoutSeconds',
];
const UBOOT_VARIABLES = ['slot', 'upgradeAvailable', 'bootcount', 'bootlimit', 'failure'];
const GRUB_VARIABLES = ['savedEntry', 'nextEntry', 'trial', 'failure'];
/** What `fw_setenv` and `grub-editenv` accept as a variable name (the adapters check it too). */
const UBOOT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const GRUB_NAME = /^[A-Za-z0-9_]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^(?:[0-9a-f]{2})+$/;

/**
 * Checks a parsed config object and reports every problem at once (`AGENT_CONFIG_INVALID` with
 * `details.problems`). Relative paths are resolved against `baseDir` (the config file's folder).
 */
export function parseAgentConfig(value: unknown, baseDir: string): AgentConfig {
  const problems: string[] = [];
  const root = obj(value, 'config', problems);
  onlyKeys(root, ROOT_KEYS, '', problems);
  const server = obj(root.server, 'server', problems);
  const device = obj(root.device, 'device', problems);
  const slots = obj(root.slots, 'slots', problems);
  const installed = obj(root.installed ?? {}, 'installed', problems);
  const path = (v: unknown, name: string): string => {
    const text = str(v, name, problems);
    if (text.includes('\0')) problems.push(`${name}: must not contain a NUL character`);
    return resolve(baseDir, text);
  };

  const url = str(server.url, 'server.url', problems);
  if (url && !/^https?:\/\//.test(url))
    problems.push('server.url: must start with http:// or https://');
  const caFile = server.caFile === undefined ? null : path(server.caFile, 'server.caFile');
  const downloadCaFile =
    server.downloadCaFile === undefined
      ? null
      : path(server.downloadCaFile, 'server.downloadCaFile');
  const enrollRaw =
    root.enrollment === undefined ? null : obj(root.enrollment, 'enrollment', problems);
  let enrollment: AgentConfig['enrollment'] = null;
  if (enrollRaw !== null) {
    if (enrollRaw.token !== undefined) {
      enrollment = { token: str(enrollRaw.token, 'enrollment.token', problems) };
    } else {
      enrollment = {
        birthCertificateFile: path(
          enrollRaw.birthCertificateFile,
          'enrollment.birthCertificateFile',
        ),
        birthKeyFile: path(enrollRaw.birthKeyFile, 'enrollment.birthKeyFile'),
      };
    }
    if (caFile === null)
      problems.push('enrollment: needs server.caFile (EST runs over pinned TLS)');
  }
  // Without a certificate to come, the device authenticates with its token.
  const token =
    server.token === undefined && caFile !== null
      ? null
      : str(server.token, 'server.token', problems);
  if (caFile !== null && url && !url.startsWith('https://')) {
    problems.push('server.url: must be https:// with server.caFile');
  }
  const deviceName = device.name === undefined ? null : str(device.name, 'device.name', problems);
  if (enrollment !== null && 'token' in enrollment && deviceName === null) {
    problems.push('device.name: needed to enroll with a token');
  }
  const renewAtFraction = root.renewAtFraction ?? 1 / 3;
  if (typeof renewAtFraction !== 'number' || !(renewAtFraction > 0 && renewAtFraction < 1)) {
    problems.push('renewAtFraction: must be a number between 0 and 1');
  }
  const vendorId = str(device.vendorId, 'device.vendorId', problems);
  const classId = str(device.classId, 'device.classId', problems);
  for (const [name, id] of [
    ['device.vendorId', vendorId],
    ['device.classId', classId],
  ] as const) {
    if (id && !UUID.test(id)) problems.push(`${name}: must be a UUID`);
  }
  const attributes = obj(device.attributes ?? {}, 'device.attributes', problems);
  for (const [k, v] of Object.entries(attributes)) {
    if (!['string', 'number', 'boolean'].includes(typeof v)) {
      problems.push(`device.attributes.${k}: must be a string, number or boolean`);
    }
  }
  const keys = Array.isArray(root.trustedKeys) ? root.trustedKeys : [];
  if (keys.length === 0) problems.push('trustedKeys: list at least one public key file');
  const trustedKeyFiles = keys.map((k, i) => path(k, `trustedKeys[${i}]`));
  const slot = (v: unknown, name: string) => {
    const s = obj(v, name, problems);
    return { path: path(s.path, `${name}.path`), size: int(s.size, `${name}.size`, problems, 1) };
  };
  const a = slot(slots.a, 'slots.a');
  const b = slot(slots.b, 'slots.b');
  const sectorSize = int(slots.sectorSize ?? 1024 * 1024, 'slots.sectorSize', problems, 512);
  if (a.path === b.path) problems.push('slots: a and b must be different files');
  const mainComponent = str(root.mainComponent ?? '814100', 'mainComponent', problems);
  if (mainComponent && !HEX.test(mainComponent))
    problems.push('mainComponent: must be lowercase hex');
  const stateDir = path(root.stateDir, 'stateDir');
  const bootControl = parseBootControl(root.bootControl, path, problems);
  const rebootCommand = stringList(root.rebootCommand, 'rebootCommand', problems);
  if (bootControl.kind !== 'json' && rebootCommand === null) {
    problems.push(
      `rebootCommand: needed with bootControl.kind ${bootControl.kind} (only a reboot runs the boot loader)`,
    );
  }
  const rawComponents = root.components ?? [];
  if (!Array.isArray(rawComponents)) problems.push('components: must be a list');
  const components = (Array.isArray(rawComponents) ? rawComponents : []).map(
    (c, i): ComponentConfig => {
      const at = `components[${i}]`;
      const o = obj(c, at, problems);
      const id = str(o.id, `${at}.id`, problems);
      if (id && !HEX.test(id)) problems.push(`${at}.id: must be lowercase hex`);
      const maxSize = int(o.maxSize, `${at}.maxSize`, problems, 1);
      const installer = o.installer ?? 'file';
      if (installer === 'rauc') {
        onlyKeys(
          o,
          ['id', 'installer', 'systemConf', 'rauc', 'maxSize', 'installTimeoutSeconds'],
          at,
          problems,
        );
        return {
          installer,
          id,
          systemConf: path(o.systemConf, `${at}.systemConf`),
          rauc: tool(o.rauc, `${at}.rauc`, problems),
          maxSize,
          dir: resolve(stateDir || baseDir, `rauc-${id}`),
          installTimeoutMs:
            1000 * int(o.installTimeoutSeconds ?? 1800, `${at}.installTimeoutSeconds`, problems, 1),
        };
      }
      if (installer !== 'file') problems.push(`${at}.installer: must be "file" or "rauc"`);
      onlyKeys(o, ['id', 'installer', 'path', 'maxSize'], at, problems);
      return { installer: 'file', id, path: path(o.path, `${at}.path`), maxSize };
    },
  );
  const ids = [mainComponent, ...components.map((c) => c.id)].filter(Boolean);
  if (new Set(ids).size !== ids.length) {
    problems.push('components: every id must differ from the others and from mainComponent');
  }
  const config: AgentConfig = {
    server: { url, token, caFile, downloadCaFile },
    enrollment,
    renewAtFraction: renewAtFraction as number,
    device: {
      name: deviceName,
      vendorId,
      classId,
      attributes: attributes as AgentConfig['device']['attributes'],
    },
    trustedKeyFiles,
    deviceKeyFile:
      root.deviceKeyFile === undefined ? null : path(root.deviceKeyFile, 'deviceKeyFile'),
    stateDir,
    slots: { a, b, sectorSize },
    mainComponent,
    bootControl,
    components,
    installed: {
      version: str(installed.version ?? '0.0.0', 'installed.version', problems),
      sequenceNumber: int(installed.sequenceNumber ?? 0, 'installed.sequenceNumber', problems, 0),
      size:
        installed.size === undefined ? null : int(installed.size, 'installed.size', problems, 1),
    },
    rebootCommand,
    stallTimeoutMs: 1000 * int(root.stallTimeoutSeconds ?? 30, 'stallTimeoutSeconds', problems, 1),
    defaultPollIntervalMs:
      1000 * int(root.pollIntervalSeconds ?? 300, 'pollIntervalSeconds', problems, 1),
    checkpointBytes: int(
      root.checkpointBytes ?? 8 * 1024 * 1024,
      'checkpointBytes',
      problems,
      4096,
    ),
    healthCheckCommand: stringList(root.healthCheckCommand, 'healthCheckCommand', problems),
    healthCheckTimeoutMs:
      1000 * int(root.healthCheckTimeoutSeconds ?? 60, 'healthCheckTimeoutSeconds', problems, 1),
  };
  if (problems.length > 0) {
    // `{ path, message }` items: the CLI prints one line per problem.
    const items = problems.map((p) => {
      const at = p.indexOf(': ');
      return { path: p.slice(0, at), message: p.slice(at + 2) };
    });
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `invalid agent config (${items.length} problems)`,
      {
        details: { problems: items },
      },
    );
  }
  return Object.freeze(config);
}

/** Command-line settings that win over the file's (`updraft agent run --ca-file …`); absolute paths. */
export interface AgentConfigOverrides {
  readonly caFile?: string;
  readonly enrollment?: { token: string } | { birthCertificateFile: string; birthKeyFile: string };
}

/** Reads and checks a JSON config file, with `overrides` applied before the check. */
export async function loadAgentConfig(
  file: string,
  overrides: AgentConfigOverrides = {},
): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new AgentError('AGENT_CONFIG_INVALID', `cannot read ${file}`, { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new AgentError('AGENT_CONFIG_INVALID', `${file} is not valid JSON`, { cause });
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const root = value as Record<string, unknown>;
    if (overrides.caFile !== undefined) {
      root.server = { ...(root.server as Record<string, unknown>), caFile: overrides.caFile };
    }
    if (overrides.enrollment !== undefined) root.enrollment = overrides.enrollment;
  }
  return parseAgentConfig(value, dirname(resolve(file)));
}

function parseBootControl(
  value: unknown,
  path: (v: unknown, name: string) => string,
  problems: string[],
): BootControlConfig {
  if (value === undefined) return { kind: 'json' };
  const o = obj(value, 'bootControl', problems);
  switch (o.kind) {
    case 'json':
      onlyKeys(o, ['kind'], 'bootControl', problems);
      return { kind: 'json' };
    case 'uboot':
      onlyKeys(
        o,
        ['kind', 'fwEnvConfig', 'printenv', 'setenv', 'variables'],
        'bootControl',
        problems,
      );
      return {
        kind: 'uboot',
        fwEnvConfig: path(o.fwEnvConfig, 'bootControl.fwEnvConfig'),
        printenv: tool(o.printenv, 'bootControl.printenv', problems),
        setenv: tool(o.setenv, 'bootControl.setenv', problems),
        variables: variables(o.variables, UBOOT_VARIABLES, UBOOT_NAME, problems),
      };
    case 'grub':
      onlyKeys(o, ['kind', 'grubenv', 'editenv', 'variables'], 'bootControl', problems);
      return {
        kind: 'grub',
        grubenv: path(o.grubenv, 'bootControl.grubenv'),
        editenv: tool(o.editenv, 'bootControl.editenv', problems),
        variables: variables(o.variables, GRUB_VARIABLES, GRUB_NAME, problems),
      };
    default:
      problems.push('bootControl.kind: must be "json", "uboot" or "grub"');
      return { kind: 'json' };
  }
}

/** Variable names: known roles only, names the tool accepts, no two roles on one variable. */
function variables(
  value: unknown,
  roles: readonly string[],
  pattern: RegExp,
  problems: string[],
): Record<string, string> {
  if (value === undefined) return {};
  const o = obj(value, 'bootControl.variables', problems);
  onlyKeys(o, roles, 'bootControl.variables', problems);
  const out: Record<string, string> = {};
  for (const role of roles) {
    const name = o[role];
    if (name === undefined) continue;
    if (typeof name !== 'string' || !pattern.test(name)) {
      problems.push(`bootControl.variables.${role}: must be a variable name matching ${pattern}`);
    } else {
      out[role] = name;
    }
  }
  const names = Object.values(out);
  if (new Set(names).size !== names.length) {
    problems.push('bootControl.variables: two roles name the same variable');
  }
  return out;
}

/** A tool's binary: absolute (no PATH search, no relative surprise), or null when not given. */
function tool(v: unknown, name: string, problems: string[]): string | null {
  if (v === undefined) return null;
  if (typeof v === 'string' && isAbsolute(v) && v.length <= 4096 && !v.includes('\0')) return v;
  problems.push(`${name}: must be an absolute path (leave it out to find the tool on PATH)`);
  return null;
}

/** Reports keys of `o` not in `known` (a misspelled setting would otherwise be ignored). */
function onlyKeys(
  o: Record<string, unknown>,
  known: readonly string[],
  at: string,
  problems: string[],
): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) problems.push(`${at ? `${at}.` : ''}${key}: unknown setting`);
  }
}

function stringList(v: unknown, name: string, problems: string[]): string[] | null {
  if (v === undefined || v === null) return null;
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0)) {
    return v as string[];
  }
  problems.push(`${name}: must be a non-empty list of strings`);
  return null;
}

function obj(v: unknown, name: string, problems: string[]): Record<string, unknown> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  problems.push(`${name}: must be an object`);
  return {};
}

function str(v: unknown, name: string, problems: string[]): string {
  if (typeof v === 'string' && v.length > 0 && v.length <= 4096) return v;
  problems.push(`${name}: must be a non-empty string`);
  return '';
}

function int(v: unknown, name: string, problems: string[], min: number): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= min) return v;
  problems.push(`${name}: must be an integer >= ${min}`);
  return min;
}
