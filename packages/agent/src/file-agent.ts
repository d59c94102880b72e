import { execFile } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isUpdraftError } from '@updraft/core';
import { FileComponentHandler } from './adapters/file/file-component-handler.js';
import { FileSlot } from './adapters/file/file-slot.js';
import { FileStateStore } from './adapters/file/file-state-store.js';
import { JsonBootControl } from './adapters/file/json-boot-control.js';
import { GrubEnvBootControl } from './adapters/grub/grub-env-boot-control.js';
import { HttpTransport } from './adapters/http/http-transport.js';
import { PushChannel, type PushCredentials } from './adapters/mqtt/push-channel.js';
import { RaucClient } from './adapters/rauc/rauc-client.js';
import { RaucComponentHandler } from './adapters/rauc/rauc-component-handler.js';
import { systemClock } from './adapters/system/system-clock.js';
import { UBootEnvBootControl } from './adapters/uboot/uboot-env-boot-control.js';
import { Agent, systemRandom } from './agent.js';
import type { AgentConfig, BootControlConfig, ComponentConfig } from './config/agent-config.js';
import { readDeviceKey } from './config/read-device-key.js';
import { AgentError } from './errors.js';
import { type FileIdentity, openFileIdentity } from './identity/file-identity.js';
import { coreDecryptor } from './install/core-decryptor.js';
import { coreVerifier } from './install/core-verifier.js';
import { slotDigest } from './install/slot-digest.js';
import type { BootControl } from './ports/boot-control.js';
import type { Clock } from './ports/clock.js';
import type { ComponentHandler } from './ports/component-handler.js';
import type { EventSink } from './ports/events.js';
import type { Logger } from './ports/logger.js';
import type { Policy } from './ports/policy.js';
import type { Transport } from './ports/transport.js';

/** A Linux device assembled from the file adapters. */
export interface FileDevice {
  readonly agent: Agent;
  /** The configured boot control (`bootControl.kind`: JSON file, U-Boot or GRUB environment). */
  readonly bootControl: BootControl;
  /**
   * The boot step at every start: `JsonBootControl.boot()` for `kind: 'json'` (the agent is the
   * boot loader); for U-Boot and GRUB the boot loader already ran, so it only reads what booted.
   * Returns the booted slot's name.
   */
  boot(): Promise<string>;
  readonly slots: readonly [FileSlot, FileSlot];
  /** The device's certificate identity when the config pins a CA, else null. */
  readonly identity: FileIdentity | null;
  close(): Promise<void>;
}

/** Optional collaborators of {@link openFileDevice}. */
export interface FileDeviceHooks {
  readonly logger?: Logger;
  /** Stops a waiting enrollment (daemon shutdown). */
  readonly signal?: AbortSignal;
  /** One enrollment attempt instead of retrying (`agent run --once`). */
  readonly once?: boolean;
  readonly events?: EventSink;
  readonly policy?: Policy;
  readonly clock?: Clock;
  /** How the agent reaches the service (default: HTTP to `server.url` with `server.token`). */
  readonly transport?: Transport;
}

/** Opens slots, boot state and journal from a config and builds the agent over them. */
export async function openFileDevice(
  config: AgentConfig,
  hooks: FileDeviceHooks = {},
): Promise<FileDevice> {
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  const trusted = await Promise.all(config.trustedKeyFiles.map((f) => readPublicKey(f)));
  const deviceKey = config.deviceKeyFile ? await readDeviceKey(config.deviceKeyFile) : null;
  // Before FileSlot.open sizes the file: its length is the factory image's unless configured.
  const factorySize = config.installed.size ?? (await unsizedLength(config.slots.a));
  const a = await FileSlot.open({
    name: 'a',
    ...config.slots.a,
    sectorSize: config.slots.sectorSize,
  });
  const b = await FileSlot.open({
    name: 'b',
    ...config.slots.b,
    sectorSize: config.slots.sectorSize,
  });
  let chosen: Awaited<ReturnType<typeof openBootControl>>;
  const components: (ComponentHandler & { close(): Promise<void> })[] = [];
  try {
    chosen = await openBootControl(config, [a, b]);
    for (const [i, c] of config.components.entries()) {
      components.push(await openComponent(c, `components[${i}]`));
    }
  } catch (error) {
    // A refused boot control or installer: nothing stays open behind the error.
    await a.close();
    await b.close();
    for (const c of components) await c.close();
    throw error;
  }
  const { bootControl, boot } = chosen;
  const clock = hooks.clock ?? systemClock;
  // With a pinned CA: enroll on first start, then mutual TLS with rotation before expiry.
  const identity = await openFileIdentity(config, {
    clock,
    ...(hooks.logger ? { logger: hooks.logger } : {}),
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.once ? { once: true } : {}),
  });
  const downloadCa =
    config.server.downloadCaFile === null
      ? null
      : await readFile(config.server.downloadCaFile, 'utf8').catch((cause: unknown) => {
          throw new AgentError('AGENT_CONFIG_INVALID', 'server.downloadCaFile cannot be read', {
            cause,
          });
        });
  const agent = new Agent(
    {
      transport:
        hooks.transport ??
        new HttpTransport({
          baseUrl: config.server.url,
          ...(config.server.token === null ? {} : { token: config.server.token }),
          ...(identity ? { pinnedCa: identity.pinnedCa, identity: identity.store } : {}),
          ...(downloadCa === null ? {} : { downloadCa }),
        }),
      ...(identity ? { identityRenewal: identity.rotation } : {}),
      bootControl,
      stateStore: new FileStateStore(join(config.stateDir, 'journal')),
      // Apart from the journal, so a lost or corrupt journal cannot lower it.
      rollbackFloor: new FileStateStore(join(config.stateDir, 'rollback-floor')),
      activeDigest: async (id) => {
        if (id !== config.mainComponent || factorySize === null) return null;
        const status = await bootControl.status();
        // The factory image is in the first slot; anything else was installed with its digest.
        if (status.booted !== a.name || status.trial) return null;
        return slotDigest(a, Math.min(factorySize, a.size));
      },
      clock,
      random: systemRandom,
      verifier: coreVerifier({
        trust: { keys: trusted.map((key) => ({ key })) },
        vendorId: config.device.vendorId,
        classId: config.device.classId,
      }),
      ...(deviceKey ? { decryptor: coreDecryptor(deviceKey) } : {}),
      components,
      policy: {
        ...(config.healthCheckCommand ? { healthCheck: commandHealthCheck(config) } : {}),
        ...hooks.policy,
      },
      ...(hooks.logger ? { logger: hooks.logger } : {}),
      ...(hooks.events ? { events: hooks.events } : {}),
    },
    {
      mainComponent: config.mainComponent,
      initialComponents: [
        {
          id: config.mainComponent,
          version: config.installed.version,
          sequenceNumber: config.installed.sequenceNumber,
          digest: '',
        },
        ...config.components.map((c) => ({
          id: c.id,
          version: config.installed.version,
          sequenceNumber: config.installed.sequenceNumber,
          digest: '',
        })),
      ],
      attributes: config.device.attributes,
      stallTimeoutMs: config.stallTimeoutMs,
      defaultPollIntervalMs: config.defaultPollIntervalMs,
      // Files are fast and fsync is not: checkpoint every few MiB (default 8).
      checkpointBytes: config.checkpointBytes,
      // The command has its own timeout; this one only backs it up.
      healthCheckTimeoutMs: config.healthCheckTimeoutMs + 5_000,
    },
  );
  return {
    agent,
    bootControl,
    boot,
    identity,
    slots: [a, b],
    async close() {
      await a.close();
      await b.close();
      for (const c of components) await c.close();
    },
  };
}

/**
 * The daemon: boot step, then the agent's poll loop until `signal` aborts. Without a reboot
 * command, a reboot request is served in-process (boot step again, new run), which is how an
 * application-level A/B update (the launcher starts the app from the booted slot) works.
 */
export async function runFileAgent(
  config: AgentConfig,
  options: FileDeviceHooks & {
    signal?: AbortSignal;
    until?: 'idle';
    /** Use MQTT push when a check-in answer offers it and `server.caFile` is set (default true). */
    push?: boolean;
  } = {},
): Promise<void> {
  const log = options.logger;
  // The push channel learns the endpoint from check-in answers and wakes the agent on a notice.
  let channel: PushChannel | undefined;
  let wake: () => void = () => {};
  let pushIdentity: () => FileIdentity | null = () => null;
  if (options.push !== false && config.server.caFile !== null && options.until !== 'idle') {
    const ca = await readFile(config.server.caFile);
    const token = config.server.token;
    // Read at every (re)connection, so a rotated certificate is the one presented.
    channel = new PushChannel(
      () => pushCredentials(ca, pushIdentity(), token),
      () => wake(),
      log,
    );
  }
  const events: EventSink | undefined =
    channel === undefined
      ? options.events
      : {
          emit(event) {
            if (event.type === 'check-in' && event.push !== undefined) channel.offer(event.push);
            options.events?.emit(event);
          },
        };
  const device = await openFileDevice(config, {
    ...options,
    ...(events ? { events } : {}),
    ...(options.until === 'idle' ? { once: true } : {}),
  });
  pushIdentity = () => device.identity;
  wake = () => device.agent.wake();
  try {
    for (;;) {
      const booted = await device.boot();
      log?.info({ slot: booted }, 'booted');
      let result: Awaited<ReturnType<Agent['run']>>;
      try {
        result = await device.agent.run({
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.until ? { until: options.until } : {}),
        });
      } catch (error) {
        // A typed error out of run() is a refused start (rollback floor missing or corrupt):
        // restarting would not fix it, an operator must.
        if (isUpdraftError(error)) throw error;
        // A bug escaped the agent: restart it after a pause; the journal bounds a crash loop.
        if (options.signal?.aborted) return;
        log?.error({ error: String(error) }, 'agent crashed, restarting');
        await (options.clock ?? systemClock).sleep(5_000, options.signal).catch(() => {});
        continue;
      }
      // One poll that could not reach the service (or was refused) is a failed poll, not "idle".
      if (result.halted === 'idle' && result.checkInError !== undefined) throw result.checkInError;
      if (result.halted !== 'reboot') return;
      if (config.rebootCommand) {
        // One pass (`--once`): the reboot is requested, nothing is left to do in this run.
        if (options.until === 'idle') return;
        // The system is going down; wait for it (or for a stop).
        await (options.clock ?? systemClock).sleep(10 * 60_000, options.signal).catch(() => {});
        return;
      }
    }
  } finally {
    await channel?.close();
    await device.close();
  }
}

/** The boot control `config.bootControl` names, over the two slots. */
async function openBootControl(
  config: AgentConfig,
  slots: readonly [FileSlot, FileSlot],
): Promise<{ bootControl: BootControl; boot: () => Promise<string> }> {
  const reboot = config.rebootCommand ? { rebootCommand: config.rebootCommand } : {};
  const chosen: BootControlConfig = config.bootControl;
  switch (chosen.kind) {
    case 'json': {
      const json = await JsonBootControl.open({
        statePath: join(config.stateDir, 'boot-state.json'),
        slots,
        ...reboot,
      });
      return { bootControl: json, boot: () => json.boot() };
    }
    case 'uboot': {
      await requireFile(chosen.fwEnvConfig, 'bootControl.fwEnvConfig', constants.R_OK);
      const uboot = new UBootEnvBootControl({
        config: chosen.fwEnvConfig,
        ...(chosen.printenv ? { printenv: chosen.printenv } : {}),
        ...(chosen.setenv ? { setenv: chosen.setenv } : {}),
        variables: chosen.variables,
        slots,
        ...reboot,
      });
      // Read at every start: a broken environment or a missing tool stops the start, not an update.
      return { bootControl: uboot, boot: async () => (await uboot.status()).booted };
    }
    case 'grub': {
      // grub-editenv renames `<file>.new` over the block: the block must exist, its folder be writable.
      await requireFile(chosen.grubenv, 'bootControl.grubenv', constants.R_OK | constants.W_OK);
      const grub = new GrubEnvBootControl({
        file: chosen.grubenv,
        ...(chosen.editenv ? { editenv: chosen.editenv } : {}),
        variables: chosen.variables,
        slots,
        ...reboot,
      });
      return { bootControl: grub, boot: async () => (await grub.status()).booted };
    }
  }
}

/** The handler of a configured component (file or RAUC bundle). */
async function openComponent(
  c: ComponentConfig,
  at: string,
): Promise<ComponentHandler & { close(): Promise<void> }> {
  if (c.installer === 'file') return new FileComponentHandler(c);
  await requireFile(c.systemConf, `${at}.systemConf`, constants.R_OK);
  await mkdir(c.dir, { recursive: true, mode: 0o700 });
  return new RaucComponentHandler({
    id: c.id,
    rauc: new RaucClient({
      conf: c.systemConf,
      ...(c.rauc ? { rauc: c.rauc } : {}),
      installTimeoutMs: c.installTimeoutMs,
    }),
    dir: c.dir,
    maxSize: c.maxSize,
  });
}

/** A configured file that must exist as a regular file with `mode` access, else AGENT_CONFIG_INVALID. */
async function requireFile(path: string, setting: string, mode: number): Promise<void> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a regular file');
    await access(path, mode);
  } catch (cause) {
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `${setting}: ${path} is not a ${mode & constants.W_OK ? 'writable' : 'readable'} file`,
      { cause, details: { problems: [{ path: setting, message: `cannot use ${path}` }] } },
    );
  }
}

// The length of slot a's file when the agent has not sized it yet (shorter than the slot), else
// null: a block device, or a file the agent already extended (then `installed.size` says it).
async function unsizedLength(slot: { path: string; size: number }): Promise<number | null> {
  try {
    const info = await stat(slot.path);
    return info.isFile() && info.size > 0 && info.size < slot.size ? info.size : null;
  } catch {
    return null;
  }
}

// Runs the configured health check (no shell); exit 0 within the timeout = healthy.
function commandHealthCheck(config: AgentConfig): NonNullable<Policy['healthCheck']> {
  const [file, ...args] = config.healthCheckCommand ?? [];
  return () =>
    new Promise((resolve) => {
      execFile(file!, args, { timeout: config.healthCheckTimeoutMs }, (error) => {
        resolve(
          error === null
            ? { ok: true }
            : {
                ok: false,
                reason: `health check failed: ${error.code ?? error.signal ?? 'error'}`,
              },
        );
      });
    });
}

async function readPublicKey(file: string): Promise<KeyObject> {
  try {
    return createPublicKey(await readFile(file));
  } catch (cause) {
    if (isUpdraftError(cause)) throw cause;
    throw new AgentError('AGENT_CONFIG_INVALID', `not a public key: ${file}`, { cause });
  }
}

// The device's certificate when it has one (mTLS to the broker), else its token as the password.
function pushCredentials(
  ca: Buffer,
  identity: FileIdentity | null,
  token: string | null,
): PushCredentials {
  const current = identity?.store.current();
  const tlsKey = current?.key.tlsKey();
  if (current && tlsKey && 'key' in tlsKey) {
    return {
      ca,
      certificate: {
        cert: [current.certificatePem, ...current.chainPem].join(''),
        key: tlsKey.key,
      },
    };
  }
  return { ca, ...(token === null ? {} : { token }) };
}
