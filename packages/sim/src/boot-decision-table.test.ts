import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  allSlotFacts,
  BOOT_DECISION_TABLE,
  decideSlot,
  renderDecisionTable,
  SWAP_TYPES,
} from './boot-decision-table.js';

const catchAll = BOOT_DECISION_TABLE.length - 1;

describe('boot decision table', () => {
  const facts = allSlotFacts();

  it('covers every combination of facts before the catch-all row', () => {
    expect(facts).toHaveLength(3 * 3 * 2 ** 6);
    const uncovered = facts.filter((f) => decideSlot(f).index === catchAll);
    expect(uncovered).toEqual([]);
  });

  it('boots only valid, requested, unrefused images', () => {
    for (const f of facts) {
      const { row } = decideSlot(f);
      if (row.boot === 'no') continue;
      expect(f).toMatchObject({ image: 'valid', magic: 'good', rejected: false, abandoned: false });
    }
  });

  it('trial-boots only unconfirmed images with attempts left and no failed trial', () => {
    for (const f of facts) {
      if (decideSlot(f).row.boot !== 'trial') continue;
      expect(f).toMatchObject({ imageOk: false, attemptsLeft: true, trialFailed: false });
    }
  });

  it('reverts every unconfirmed trial that ended in a reset', () => {
    for (const f of facts) {
      if (f.image !== 'valid' || f.magic !== 'good' || f.rejected || f.abandoned) continue;
      if (!f.imageOk && f.trialFailed) expect(decideSlot(f).row.swapType).toBe('revert');
    }
  });

  it('uses only MCUboot swap types and makes every row reachable', () => {
    const reached = new Set(facts.map((f) => decideSlot(f).index));
    for (const [i, row] of BOOT_DECISION_TABLE.entries()) {
      expect(SWAP_TYPES).toContain(row.swapType);
      if (i !== catchAll) expect(reached.has(i)).toBe(true);
    }
  });

  it('is mirrored verbatim in docs/bootloader.md', () => {
    const doc = readFileSync(new URL('../../../docs/bootloader.md', import.meta.url), 'utf8');
    const m = /<!-- decision-table:start -->\n([\s\S]*?)\n<!-- decision-table:end -->/.exec(doc);
    expect(m?.[1]).toBe(renderDecisionTable());
  });
});
