import { isUpdraftError } from '@updraft/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJournal, encodeJournal, initialJournal, JOURNAL_MAX_BYTES } from './journal.js';

const installed = [{ id: '814100', version: '1.0.0', sequenceNumber: 1, digest: 'ab'.repeat(32) }];

describe('journal encoding', () => {
  it('round-trips a journal', () => {
    const j = initialJournal(installed);
    j.state = 'Download';
    j.outbox.push({
      actionId: 'act_1',
      report: {
        reportId: 'r-12345678',
        status: 'downloading',
        progress: 0,
        code: null,
        message: null,
      },
    });
    expect(decodeJournal(encodeJournal(j))).toEqual(j);
  });

  it('detects any single damaged byte', () => {
    const bytes = encodeJournal(initialJournal(installed));
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const damaged = bytes.slice();
        damaged[at]! ^= flip;
        expect(() => decodeJournal(damaged)).toThrow(
          expect.objectContaining({ code: 'AGENT_JOURNAL_CORRUPT' }),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('answers arbitrary bytes with a journal or AGENT_JOURNAL_CORRUPT, nothing else (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        try {
          decodeJournal(bytes);
        } catch (error) {
          expect(isUpdraftError(error) && error.code).toBe('AGENT_JOURNAL_CORRUPT');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses records over its size limit', () => {
    expect(() => decodeJournal(new Uint8Array(JOURNAL_MAX_BYTES + 1))).toThrow(
      expect.objectContaining({ code: 'AGENT_JOURNAL_CORRUPT' }),
    );
  });
});
