import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { reportPath } from '../actions/action-state-machine.js';
import { MENDER_STATUS_MAP, MENDER_STATUSES } from './mender-status.js';

describe('Mender status mapping', () => {
  it('docs/mender-api.md shows exactly MENDER_STATUS_MAP', () => {
    const doc = readFileSync(new URL('../../../../../docs/mender-api.md', import.meta.url), 'utf8');
    const block = /<!-- mender-status-map:start -->([\s\S]*?)<!-- mender-status-map:end -->/.exec(
      doc,
    )?.[1];
    expect(block).toBeDefined();
    const rows = block!
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => l.split('|').map((c) => c.trim().replaceAll('`', '')))
      .map((c) => [c[1], c[2], c[3] === '' ? null : c[3], c[4]]);
    expect(rows).toEqual(
      MENDER_STATUSES.map((s) => [
        s,
        MENDER_STATUS_MAP[s].to,
        MENDER_STATUS_MAP[s].code,
        MENDER_STATUS_MAP[s].why,
      ]),
    );
  });

  it('every status is reachable from a fresh action, and failures carry a code', () => {
    for (const s of MENDER_STATUSES) {
      const { to, code } = MENDER_STATUS_MAP[s];
      expect(reportPath('assigned', to), s).not.toBeNull();
      if (to === 'failure' || to === 'rejected') expect(code, s).not.toBeNull();
    }
  });
});
