import { BugError } from '@updraft/core';
import { MAGIC_STATES, type MagicState } from './slot-trailer.js';

/** MCUboot's swap types, the bootloader's verdict about one slot. */
export const SWAP_TYPES = ['none', 'test', 'perm', 'revert', 'fail', 'panic'] as const;
export type SwapType = (typeof SWAP_TYPES)[number];

/** What the slot's image looks like: verifies, present but refused, or nothing parseable. */
export const IMAGE_STATES = ['valid', 'invalid', 'none'] as const;
export type ImageState = (typeof IMAGE_STATES)[number];

/** How a slot may be booted after the decision. */
export const BOOT_MODES = ['confirmed', 'trial', 'no'] as const;
export type BootMode = (typeof BOOT_MODES)[number];

/** Trailer records the bootloader appends when a row matches. */
export const TRAILER_WRITES = ['rejected', 'copyDone', 'attempt'] as const;
export type TrailerWrite = (typeof TRAILER_WRITES)[number];

/** Wildcard of a decision row. */
export const ANY = 'ANY' as const;
type Pattern<T> = T | typeof ANY;

/** Everything the decision looks at for one slot. */
export interface SlotFacts {
  readonly image: ImageState;
  readonly magic: MagicState;
  readonly rejected: boolean;
  readonly abandoned: boolean;
  readonly imageOk: boolean;
  readonly copyDone: boolean;
  /** The trial started on the previous boot ended in a software or watchdog reset. */
  readonly trialFailed: boolean;
  /** Fewer trial boots than the bound (power cuts during a trial), and room in the trailer. */
  readonly attemptsLeft: boolean;
}

/** One row: a pattern over {@link SlotFacts}, the verdict, and the records to append. */
export interface DecisionRow {
  readonly when: { readonly [K in keyof SlotFacts]: Pattern<SlotFacts[K]> };
  readonly swapType: SwapType;
  readonly boot: BootMode;
  readonly writes: readonly TrailerWrite[];
  readonly why: string;
}

const row = (
  when: Partial<DecisionRow['when']>,
  swapType: SwapType,
  boot: BootMode,
  writes: readonly TrailerWrite[],
  why: string,
): DecisionRow => ({
  when: {
    image: ANY,
    magic: ANY,
    rejected: ANY,
    abandoned: ANY,
    imageOk: ANY,
    copyDone: ANY,
    trialFailed: ANY,
    attemptsLeft: ANY,
    ...when,
  },
  swapType,
  boot,
  writes,
  why,
});

/**
 * The bootloader's per-slot decision, first matching row wins. docs/bootloader.md shows this
 * table (a test checks that they agree). The last row is a catch-all that must stay unreachable
 * (a test enumerates every combination of facts).
 */
export const BOOT_DECISION_TABLE: readonly DecisionRow[] = [
  row({ rejected: true }, 'none', 'no', [], 'refused earlier: never booted again'),
  row({ image: 'none' }, 'none', 'no', [], 'empty or half-written slot'),
  row({ magic: 'unset' }, 'none', 'no', [], 'image present but no request for it'),
  row({ magic: 'bad' }, 'none', 'no', [], 'trailer speaks of another image or is torn'),
  row({ abandoned: true }, 'none', 'no', [], 'the agent withdrew its request'),
  row({ image: 'invalid' }, 'fail', 'no', ['rejected'], 'requested image fails verification'),
  row({ imageOk: true, copyDone: true }, 'none', 'confirmed', [], 'confirmed image'),
  row({ imageOk: true, copyDone: false }, 'perm', 'confirmed', ['copyDone'], 'permanent install'),
  row(
    { imageOk: false, trialFailed: true },
    'revert',
    'no',
    ['rejected'],
    'trial ended in a reset',
  ),
  row({ imageOk: false, attemptsLeft: false }, 'revert', 'no', ['rejected'], 'trial budget spent'),
  row(
    { imageOk: false, attemptsLeft: true },
    'test',
    'trial',
    ['copyDone', 'attempt'],
    'trial boot',
  ),
  row({}, 'panic', 'no', [], 'unreachable: a fact combination no row covers'),
];

/** The first row of {@link BOOT_DECISION_TABLE} matching `facts`, with its index. */
export function decideSlot(facts: SlotFacts): {
  readonly index: number;
  readonly row: DecisionRow;
} {
  for (const [index, r] of BOOT_DECISION_TABLE.entries()) {
    const keys = Object.keys(r.when) as (keyof SlotFacts)[];
    if (keys.every((k) => r.when[k] === ANY || r.when[k] === facts[k])) return { index, row: r };
  }
  throw new BugError('decision table has no catch-all row');
}

/** Every possible {@link SlotFacts} (for table invariant tests). */
export function allSlotFacts(): SlotFacts[] {
  const bools = [false, true];
  const out: SlotFacts[] = [];
  for (const image of IMAGE_STATES)
    for (const magic of MAGIC_STATES)
      for (const rejected of bools)
        for (const abandoned of bools)
          for (const imageOk of bools)
            for (const copyDone of bools)
              for (const trialFailed of bools)
                for (const attemptsLeft of bools)
                  out.push({
                    image,
                    magic,
                    rejected,
                    abandoned,
                    imageOk,
                    copyDone,
                    trialFailed,
                    attemptsLeft,
                  });
  return out;
}

/** The table as Markdown, embedded verbatim in docs/bootloader.md. */
export function renderDecisionTable(): string {
  const cols = Object.keys(BOOT_DECISION_TABLE[0]?.when ?? {}) as (keyof SlotFacts)[];
  const cell = (v: unknown) =>
    v === ANY ? 'ANY' : v === true ? 'yes' : v === false ? 'no' : String(v);
  const head = ['#', ...cols, 'swap type', 'boot', 'appends', 'why'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const [i, r] of BOOT_DECISION_TABLE.entries()) {
    const writes = r.writes.length === 0 ? '—' : r.writes.join(', ');
    const cells = [String(i + 1), ...cols.map((c) => cell(r.when[c])), `\`${r.swapType}\``, r.boot];
    lines.push(`| ${[...cells, writes, r.why].join(' | ')} |`);
  }
  return lines.join('\n');
}
