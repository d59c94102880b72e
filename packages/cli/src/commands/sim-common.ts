// Shared by `updraft sim device` and `updraft sim fleet`: what a simulated device is made of,
// read from the command line, and where its updates come from (a real service, or --offline).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  type Clock,
  coreVerifier,
  decodeJournal,
  type EnvelopeVerifier,
  HttpTransport,
  type Journal,
  systemClock,
  type Transport,
} from '@updraft/agent';
import { isUpdraftError } from '@updraft/core';
import {
  AgentApplication,
  BoundedClock,
  buildReleaseEnvelope,
  defaultLayoutSpec,
  FlashStateStore,
  type ImageInfo,
  imageSigningKey,
  LAYOUT_NAMES,
  type LayoutSpec,
  MAIN_COMPONENT,
  MemoryTransport,
  PacedTransport,
  releaseVerifier,
  type SimDevice,
  SimError,
  statusOf,
  type TrustedImageKey,
  trustedImageKey,
  verifyImage,
} from '@updraft/sim';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { readPrivateKey, readPublicKey } from '../key-files.js';
import type { SimIdentities } from './sim-mtls.js';

/** Largest image file the sim commands read. */
const MAX_IMAGE_BYTES = 64 * 1024 * 1024;

/** A simulated device's hardware and firmware, from the command line. */
export interface SimTarget {
  readonly layout: LayoutSpec;
  readonly trustedKeys: TrustedImageKey[];
  readonly initialImage: Uint8Array;
  readonly initial: ImageInfo;
  readonly factoryImage: Uint8Array | undefined;
}

/** Reads --image, --trusted-key, --layout, --factory-image and sizes the slots to fit. */
export async function loadSimTarget(ctx: CommandContext, args: CommandArgs): Promise<SimTarget> {
  const trustedKeys = await Promise.all(
    args.strings('trusted-key').map(async (f) => trustedImageKey(await readPublicKey(ctx.path(f)))),
  );
  const initialImage = await readImageFile(ctx, args.requiredString('image'));
  const initial = checkImage(initialImage, trustedKeys, '--image');
  const name = args.choice('layout', LAYOUT_NAMES) ?? 'ab-factory';
  const factoryFile = args.string('factory-image');
  const factoryImage =
    name === 'ab-factory'
      ? factoryFile
        ? await readImageFile(ctx, factoryFile)
        : initialImage
      : undefined;
  const offered = args.string('release');
  const largest = Math.max(
    initialImage.length,
    factoryImage?.length ?? 0,
    offered ? (await readImageFile(ctx, offered)).length : 0,
  );
  // Slots: 4 KiB sectors, enough for the largest image with room to spare.
  const sectors = Math.max(2, Math.ceil((largest * 1.25) / 4096));
  const layout = defaultLayoutSpec(name, { slotSectors: Array<number>(sectors).fill(4096) });
  return { layout, trustedKeys, initialImage, initial, factoryImage };
}

/** One simulated device's updater, and its transport (paced when it talks to a real service). */
export interface SimApplication {
  readonly app: AgentApplication;
  readonly transport: Transport;
  /** Set with --server: counts requests and keeps the last failure. */
  readonly paced: PacedTransport | null;
}

/**
 * The clock of devices that talk to a real service: real time (the io's clock in tests), ending
 * the run at `--timeout` seconds or on Ctrl-C. Offline devices keep their virtual clocks.
 */
export function serverClock(
  ctx: CommandContext,
  args: CommandArgs,
  durationSeconds?: number,
): Clock {
  const inner = ctx.io.clock ?? systemClock;
  // `sim fleet --duration` ends the run the same way, as its normal end.
  const timeout = durationSeconds ?? args.integer('timeout', 30 * 24 * 3600);
  return new BoundedClock(inner, {
    ...(timeout === undefined ? {} : { deadline: inner.now() + timeout * 1000 }),
    ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
  });
}

/**
 * What a transport failure means for a simulated device, as a typed error; null when waiting
 * may fix it. The one place where the sim commands map the transport's failures to codes.
 */
export function serverFailure(error: unknown): SimError | null {
  if (!isUpdraftError(error)) return null;
  const status = statusOf(error);
  const details = { status: status ?? null, cause: error.code };
  if (status === 401 || status === 403 || error.code === 'AGENT_AUTH_REJECTED') {
    return new SimError(
      'SIM_SERVER_AUTH_REJECTED',
      `the update service refused the device token (${status ?? error.code})`,
      { cause: error, details },
    );
  }
  if (error.code === 'AGENT_NETWORK_ERROR' || error.code === 'AGENT_SERVER_UNREACHABLE') {
    return new SimError('SIM_SERVER_UNREACHABLE', 'the update service could not be reached', {
      cause: error,
      details,
    });
  }
  if (status === 429 || status === 503) {
    return new SimError(
      'SIM_SERVER_RATE_LIMITED',
      `the update service kept answering ${status} (rate limited); the device gave up`,
      { cause: error, details },
    );
  }
  return null;
}

const isAuthRejection = (error: unknown) =>
  serverFailure(error)?.code === 'SIM_SERVER_AUTH_REJECTED';

/** How the devices of a run poll (`sim fleet --duration/--poll-interval`). */
export interface SimPolling {
  /** Keep polling after idle until the clock's deadline (see AgentApplication). */
  readonly continuous?: boolean;
  /** Replaces the service's advertised poll interval (see PacedTransport). */
  readonly pollIntervalSeconds?: number;
}

/** The updater application of device `index`, and how to read what it reported. */
export async function simApplicationFactory(
  ctx: CommandContext,
  args: CommandArgs,
  target: SimTarget,
  tokens: readonly string[],
  clock: Clock,
  polling: SimPolling = {},
  identities: SimIdentities | null = null,
): Promise<(index: number) => SimApplication> {
  const main = MAIN_COMPONENT;
  const agentOptions = { mainComponent: main, checkpointBytes: 4096 };
  const installed = [
    {
      id: main,
      version: target.initial.versionString,
      sequenceNumber: target.initial.securityCounter,
      digest: createHash('sha256').update(target.initialImage).digest('hex'),
    },
  ];
  const device = (
    transport: Transport,
    verifier: EnvelopeVerifier,
    index: number,
    paced: PacedTransport | null = null,
  ) => ({
    transport,
    paced,
    app: new AgentApplication({
      transport,
      verifier,
      initialComponents: installed,
      agentOptions,
      seed: index + 1,
      ...(polling.continuous ? { continuous: true } : {}),
    }),
  });
  if (args.flag('offline')) {
    const release = await readImageFile(ctx, requireOption(args, 'release', '--offline'));
    const info = checkImage(release, target.trustedKeys, '--release');
    const key = imageSigningKey(
      await readPrivateKey(ctx.path(requireOption(args, 'key', '--offline'))),
    );
    // A real SUIT envelope, built and signed by core, checked by the agent's production verifier.
    const ids = {
      ...(args.string('vendor-id') ? { vendorId: args.string('vendor-id') } : {}),
      ...(args.string('class-id') ? { classId: args.string('class-id') } : {}),
    };
    const envelope = await buildReleaseEnvelope(
      { ...ids, sequenceNumber: info.securityCounter, components: [{ id: main, image: release }] },
      key,
    );
    const verifier = releaseVerifier({ ...ids, trustedKeys: target.trustedKeys });
    return (index) => {
      const transport = new MemoryTransport({
        actionId: `offline-${index}`,
        version: info.versionString,
        sequenceNumber: info.securityCounter,
        envelope,
        payloads: [release],
      });
      return device(transport, verifier, index);
    };
  }
  const server = requireOption(args, 'server', 'a service (or --offline)');
  const verifier = coreVerifier({
    trust: { keys: target.trustedKeys.map((k) => ({ key: k.publicKey })) },
    vendorId: requireOption(args, 'vendor-id', '--server'),
    classId: requireOption(args, 'class-id', '--server'),
  });
  const maxRequests = args.integer('max-requests', 1_000_000_000);
  return (index) => {
    // With --mtls the device authenticates with its enrolled certificate, not a token.
    const identity = identities?.stores[index];
    const token = tokens[index];
    if (identity === undefined && token === undefined) {
      throw new CliError('CLI_USAGE', `no device token for device ${index}`);
    }
    const http = new HttpTransport(
      identity === undefined || identities === null
        ? { baseUrl: server, token: token! }
        : { baseUrl: server, pinnedCa: identities.pinnedCa, identity },
    );
    const paced = new PacedTransport(http, {
      clock,
      stopOn: isAuthRejection,
      ...(maxRequests === undefined ? {} : { maxRequests }),
      ...(polling.pollIntervalSeconds === undefined
        ? {}
        : { pollIntervalSeconds: polling.pollIntervalSeconds }),
    });
    return device(paced, verifier, index, paced);
  };
}

/** The agent's journal in a simulated device's flash: null when there is none yet. */
export async function agentJournal(device: SimDevice): Promise<Journal | null | 'unreadable'> {
  const bytes = await new FlashStateStore(device.layout.journal).load();
  if (bytes === null) return null;
  try {
    return decodeJournal(bytes);
  } catch {
    return 'unreadable';
  }
}

async function readImageFile(ctx: CommandContext, file: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(ctx.path(file));
  } catch (cause) {
    throw new CliError('CLI_FILE_NOT_FOUND', `cannot read ${file}`, { cause });
  }
  if (bytes.length > MAX_IMAGE_BYTES)
    throw new CliError('CLI_FILE_TOO_LARGE', `${file} is too large`);
  return new Uint8Array(bytes);
}

function checkImage(image: Uint8Array, keys: readonly TrustedImageKey[], what: string): ImageInfo {
  const v = verifyImage({
    read: (o, l) => image.slice(o, o + l),
    limit: image.length,
    trustedKeys: keys,
  });
  if (!v.ok)
    throw new CliError(
      'CLI_USAGE',
      `${what} is not a sim image the trusted keys verify: ${v.code}`,
    );
  return v.info;
}

function requireOption(args: CommandArgs, name: string, why: string): string {
  const value = args.string(name);
  if (value === undefined) throw new CliError('CLI_USAGE', `--${name} is required with ${why}`);
  return value;
}
