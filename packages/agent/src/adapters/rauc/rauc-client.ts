import { AgentError } from '../../errors.js';
import { runTool } from '../tool/run-tool.js';

/** How {@link RaucClient} reaches RAUC. */
export interface RaucClientOptions {
  /** RAUC's `system.conf` (slots, keyring, bootloader), passed as `--conf`. */
  readonly conf: string;
  /** The `rauc` binary (default: found on PATH). */
  readonly rauc?: string;
  /**
   * Environment of every `rauc` call (default: this process's). `rauc install` and `rauc status`
   * talk to `rauc service` over D-Bus: the system bus on a device; a private session bus in tests
   * (`DBUS_SESSION_BUS_ADDRESS` and `DBUS_STARTER_BUS_TYPE=session`).
   */
  readonly env?: NodeJS.ProcessEnv;
  /** Bound on `rauc install` (default 30 min: a rootfs copy on slow eMMC). */
  readonly installTimeoutMs?: number;
  /** Bound on every other call (default 30 s). */
  readonly timeoutMs?: number;
}

/** One image of a bundle, as `rauc info` lists it. */
export interface RaucImage {
  /** The slot class it is installed to (`rootfs`, `appfs`, …). */
  readonly slotClass: string;
  readonly filename: string;
  /** SHA-256 of the image (hex), which RAUC records for the slot after writing it. */
  readonly sha256: string;
  readonly size: number;
}

/** A bundle's manifest, from `rauc info` (which checks the signature against the keyring first). */
export interface RaucBundleInfo {
  readonly compatible: string;
  readonly version: string | null;
  readonly images: readonly RaucImage[];
}

/** One slot in `rauc status --detailed`. */
export interface RaucSlotStatus {
  /** `rootfs.0`, `rootfs.1`, … */
  readonly name: string;
  readonly slotClass: string;
  readonly device: string;
  readonly type: string;
  readonly bootname: string | null;
  /** `booted`, `active` or `inactive`. */
  readonly state: string;
  /** SHA-256 of the image RAUC last installed into the slot, or null when none is recorded. */
  readonly sha256: string | null;
  readonly size: number | null;
  /** RAUC's install status of the slot (`ok`, `failed`, …) or null. */
  readonly installStatus: string | null;
  readonly bundleVersion: string | null;
  /** How often RAUC marked the slot active (`rauc install`, `rauc status mark-active`). */
  readonly activatedCount: number;
}

/** What `rauc status --detailed` says. */
export interface RaucStatus {
  readonly compatible: string;
  /** The booted slot's bootname. */
  readonly booted: string | null;
  readonly slots: readonly RaucSlotStatus[];
}

/**
 * Debian's `rauc` (1.8) as a command-line client: `info`, `install`, `status` and `status mark-*`,
 * each run without a shell, bounded in time and output, failures as `AGENT_INSTALLER_FAILED` with
 * RAUC's own `LastError` line in the message.
 */
export class RaucClient {
  readonly #options: RaucClientOptions;

  constructor(options: RaucClientOptions) {
    this.#options = options;
  }

  /** Reads a bundle's manifest; RAUC verifies the bundle's signature against the keyring first. */
  async info(bundle: string): Promise<RaucBundleInfo> {
    const json = parseJson(await this.#run(['info', '--output-format=json', bundle]), 'rauc info');
    const images: RaucImage[] = [];
    for (const entry of array(json.images, 'rauc info images')) {
      for (const [slotClass, raw] of Object.entries(object(entry, 'rauc info image'))) {
        const image = object(raw, 'rauc info image');
        images.push({
          slotClass,
          filename: text(image.filename, 'image filename'),
          sha256: text(image.checksum, 'image checksum'),
          size: count(image.size, 'image size'),
        });
      }
    }
    return {
      compatible: text(json.compatible, 'compatible'),
      version: typeof json.version === 'string' ? json.version : null,
      images,
    };
  }

  /** Installs a bundle through `rauc service` (blocks until RAUC reports the outcome). */
  async install(bundle: string): Promise<void> {
    await this.#run(['install', bundle], this.#options.installTimeoutMs ?? 30 * 60_000);
  }

  /** The slots and what RAUC recorded about each. */
  async status(): Promise<RaucStatus> {
    const json = parseJson(
      await this.#run(['status', '--detailed', '--output-format=json']),
      'rauc status',
    );
    const slots: RaucSlotStatus[] = [];
    for (const entry of array(json.slots, 'rauc status slots')) {
      for (const [name, raw] of Object.entries(object(entry, 'rauc status slot'))) {
        const slot = object(raw, 'rauc status slot');
        const recorded =
          slot.slot_status === undefined || slot.slot_status === null
            ? {}
            : object(slot.slot_status, 'slot_status');
        const checksum =
          recorded.checksum === undefined ? null : object(recorded.checksum, 'slot checksum');
        const activated =
          recorded.activated === undefined ? null : object(recorded.activated, 'slot activated');
        const bundleInfo =
          recorded.bundle === undefined ? null : object(recorded.bundle, 'slot bundle');
        slots.push({
          name,
          slotClass: text(slot.class, 'slot class'),
          device: text(slot.device, 'slot device'),
          type: text(slot.type, 'slot type'),
          bootname: typeof slot.bootname === 'string' ? slot.bootname : null,
          state: text(slot.state, 'slot state'),
          sha256: typeof checksum?.sha256 === 'string' ? checksum.sha256 : null,
          size: typeof checksum?.size === 'number' ? checksum.size : null,
          installStatus: typeof recorded.status === 'string' ? recorded.status : null,
          bundleVersion: typeof bundleInfo?.version === 'string' ? bundleInfo.version : null,
          activatedCount: typeof activated?.count === 'number' ? activated.count : 0,
        });
      }
    }
    return {
      compatible: text(json.compatible, 'compatible'),
      booted: typeof json.booted === 'string' ? json.booted : null,
      slots,
    };
  }

  /** `rauc status mark-active <slot>`: the slot (a name, `booted` or `other`) boots next. */
  async markActive(slot: string): Promise<void> {
    await this.#run(['status', 'mark-active', slot]);
  }

  /** `rauc status mark-good <slot>`: what `rauc-mark-good.service` does after a healthy boot. */
  async markGood(slot: string): Promise<void> {
    await this.#run(['status', 'mark-good', slot]);
  }

  async #run(
    args: readonly string[],
    timeoutMs = this.#options.timeoutMs ?? 30_000,
  ): Promise<string> {
    try {
      return await runTool(this.#options.rauc ?? 'rauc', ['--conf', this.#options.conf, ...args], {
        code: 'AGENT_INSTALLER_FAILED',
        timeoutMs,
        maxOutput: 4 * 1024 * 1024,
        env: this.#options.env,
      });
    } catch (error) {
      if (!(error instanceof AgentError)) throw error;
      // RAUC's reason is its `LastError:` line (install) or an `rauc-...` error line, not the
      // last line, which is often a bootloader warning.
      const output = `${error.details.stdout ?? ''}\n${error.details.stderr ?? ''}`;
      const reason =
        /LastError: (.+)/.exec(output)?.[1] ??
        /(?:Failed|failed|error)[^\n]*/.exec(output)?.[0] ??
        null;
      throw new AgentError(
        'AGENT_INSTALLER_FAILED',
        reason === null ? error.message : `rauc ${args[0]} failed: ${reason.trim()}`,
        { cause: error, details: { ...error.details, reason } },
      );
    }
  }
}

function parseJson(out: string, what: string): Record<string, unknown> {
  // RAUC prints its JSON on one line; GLib warnings go to stderr.
  const line = out.split('\n').find((l) => l.startsWith('{'));
  try {
    return object(JSON.parse(line ?? ''), what);
  } catch (error) {
    if (error instanceof AgentError) throw error;
    throw new AgentError('AGENT_INSTALLER_FAILED', `${what} printed no JSON`, { cause: error });
  }
}

function invalid(what: string): AgentError {
  return new AgentError('AGENT_INSTALLER_FAILED', `unexpected output from RAUC: ${what}`);
}
function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(what);
  return v as Record<string, unknown>;
}
function array(v: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(v)) throw invalid(what);
  return v;
}
function text(v: unknown, what: string): string {
  if (typeof v !== 'string') throw invalid(what);
  return v;
}
function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(what);
  return v;
}
