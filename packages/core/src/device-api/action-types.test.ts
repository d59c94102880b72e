import { describe, expect, it } from 'vitest';
import { ACTION_TYPES, isActionType, policyMayDefer } from './action-types.js';
import { actionTypeOf } from './check-in.js';

describe('action types', () => {
  it('guards the closed set', () => {
    for (const t of ACTION_TYPES) expect(isActionType(t)).toBe(true);
    for (const v of ['Forced', 'urgent', '', null, 1, undefined])
      expect(isActionType(v)).toBe(false);
  });

  it('reads an answer without type by its downloadOnly flag', () => {
    expect(actionTypeOf({ downloadOnly: true })).toBe('download-only');
    expect(actionTypeOf({ downloadOnly: false })).toBe('soft');
    expect(actionTypeOf({ type: 'forced', downloadOnly: false })).toBe('forced');
  });

  it('lets the device policy defer soft always, forced never, time-forced until its deadline', () => {
    const deadline = '2026-12-24T00:00:00Z';
    const before = Date.parse(deadline) - 1;
    const at = Date.parse(deadline);
    expect(policyMayDefer('soft', null, at)).toBe(true);
    expect(policyMayDefer('forced', null, before)).toBe(false);
    expect(policyMayDefer('time-forced', deadline, before)).toBe(true);
    expect(policyMayDefer('time-forced', deadline, at)).toBe(false);
    // An unreadable deadline keeps it soft (forcing on a value we cannot read is the unsafe side).
    expect(policyMayDefer('time-forced', 'soon', at)).toBe(true);
    expect(policyMayDefer('time-forced', null, at)).toBe(true);
  });
});
