import { describe, expect, expectTypeOf, it } from 'vitest';
import type {
  CheckInReport,
  CheckInRequest,
  CheckInResponse,
  FeedbackAnswer,
  FeedbackReport,
  InstalledComponent,
  ReportedComponent,
} from './index.js';
import { FEEDBACK_STATUSES } from './index.js';

// The examples of docs/device-api.md, typed: `tsc -b` checks that the wire types still describe
// them (a renamed or dropped field fails the build), and the runtime checks pin the closed sets.
const request: CheckInRequest = {
  components: [{ id: '814100', version: '1.2.0', sequenceNumber: 12, digest: 'ab'.repeat(32) }],
  attributes: { hwRevision: 'B', battery: 83 },
};
const answer: CheckInResponse = {
  pollIntervalSeconds: 60,
  action: {
    id: 'act_1',
    state: 'assigned',
    cancelRequested: false,
    type: 'soft',
    forceAfter: null,
    downloadOnly: false,
    maintenanceWindow: null,
    recurringWindow: null,
    release: { id: 'rel_1', version: '1.3.0', sequenceNumber: 13 },
    envelopeUrl: '/api/device/v1/actions/act_1/envelope',
    payloads: [
      {
        component: '814100',
        digest: 'cd'.repeat(32),
        size: 1_048_576,
        url: '/api/device/v1/artifacts/x',
        delta: {
          baseDigest: 'ab'.repeat(32),
          patchDigest: 'ef'.repeat(32),
          patchSize: 48_210,
          url: '/api/device/v1/deltas/y',
        },
      },
    ],
  },
};
const report: FeedbackReport = {
  reportId: 'r-0000001',
  status: 'downloading',
  progress: 42,
  code: null,
  message: null,
};
const taken: FeedbackAnswer = {
  id: 'act_1',
  state: 'downloading',
  cancelRequested: false,
  replayed: false,
};

describe('device API wire types', () => {
  it("lets every report of Updraft's agent pass where the service accepts a leaner one", () => {
    expectTypeOf<CheckInRequest>().toExtend<CheckInReport>();
    expectTypeOf<InstalledComponent>().toExtend<ReportedComponent>();
    // The service accepts a component it knows nothing about but its id; the agent never sends one.
    expectTypeOf<{ id: string }>().toExtend<ReportedComponent>();
    expectTypeOf<{ id: string }>().not.toExtend<InstalledComponent>();
    expect(JSON.parse(JSON.stringify(request))).toEqual(request);
  });

  it('types the feedback exchange and a delta offer as the docs show them', () => {
    expect(FEEDBACK_STATUSES).toContain(report.status);
    expect(answer.action?.payloads[0]?.delta?.patchSize).toBe(48_210);
    expect(taken.replayed).toBe(false);
  });
});
