import type { DeviceClassView, DeviceSummary, Release } from '@updraft/server';
import { ApiClient } from './api-client.js';
import { cliConfigPath, readCliConfig } from './cli-config.js';
import type { CommandArgs } from './command-args.js';
import type { CommandContext } from './command-context.js';
import { CliError } from './errors.js';
import { readInput } from './read-input.js';

/**
 * A management-API client for a service command: `--server`/`--token` (or `UPDRAFT_SERVER`/
 * `UPDRAFT_TOKEN`), else what `updraft login` stored. Without both: `CLI_NOT_LOGGED_IN`.
 */
export async function serviceClient(ctx: CommandContext, args: CommandArgs): Promise<ApiClient> {
  const config = await readCliConfig(
    cliConfigPath(ctx.io, optionalPath(ctx, args.string('config'))),
  );
  const server = args.string('server') ?? config.server;
  // The stored token belongs to the stored server: never send it to another one.
  const sameServer =
    server !== undefined && config.server !== undefined && sameOrigin(server, config.server);
  const token = args.string('token') ?? (sameServer ? config.token : undefined);
  if (server === undefined || token === undefined) {
    throw new CliError(
      'CLI_NOT_LOGGED_IN',
      'not logged in: run `updraft login --server <url>` or pass --server and --token',
    );
  }
  return new ApiClient(server, token, await extraCas(ctx, args));
}

/**
 * The CAs to trust besides the system roots: `--ca-file` (`UPDRAFT_CA_FILE`) and, when one is
 * given, the `NODE_EXTRA_CA_CERTS` file too (naming CAs replaces Node's default store, which is
 * where Node put those). Without `--ca-file`, Node's fetch trusts `NODE_EXTRA_CA_CERTS` itself.
 */
export async function extraCas(ctx: CommandContext, args: CommandArgs): Promise<string[]> {
  const caFile = args.string('ca-file');
  if (caFile === undefined) return [];
  const files = [ctx.path(caFile)];
  const nodeExtra = ctx.io.env.NODE_EXTRA_CA_CERTS;
  if (nodeExtra !== undefined && nodeExtra !== '') files.push(ctx.path(nodeExtra));
  const pems: string[] = [];
  for (const file of files) {
    const text = (await readInput(file, 'CA file')).toString('utf8');
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
    if (blocks === null)
      throw new CliError('CLI_USAGE', `${file} holds no PEM certificate`, { details: { file } });
    pems.push(...blocks);
  }
  return pems;
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/** `--config` resolved against the working directory. */
export function optionalPath(ctx: CommandContext, path: string | undefined): string | undefined {
  return path === undefined ? undefined : ctx.path(path);
}

/** Finds a device class by its id or its name (ids win). */
export async function resolveClass(api: ApiClient, idOrName: string): Promise<DeviceClassView> {
  const { items } = await api.json<{ items: DeviceClassView[] }>('/api/v1/device-classes');
  const found = items.find((c) => c.id === idOrName) ?? items.find((c) => c.name === idOrName);
  if (found === undefined) {
    throw new CliError('CLI_USAGE', `no device class with id or name "${idOrName}"`, {
      details: { class: idOrName },
    });
  }
  return found;
}

/** Path segment, escaped: ids come from users and must not change the route. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

/** Fixed-width text table for human output. */
export function table(
  headers: readonly string[],
  rows: ReadonlyArray<readonly (string | number | null)[]>,
): string {
  if (rows.length === 0) return '(none)';
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (c ?? '').padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The service's device classes, by id: lists show class names, not ids. */
export async function classNames(api: ApiClient): Promise<ReadonlyMap<string, string>> {
  const { items } = await api.json<{ items: DeviceClassView[] }>('/api/v1/device-classes');
  return new Map(items.map((c) => [c.id, c.name]));
}

/** A device id: ids are used as given, anything else is looked up as a device name. */
export async function resolveDeviceId(api: ApiClient, idOrName: string): Promise<string> {
  if (/^dev_/.test(idOrName)) return idOrName;
  return (await findDeviceByName(api, idOrName)).id;
}

/** A device by its id or its name. */
export async function resolveDevice(api: ApiClient, idOrName: string): Promise<DeviceSummary> {
  if (/^dev_/.test(idOrName)) return api.json<DeviceSummary>(`/api/v1/devices/${seg(idOrName)}`);
  return findDeviceByName(api, idOrName);
}

async function findDeviceByName(api: ApiClient, name: string): Promise<DeviceSummary> {
  const page = await api.json<{ items: DeviceSummary[] }>('/api/v1/devices', {
    query: { namePrefix: name, limit: 500 },
  });
  const found = page.items.find((d) => d.name === name);
  if (found === undefined) throw new CliError('CLI_USAGE', `no device with id or name "${name}"`);
  return found;
}

/**
 * A release id: ids are used as given, anything else is looked up as a version, within
 * `deviceClassId` when given (two classes may both have a 1.1.0). The version must then name
 * exactly one release.
 */
export async function resolveReleaseId(
  api: ApiClient,
  idOrVersion: string,
  deviceClassId?: string,
): Promise<string> {
  if (/^rel_/.test(idOrVersion)) return idOrVersion;
  const { items } = await api.json<{ items: Release[] }>('/api/v1/releases', {
    query: { deviceClassId, limit: 500 },
  });
  const matches = items.filter((r) => r.version === idOrVersion);
  if (matches.length !== 1) {
    const where = deviceClassId === undefined ? '' : ` in class ${deviceClassId}`;
    throw new CliError(
      'CLI_USAGE',
      matches.length === 0
        ? `no release with id or version "${idOrVersion}"${where}`
        : `version ${idOrVersion} names ${matches.length} releases: give the release id or --class`,
      {
        details: {
          release: idOrVersion,
          ...(deviceClassId === undefined ? {} : { deviceClassId }),
        },
      },
    );
  }
  return matches[0]!.id;
}
