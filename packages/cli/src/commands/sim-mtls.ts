import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EstClient,
  FileDeviceKeyHolder,
  type IdentityStore,
  PinnedCa,
  IdentityStore as Store,
  systemClock,
} from '@updraft/agent';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { readInput } from '../read-input.js';
import { serviceClient } from '../service.js';

/** Enrolled identities of a simulated fleet (`sim fleet --mtls`). */
export interface SimIdentities {
  readonly pinnedCa: PinnedCa;
  /** One per device, in fleet order. */
  readonly stores: readonly IdentityStore[];
  /** Removes the devices' key folders. */
  close(): Promise<void>;
}

// Enrollments in flight at once: each one is a TLS handshake and a CA signature on the service.
const ENROLL_CONCURRENCY = 16;

/**
 * Enrolls the named devices the way real ones do: a one-time token per device from the
 * management API (`POST /api/v1/pki/enrollment-tokens`, as the logged-in user), then EST
 * `simpleenroll` with a P-256 key made for the device (kept in a temporary folder for the run),
 * over TLS 1.3 pinned to `--ca-file`. The devices then check in over mutual TLS.
 */
export async function enrollSimDevices(
  ctx: CommandContext,
  args: CommandArgs,
  server: string,
  names: readonly string[],
): Promise<SimIdentities> {
  const caFile = args.string('ca-file');
  if (caFile === undefined) throw new CliError('CLI_USAGE', '--mtls needs --ca-file');
  const pinnedCa = PinnedCa.parse((await readInput(ctx.path(caFile), 'CA file')).toString('utf8'));
  const api = await serviceClient(ctx, args);
  const est = new EstClient({ baseUrl: server, pinnedCa, clock: systemClock });
  const root = await mkdtemp(join(tmpdir(), 'updraft-sim-identities-'));
  const close = () => rm(root, { recursive: true, force: true });
  const stores: IdentityStore[] = new Array(names.length);
  try {
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < names.length; i = next++) {
        const name = names[i]!;
        const { token } = await api.json<{ token: string }>('/api/v1/pki/enrollment-tokens', {
          method: 'POST',
          body: { device: name },
        });
        const dir = join(root, String(i));
        const store = await Store.open(dir, new FileDeviceKeyHolder(dir));
        await store.install(await est.enroll(name, await store.pendingKey(), { token }));
        stores[i] = store;
      }
    };
    await Promise.all(Array.from({ length: Math.min(ENROLL_CONCURRENCY, names.length) }, worker));
  } catch (error) {
    await close();
    throw error;
  }
  return { pinnedCa, stores, close };
}
