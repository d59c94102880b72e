import { ApiClient } from './api-client.js';
import { cliConfigPath, readCliConfig } from './cli-config.js';
import type { CommandArgs } from './command-args.js';
import type { CommandContext } from './command-context.js';
import { CliError } from './errors.js';

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
  return new ApiClient(server, token);
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

/** A device class as the service describes it. */
export interface DeviceClassView {
  readonly id: string;
  readonly name: string;
  readonly vendorId: string;
  readonly classId: string;
  readonly vendorName: string | null;
  readonly modelName: string | null;
  readonly createdAt: string;
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

/** A device id: ids are used as given, anything else is looked up as a device name. */
export async function resolveDeviceId(api: ApiClient, idOrName: string): Promise<string> {
  if (/^dev_/.test(idOrName)) return idOrName;
  const page = await api.json<{ items: Array<{ id: string; name: string }> }>('/api/v1/devices', {
    query: { namePrefix: idOrName, limit: 500 },
  });
  const found = page.items.find((d) => d.name === idOrName);
  if (found === undefined)
    throw new CliError('CLI_USAGE', `no device with id or name "${idOrName}"`);
  return found.id;
}

/** A release id: ids are used as given, anything else is looked up as a version (must be unique). */
export async function resolveReleaseId(api: ApiClient, idOrVersion: string): Promise<string> {
  if (/^rel_/.test(idOrVersion)) return idOrVersion;
  const { items } = await api.json<{ items: Array<{ id: string; version: string }> }>(
    '/api/v1/releases',
    {
      query: { limit: 500 },
    },
  );
  const matches = items.filter((r) => r.version === idOrVersion);
  if (matches.length !== 1) {
    throw new CliError(
      'CLI_USAGE',
      matches.length === 0
        ? `no release with id or version "${idOrVersion}"`
        : `version ${idOrVersion} names ${matches.length} releases: give the release id`,
    );
  }
  return matches[0]!.id;
}
