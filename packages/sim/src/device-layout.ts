import { FlashArea } from './flash-area.js';
import { RecordLog } from './record-log.js';
import { type ErasedValue, SimFlash, type WriteAlignment } from './sim-flash.js';

/** The slot layouts the simulator models (MCUboot names in the docs). */
export const LAYOUT_NAMES = ['ab-xip', 'ab-factory', 'swap-scratch'] as const;
export type LayoutName = (typeof LAYOUT_NAMES)[number];

/** True when `value` is a {@link LayoutName}. */
export function isLayoutName(value: unknown): value is LayoutName {
  return typeof value === 'string' && (LAYOUT_NAMES as readonly string[]).includes(value);
}

/** Sizes that shape a simulated device's flash. */
export interface LayoutSpec {
  readonly name: LayoutName;
  /** Sector sizes of ONE image slot, in order (non-uniform allowed). */
  readonly slotSectors: readonly number[];
  /** Sector size of each slot's trailer (a record log of its own). */
  readonly trailerSectorSize: number;
  /** Sector size of each of the two journal copies. */
  readonly journalSectorSize: number;
  /** Sector size of the boot-state area (security counter). */
  readonly bootStateSectorSize: number;
  readonly writeAlign: WriteAlignment;
  readonly erasedValue: ErasedValue;
}

/** A slot that images boot from. */
export interface ImageSlot {
  readonly name: string;
  readonly image: FlashArea;
  /** Absent for the factory slot: it is write-protected and always "confirmed". */
  readonly trailer: RecordLog | null;
}

/** The partitioned flash of one simulated device. */
export interface DeviceLayout {
  readonly spec: LayoutSpec;
  readonly flash: SimFlash;
  /** The updatable slots, `a` then `b`. */
  readonly slots: readonly ImageSlot[];
  readonly factory: ImageSlot | null;
  /** Security counter records (anti-rollback), owned by the bootloader. */
  readonly bootState: RecordLog;
  /** The agent's state store: two copies ping-ponged. */
  readonly journal: readonly [FlashArea, FlashArea];
  /**
   * Swap layouts only (capability): the scratch sector and the swap-status log. `slots` are then
   * `primary` (the only one that runs) and `secondary`, sharing one trailer log.
   */
  readonly swap: { readonly scratch: FlashArea; readonly status: RecordLog } | null;
}

/** Size of the swap layout's shared trailer and of its swap-status log. */
export const SWAP_TRAILER_SIZE = 4096;
export const SWAP_STATUS_SIZE = 16384;

/** A small non-uniform layout: slots of 512+512+1024+2048+4096 bytes (8 KiB), like an MCU's mixed sectors. */
export function defaultLayoutSpec(
  name: LayoutName,
  overrides: Partial<LayoutSpec> = {},
): LayoutSpec {
  return {
    name,
    slotSectors: [512, 512, 1024, 2048, 4096],
    trailerSectorSize: 512,
    journalSectorSize: 4096,
    bootStateSectorSize: 512,
    writeAlign: 8,
    erasedValue: 0xff,
    ...overrides,
  };
}

/**
 * Builds the flash and its areas, in address order:
 * boot state | slot a | trailer a | slot b | trailer b | [factory] | journal 0 | journal 1, or for
 * `swap-scratch`: boot state | primary | secondary | trailer | scratch | swap status | journal ×2.
 */
export function createDeviceLayout(spec: LayoutSpec, seed = 1): DeviceLayout {
  if (spec.name === 'swap-scratch') return createSwapLayout(spec, seed);
  const slotSize = spec.slotSectors.reduce((a, b) => a + b, 0);
  const sectors: number[] = [spec.bootStateSectorSize];
  for (let i = 0; i < 2; i++) sectors.push(...spec.slotSectors, spec.trailerSectorSize);
  if (spec.name === 'ab-factory') sectors.push(...spec.slotSectors);
  sectors.push(spec.journalSectorSize, spec.journalSectorSize);
  const flash = new SimFlash(
    { sectorSizes: sectors, writeAlign: spec.writeAlign, erasedValue: spec.erasedValue },
    { seed },
  );
  let at = 0;
  const take = (name: string, size: number) => {
    const area = new FlashArea(flash, name, at, size);
    at += size;
    return area;
  };
  const bootState = new RecordLog(take('boot-state', spec.bootStateSectorSize));
  const slots: ImageSlot[] = ['a', 'b'].map((name) => ({
    name,
    image: take(`slot-${name}`, slotSize),
    trailer: new RecordLog(take(`trailer-${name}`, spec.trailerSectorSize)),
  }));
  let factory: ImageSlot | null = null;
  if (spec.name === 'ab-factory') {
    factory = { name: 'factory', image: take('slot-factory', slotSize), trailer: null };
    flash.protectRange({ offset: factory.image.offset, length: factory.image.size });
  }
  const journal: [FlashArea, FlashArea] = [
    take('journal-0', spec.journalSectorSize),
    take('journal-1', spec.journalSectorSize),
  ];
  return { spec, flash, slots, factory, bootState, journal, swap: null };
}

function createSwapLayout(spec: LayoutSpec, seed: number): DeviceLayout {
  const slotSize = spec.slotSectors.reduce((a, b) => a + b, 0);
  const scratchSize = Math.max(...spec.slotSectors);
  const flash = new SimFlash(
    {
      sectorSizes: [
        spec.bootStateSectorSize,
        ...spec.slotSectors,
        ...spec.slotSectors,
        SWAP_TRAILER_SIZE,
        scratchSize,
        SWAP_STATUS_SIZE,
        spec.journalSectorSize,
        spec.journalSectorSize,
      ],
      writeAlign: spec.writeAlign,
      erasedValue: spec.erasedValue,
    },
    { seed },
  );
  let at = 0;
  const take = (name: string, size: number) => {
    const area = new FlashArea(flash, name, at, size);
    at += size;
    return area;
  };
  const bootState = new RecordLog(take('boot-state', spec.bootStateSectorSize));
  const primary = take('slot-primary', slotSize);
  const secondary = take('slot-secondary', slotSize);
  // Records name the image they speak about (its tag), so one log serves both slots and the
  // facts follow an image when the swap moves it.
  const trailer = new RecordLog(take('trailer', SWAP_TRAILER_SIZE));
  const scratch = take('scratch', scratchSize);
  const status = new RecordLog(take('swap-status', SWAP_STATUS_SIZE));
  const journal: [FlashArea, FlashArea] = [
    take('journal-0', spec.journalSectorSize),
    take('journal-1', spec.journalSectorSize),
  ];
  return {
    spec,
    flash,
    slots: [
      { name: 'primary', image: primary, trailer },
      { name: 'secondary', image: secondary, trailer },
    ],
    factory: null,
    bootState,
    journal,
    swap: { scratch, status },
  };
}
