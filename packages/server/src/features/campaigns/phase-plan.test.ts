import { describe, expect, it } from 'vitest';
import { emptyCounts, type TargetCounts } from './campaign-stats.repository.js';
import { campaignFinished, countedTargets, phaseTake, phaseVerdict } from './phase-plan.js';

function counts(partial: Partial<Omit<TargetCounts, 'targets'>>): TargetCounts {
  const c = emptyCounts();
  for (const [k, v] of Object.entries(partial)) {
    c[k as keyof typeof partial] = v;
    c.targets += v;
  }
  return c;
}

const thresholds = {
  successThreshold: 95,
  errorPercent: 10,
  errorCount: null,
  errorsAcknowledged: 0,
};

describe('phaseTake', () => {
  it('percent phases are cumulative over all targets, rounded up', () => {
    expect(phaseTake({ percent: 10, count: null }, 95, 0, 0)).toBe(10); // ceil(9.5)
    expect(phaseTake({ percent: 50, count: null }, 95, 10, 0)).toBe(38); // ceil(47.5) − 10
    expect(phaseTake({ percent: 100, count: null }, 95, 48, 0)).toBe(47);
  });

  it('does not overshoot on floating-point noise (7 % of 100 is 7)', () => {
    expect(phaseTake({ percent: 7, count: null }, 100, 0, 0)).toBe(7);
    expect(phaseTake({ percent: 0.1, count: null }, 3000, 0, 0)).toBe(3);
  });

  it('count phases add their count to what they already hold', () => {
    expect(phaseTake({ percent: null, count: 25 }, 1000, 40, 0)).toBe(25);
    expect(phaseTake({ percent: null, count: 25 }, 1000, 60, 20)).toBe(5);
    expect(phaseTake({ percent: null, count: 25 }, 1000, 65, 25)).toBe(0);
  });

  it('is idempotent: once taken, nothing more (and never negative)', () => {
    expect(phaseTake({ percent: 10, count: null }, 100, 10, 10)).toBe(0);
    expect(phaseTake({ percent: 10, count: null }, 100, 30, 0)).toBe(0);
  });

  it('a continuous campaign’s newcomers raise the current phase’s share', () => {
    expect(phaseTake({ percent: 100, count: null }, 110, 100, 90)).toBe(10);
    expect(phaseTake({ percent: 50, count: null }, 120, 50, 50)).toBe(10);
  });
});

describe('phaseVerdict', () => {
  it('passes at the success threshold, waits below it', () => {
    expect(phaseVerdict(counts({ succeeded: 19, pending: 1 }), thresholds)).toBe('pass');
    expect(phaseVerdict(counts({ succeeded: 18, pending: 2 }), thresholds)).toBe('wait');
    expect(phaseVerdict(counts({ succeeded: 18, confirming: 2 }), thresholds)).toBe('wait');
  });

  it('pauses when more than the error percent failed or were rejected', () => {
    expect(phaseVerdict(counts({ failed: 1, pending: 9 }), thresholds)).toBe('wait'); // 10 % is not more
    expect(phaseVerdict(counts({ failed: 1, rejected: 1, pending: 8 }), thresholds)).toBe('pause');
  });

  it('pauses at the error count', () => {
    const t = { ...thresholds, errorPercent: null, errorCount: 3 };
    expect(phaseVerdict(counts({ failed: 2, pending: 98 }), t)).toBe('wait');
    expect(phaseVerdict(counts({ failed: 2, rejected: 1, pending: 97 }), t)).toBe('pause');
  });

  it('counts only errors beyond those a resume acknowledged', () => {
    const c = counts({ failed: 3, pending: 7 });
    expect(phaseVerdict(c, thresholds)).toBe('pause');
    expect(phaseVerdict(c, { ...thresholds, errorsAcknowledged: 3 })).toBe('wait');
    expect(
      phaseVerdict(counts({ failed: 5, pending: 5 }), { ...thresholds, errorsAcknowledged: 3 }),
    ).toBe('pause');
  });

  it('errors win over success (a 0 % success threshold still pauses on errors)', () => {
    const t = { ...thresholds, successThreshold: 0 };
    expect(phaseVerdict(counts({ failed: 5, succeeded: 5 }), t)).toBe('pause');
    expect(phaseVerdict(counts({ pending: 5 }), t)).toBe('pass');
  });

  it('measures against targets that were neither skipped nor cancelled; an empty phase passes', () => {
    const c = counts({ succeeded: 19, skipped: 5, cancelled: 2 });
    expect(countedTargets(c)).toBe(19);
    expect(phaseVerdict(c, { ...thresholds, successThreshold: 100 })).toBe('pass');
    expect(phaseVerdict(emptyCounts(), thresholds)).toBe('pass');
  });
});

describe('campaignFinished', () => {
  it('one-shot: the last phase passed and no action under way', () => {
    expect(campaignFinished('one-shot', true, counts({ succeeded: 9, scheduled: 1 }))).toBe(true);
    expect(campaignFinished('one-shot', true, counts({ succeeded: 9, confirming: 1 }))).toBe(false);
    expect(campaignFinished('one-shot', true, counts({ succeeded: 9, pending: 1 }))).toBe(false);
    expect(campaignFinished('one-shot', false, counts({ succeeded: 10 }))).toBe(false);
  });

  it('continuous campaigns never finish by themselves', () => {
    expect(campaignFinished('continuous', true, counts({ succeeded: 10 }))).toBe(false);
  });
});
