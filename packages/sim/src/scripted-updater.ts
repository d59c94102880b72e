import { createHash } from 'node:crypto';
import { BugError } from '@updraft/core';
import type { AppContext, DeviceApplication } from './sim-device.js';

/** An update the scripted updater is offered (in place of a check-in answer). */
export interface ScriptedOffer {
  readonly image: Uint8Array;
  readonly version: string;
}

const STEPS = [
  'idle',
  'download',
  'install',
  'reboot',
  'verify',
  'commit',
  'rollback',
  'done',
] as const;
type Step = (typeof STEPS)[number];

interface UpdaterJournal {
  step: Step;
  target: string | null;
  written: number;
  result: 'success' | 'failure' | null;
  code: string | null;
  rewrites: number;
}

/**
 * A minimal updater with the agent's shape (journal saved before each step, writes through the
 * Slot/BootControl/StateStore ports), used to validate the bootloader and the adapters on its
 * own. It is NOT the agent (no manifests, no network) and not part of the package's API: only
 * the tests use it, to tell a bootloader bug from an agent bug when a sweep fails.
 */
export class ScriptedUpdater implements DeviceApplication {
  constructor(
    private readonly offer: ScriptedOffer,
    private readonly options: { chunkSize?: number } = {},
  ) {}

  /** The outcome recorded in the device's journal (null until the update finished). */
  static async outcome(ctx: Pick<AppContext, 'stateStore'>): Promise<UpdaterJournal | null> {
    const raw = await ctx.stateStore.load();
    return raw ? (JSON.parse(Buffer.from(raw).toString('utf8')) as UpdaterJournal) : null;
  }

  async run(ctx: AppContext): Promise<void> {
    const { bootControl: bc, stateStore } = ctx;
    const raw = await stateStore.load();
    let j: UpdaterJournal = raw
      ? (JSON.parse(Buffer.from(raw).toString('utf8')) as UpdaterJournal)
      : { step: 'idle', target: null, written: 0, result: null, code: null, rewrites: 0 };
    const save = async (next: Partial<UpdaterJournal>) => {
      j = { ...j, ...next };
      await stateStore.save(new TextEncoder().encode(JSON.stringify(j)));
      ctx.log(`updater: ${j.step}${j.step === 'download' ? ` @${j.written}` : ''}`);
    };
    const digest = createHash('sha256').update(this.offer.image).digest('hex');
    // A cut between markPending and saving `reboot` can boot the new image already.
    if ((j.step === 'install' || j.step === 'reboot') && (await bc.status()).booted === j.target) {
      await save({ step: 'verify' });
    }
    for (let guard = 0; guard < 10_000; guard++) {
      switch (j.step) {
        case 'idle': {
          const slot = await bc.updateSlot();
          await save({ step: 'download', target: slot.name, written: 0 });
          break;
        }
        case 'download': {
          const slot = await bc.slot(j.target ?? '');
          const chunk = this.options.chunkSize ?? 256;
          const image = this.offer.image;
          if (image.length > slot.size) throw new BugError('offer larger than the slot');
          for (const sector of slot.sectors) {
            if (sector.offset < j.written) continue;
            if (sector.offset >= image.length) break;
            await slot.erase(sector.offset, sector.size);
            const end = Math.min(sector.offset + sector.size, image.length);
            for (let at = sector.offset; at < end; at += chunk) {
              const piece = image.subarray(at, Math.min(at + chunk, end));
              const padded = new Uint8Array(
                Math.ceil(piece.length / slot.writeAlign) * slot.writeAlign,
              );
              padded.fill(slot.erasedValue).set(piece);
              await slot.write(at, padded);
            }
            await save({ written: sector.offset + sector.size });
          }
          await save({ step: 'install' });
          break;
        }
        case 'install': {
          const slot = await bc.slot(j.target ?? '');
          const back = await slot.read(0, this.offer.image.length);
          if (createHash('sha256').update(back).digest('hex') !== digest) {
            if (j.rewrites >= 3) {
              await save({ step: 'done', result: 'failure', code: 'READBACK_MISMATCH' });
              break;
            }
            await save({ step: 'download', written: 0, rewrites: j.rewrites + 1 });
            break;
          }
          await bc.markPending(j.target ?? '');
          await save({ step: 'reboot' });
          break;
        }
        case 'reboot':
          await save({ step: 'verify' });
          await bc.reboot();
          return;
        case 'verify': {
          const status = await bc.status();
          if (status.booted !== j.target) {
            await save({ step: 'done', result: 'failure', code: status.lastFailure });
          } else if (!status.trial) {
            await save({ step: 'done', result: 'success' });
          } else {
            await save({ step: ctx.healthy ? 'commit' : 'rollback' });
          }
          break;
        }
        case 'commit':
          await bc.confirm();
          await save({ step: 'done', result: 'success' });
          break;
        case 'rollback': {
          const status = await bc.status();
          if (status.booted !== j.target) {
            await save({ step: 'done', result: 'failure', code: status.lastFailure });
            break;
          }
          await bc.reboot();
          return;
        }
        case 'done':
          return;
      }
    }
    throw new BugError('scripted updater did not settle');
  }
}
