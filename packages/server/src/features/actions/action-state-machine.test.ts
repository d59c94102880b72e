import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACTION_STATES,
  ACTION_TRANSITIONS,
  type ActionState,
  canRequestCancel,
  FEEDBACK_STATUSES,
  isActionState,
  isFeedbackStatus,
  isTerminal,
  nextActionState,
  reportPath,
  TERMINAL_STATES,
} from './action-state-machine.js';

describe('action state machine', () => {
  it('reaches every state from assigned', () => {
    const seen = new Set<ActionState>(['assigned']);
    let grew = true;
    while (grew) {
      grew = false;
      for (const t of ACTION_TRANSITIONS) {
        if (seen.has(t.from) && !seen.has(t.on)) {
          seen.add(t.on);
          grew = true;
        }
      }
    }
    expect([...seen].sort()).toEqual([...ACTION_STATES].sort());
  });

  it('lets every open state fail, and no terminal state go anywhere', () => {
    for (const state of ACTION_STATES) {
      if (isTerminal(state)) {
        expect(ACTION_TRANSITIONS.filter((t) => t.from === state)).toEqual([]);
      } else {
        expect(ACTION_TRANSITIONS.some((t) => t.from === state && t.on === 'failure')).toBe(true);
      }
    }
  });

  it('walks the happy path', () => {
    let state: ActionState = 'assigned';
    for (const status of [
      'downloading',
      'downloaded',
      'installing',
      'rebooting',
      'success',
    ] as const) {
      const verdict = nextActionState(
        { state, cancelRequested: false },
        { status, progress: null },
      );
      expect(verdict).toEqual({ ok: true, to: status });
      if (verdict.ok) state = verdict.to;
    }
    expect(isTerminal(state)).toBe(true);
  });

  it('refuses success before downloaded', () => {
    const v = nextActionState({ state: 'assigned', cancelRequested: false }, { status: 'success' });
    expect(v.ok).toBe(false);
    const w = nextActionState(
      { state: 'downloading', cancelRequested: false },
      { status: 'success' },
    );
    expect(w.ok).toBe(false);
  });

  it('refuses anything after a terminal status', () => {
    for (const state of TERMINAL_STATES) {
      for (const status of FEEDBACK_STATUSES) {
        expect(nextActionState({ state, cancelRequested: true }, { status, code: 'X' }).ok).toBe(
          false,
        );
      }
    }
  });

  it('accepts canceled only after a cancel request', () => {
    expect(
      nextActionState({ state: 'downloading', cancelRequested: false }, { status: 'canceled' }).ok,
    ).toBe(false);
    expect(
      nextActionState({ state: 'downloading', cancelRequested: true }, { status: 'canceled' }),
    ).toEqual({
      ok: true,
      to: 'canceled',
    });
    expect(canRequestCancel({ state: 'assigned', cancelRequested: false })).toBe(true);
    expect(canRequestCancel({ state: 'installing', cancelRequested: false })).toBe(false);
    expect(canRequestCancel({ state: 'success', cancelRequested: false })).toBe(false);
  });

  it('checks progress bounds and requires a code on failure and rejected', () => {
    const open = { state: 'assigned' as const, cancelRequested: false };
    expect(nextActionState(open, { status: 'downloading', progress: 101 }).ok).toBe(false);
    expect(nextActionState(open, { status: 'downloading', progress: 4.5 }).ok).toBe(false);
    expect(nextActionState(open, { status: 'downloading', progress: 100 }).ok).toBe(true);
    expect(nextActionState(open, { status: 'failure' }).ok).toBe(false);
    expect(nextActionState(open, { status: 'rejected', code: 'MANIFEST_ROLLBACK' }).ok).toBe(true);
  });

  it('guards its closed sets', () => {
    expect(isActionState('assigned')).toBe(true);
    expect(isActionState('closed')).toBe(false);
    expect(isFeedbackStatus('assigned')).toBe(false);
    expect(isFeedbackStatus('canceled')).toBe(true);
  });

  it('only ever moves to the reported status, for any report sequence', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ status: fc.constantFrom(...FEEDBACK_STATUSES), cancel: fc.boolean() }),
          {
            maxLength: 30,
          },
        ),
        (reports) => {
          let state: ActionState = 'assigned';
          for (const r of reports) {
            const v = nextActionState(
              { state, cancelRequested: r.cancel },
              { status: r.status, code: 'E' },
            );
            if (v.ok) {
              expect(v.to).toBe(r.status);
              expect(isTerminal(state)).toBe(false);
              state = v.to;
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('reportPath', () => {
  it('replays the states a foreign client skipped, shortest first', () => {
    expect(reportPath('assigned', 'success')).toEqual(['downloaded', 'installing', 'success']);
    expect(reportPath('downloading', 'installing')).toEqual(['downloaded', 'installing']);
    expect(reportPath('assigned', 'failure')).toEqual(['failure']);
    expect(reportPath('installing', 'installing')).toEqual([]);
  });

  it('reaches canceled only after a cancel request, and nothing from a closed action', () => {
    expect(reportPath('downloading', 'canceled')).toBeNull();
    expect(reportPath('downloading', 'canceled', true)).toEqual(['canceled']);
    expect(reportPath('installing', 'canceled', true)).toBeNull();
    expect(reportPath('success', 'failure')).toBeNull();
    expect(reportPath('rebooting', 'downloading')).toBeNull();
  });

  it('only ever yields walks the state machine accepts, for every pair of states', () => {
    for (const from of ACTION_STATES) {
      for (const to of FEEDBACK_STATUSES) {
        for (const cancelRequested of [false, true]) {
          const path = reportPath(from, to, cancelRequested);
          if (path === null) continue;
          let state: ActionState = from;
          for (const status of path) {
            const verdict = nextActionState(
              { state, cancelRequested },
              { status, code: status === 'failure' || status === 'rejected' ? 'X' : null },
            );
            expect(verdict, `${from} → ${to} via ${path.join(',')}`).toEqual({
              ok: true,
              to: status,
            });
            state = status;
          }
          expect(state).toBe(path.length === 0 ? from : to);
        }
      }
    }
  });
});
