import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { reportPath } from '../actions/action-state-machine.js';
import { ddiHandling, ddiSleep } from './ddi.service.js';
import {
  DDI_EXECUTIONS,
  DDI_FEEDBACK_TABLE,
  DDI_FINISHED,
  type DdiExecution,
  noteStatus,
} from './ddi-feedback.js';

const doc = readFileSync(new URL('../../../../../docs/hawkbit-ddi.md', import.meta.url), 'utf8');

describe('DDI feedback mapping', () => {
  it('documents every execution of the table with the state it leads to', () => {
    for (const execution of DDI_EXECUTIONS) {
      for (const finished of DDI_FINISHED) {
        const meaning = DDI_FEEDBACK_TABLE[execution](finished);
        const rows = doc
          .split('\n')
          .filter((l) => l.startsWith(`| \`${execution}\` |`))
          .filter((l) => execution !== 'closed' || l.includes(`| \`${finished}\` |`));
        expect(rows.length, `${execution}/${finished}`).toBe(1);
        const row = rows[0] as string;
        if (meaning.kind === 'note') expect(row).toContain('progress note');
        else expect(row.split('|')[3]).toContain(`\`${meaning.status}\``);
        if (meaning.kind === 'walk' && meaning.code !== null) expect(row).toContain(meaning.code);
      }
    }
  });

  it('walks closed/success from assigned through downloaded and installing, and refuses a cancel once installing', () => {
    expect(reportPath('assigned', 'success')).toEqual(['downloaded', 'installing', 'success']);
    const walked = (e: DdiExecution) => DDI_FEEDBACK_TABLE[e]('failure');
    expect(walked('closed')).toEqual({ kind: 'walk', status: 'failure', code: 'DDI_FAILURE' });
    expect(reportPath('downloading', 'failure')).toEqual(['failure']);
    expect(reportPath('installing', 'canceled')).toBeNull();
    expect(reportPath('downloaded', 'canceled', true)).toEqual(['canceled']);
  });

  it('records a progress note on an assigned action as downloading, elsewhere as the state itself', () => {
    expect(noteStatus('assigned')).toBe('downloading');
    expect(noteStatus('installing')).toBe('installing');
  });
});

describe('DDI handling and polling sleep', () => {
  const row = (over: Record<string, string | null>) => ({
    action_type: 'soft',
    force_after: null,
    maintenance_window: null,
    recurring_window: null,
    ...over,
  });
  const now = Date.parse('2026-12-03T12:00:00Z');

  it('maps action types onto download/update handling', () => {
    expect(ddiHandling(row({ action_type: 'forced' }), now)).toEqual({
      download: 'forced',
      update: 'forced',
      window: null,
    });
    expect(ddiHandling(row({}), now)).toMatchObject({ download: 'attempt', update: 'attempt' });
    expect(ddiHandling(row({ action_type: 'download-only' }), now)).toMatchObject({
      download: 'forced',
      update: 'skip',
    });
    const timed = { action_type: 'time-forced', force_after: '2026-12-03T13:00:00Z' };
    expect(ddiHandling(row(timed), now)).toMatchObject({ update: 'attempt' });
    expect(ddiHandling(row(timed), now + 3_600_000)).toMatchObject({ update: 'forced' });
  });

  it('skips the update while the maintenance window is closed', () => {
    const window = JSON.stringify({ start: '2026-12-03T11:00:00Z', end: '2026-12-03T13:00:00Z' });
    const open = ddiHandling(row({ action_type: 'forced', maintenance_window: window }), now);
    expect(open).toEqual({ download: 'forced', update: 'forced', window: 'available' });
    const later = ddiHandling(
      row({ action_type: 'forced', maintenance_window: window }),
      now + 2 * 3_600_000,
    );
    expect(later).toEqual({ download: 'forced', update: 'skip', window: 'unavailable' });
  });

  it("formats the polling sleep as hawkBit's HH:MM:SS", () => {
    expect(ddiSleep(300)).toBe('00:05:00');
    expect(ddiSleep(3661)).toBe('01:01:01');
    expect(ddiSleep(86_399)).toBe('23:59:59');
  });
});
