import { createHash } from 'node:crypto';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile } from '@updraft/core/fs';
import { AgentError } from '../../errors.js';
import type { ComponentHandler } from '../../ports/component-handler.js';
import type { Slot } from '../../ports/slot.js';
import { FileSlot } from '../file/file-slot.js';
import type { RaucBundleInfo, RaucClient, RaucStatus } from './rauc-client.js';

/** Settings of {@link RaucComponentHandler}. */
export interface RaucComponentOptions {
  /** SUIT component id (hex) whose payload is a RAUC bundle. */
  readonly id: string;
  /** The RAUC client (its `system.conf`, its D-Bus). */
  readonly rauc: RaucClient;
  /** A directory of the handler's own: the staged download, the bundle handed to RAUC, the revert record. */
  readonly dir: string;
  /** Largest bundle accepted (the staging file's size). */
  readonly maxSize: number;
}

/** Copy unit from the staging file to the bundle file. */
const CHUNK = 1024 * 1024;

/**
 * Installs a component whose payload is a signed RAUC bundle by handing it to `rauc install`
 * (docs/agent.md, "Real boot chains"). The agent downloads and verifies the bundle into the staging
 * file as for any component; `apply` then
 *
 * 1. copies the bundle's bytes to `bundle.raucb` (RAUC needs the exact file);
 * 2. reads its manifest with `rauc info` (RAUC checks the signature against its keyring);
 * 3. records the slots booted now (`revert.json`, once, so a repeated `apply` keeps the first);
 * 4. runs `rauc install`;
 * 5. reads the result back: `rauc status --detailed` must show, for every image of the bundle, a
 *    slot of its class other than the booted one holding that image's SHA-256 with status `ok`,
 *    and a raw slot's device must hash to it as well.
 *
 * `revert` marks the recorded slots active again (`rauc status mark-active`), `commit` marks the
 * booted slot good and drops the record. RAUC's bootloader backend (U-Boot, GRUB, or `noop` where
 * another boot control owns the switch) carries the marks to the boot.
 */
export class RaucComponentHandler implements ComponentHandler {
  readonly id: string;
  readonly #options: RaucComponentOptions;
  #staging: FileSlot | null = null;

  constructor(options: RaucComponentOptions) {
    this.id = options.id;
    this.#options = options;
  }

  async stagingSlot(): Promise<Slot> {
    this.#staging ??= await FileSlot.open({
      name: `${this.id}-staging`,
      path: join(this.#options.dir, 'staging'),
      size: this.#options.maxSize,
      sectorSize: Math.min(this.#options.maxSize, CHUNK),
    });
    return this.#staging;
  }

  /** Installs the staged bundle (its first `size` bytes, verified by the agent) with RAUC and checks what RAUC wrote. */
  async apply(image: { readonly size: number; readonly digest: string }): Promise<void> {
    await this.install(image.size);
  }

  /** {@link apply}, returning the bundle's manifest and RAUC's status after the install. */
  async install(size: number): Promise<{ bundle: RaucBundleInfo; status: RaucStatus }> {
    const { rauc, dir } = this.#options;
    const bundlePath = join(dir, 'bundle.raucb');
    await this.#copyBundle(size, bundlePath);
    const bundle = await rauc.info(bundlePath);
    const before = await rauc.status();
    const record = join(dir, 'revert.json');
    if (!(await readJson(record))) {
      const booted = before.slots.filter((s) => s.state === 'booted').map((s) => s.name);
      await atomicWriteFile(record, new TextEncoder().encode(`${JSON.stringify({ booted })}\n`));
    }
    await rauc.install(bundlePath);
    const status = await rauc.status();
    for (const want of bundle.images) {
      const slot = status.slots.find(
        (s) =>
          s.slotClass === want.slotClass &&
          s.state !== 'booted' &&
          s.sha256 === want.sha256 &&
          s.installStatus === 'ok',
      );
      if (!slot) {
        throw new AgentError(
          'AGENT_INSTALLER_FAILED',
          `rauc status shows no ${want.slotClass} slot holding ${want.filename} after the install`,
          { details: { image: want.filename, sha256: want.sha256 } },
        );
      }
      if (slot.type === 'raw' && (await hashPrefix(slot.device, want.size)) !== want.sha256) {
        throw new AgentError(
          'AGENT_INSTALLER_FAILED',
          `slot ${slot.name} (${slot.device}) does not read back as ${want.filename}`,
          { details: { slot: slot.name, image: want.filename, sha256: want.sha256 } },
        );
      }
    }
    await rm(bundlePath, { force: true });
    return { bundle, status };
  }

  async revert(): Promise<void> {
    const record = join(this.#options.dir, 'revert.json');
    const saved = await readJson(record);
    if (!saved) return;
    for (const slot of saved.booted) await this.#options.rauc.markActive(slot);
    await rm(record, { force: true });
  }

  async commit(): Promise<void> {
    const record = join(this.#options.dir, 'revert.json');
    if (!(await readJson(record))) return;
    await this.#options.rauc.markGood('booted');
    await rm(record, { force: true });
  }

  /** Closes the staging file. */
  async close(): Promise<void> {
    await this.#staging?.close();
    this.#staging = null;
  }

  async #copyBundle(size: number, path: string): Promise<void> {
    const staging = await this.stagingSlot();
    const out = await open(path, 'w', 0o600);
    try {
      for (let offset = 0; offset < size; offset += CHUNK) {
        const chunk = await staging.read(offset, Math.min(CHUNK, size - offset));
        await out.write(chunk, 0, chunk.length, offset);
      }
      await out.sync();
    } finally {
      await out.close();
    }
  }
}

async function readJson(path: string): Promise<{ booted: string[] } | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  const booted = (parsed as { booted?: unknown } | null)?.booted;
  if (!Array.isArray(booted) || !booted.every((s) => typeof s === 'string')) {
    throw new AgentError('AGENT_INSTALLER_FAILED', `${path} is not a revert record`);
  }
  return { booted };
}

async function hashPrefix(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(CHUNK);
    for (let offset = 0; offset < size; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, size - offset), offset);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      offset += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}
