import { createHash } from 'node:crypto';
import type {
  CheckInRequest,
  CheckInResult,
  DeviceAction,
  FeedbackReport,
  FeedbackResult,
  PayloadResponse,
  Transport,
} from '@updraft/agent';
import { AgentError } from '@updraft/agent';
import { BugError, componentIdToHex } from '@updraft/core';
import { Prng } from '../prng.js';

/** One release offered by a {@link MemoryTransport}. */
export interface MemoryRelease {
  readonly actionId: string;
  readonly version: string;
  readonly sequenceNumber: number;
  readonly envelope: Uint8Array;
  readonly payloads: readonly Uint8Array[];
}

/** Faults on the wire. */
export interface WireFaults {
  /** Flip one random bit in each payload response with this probability (seeded). */
  readonly bitFlipProbability?: number;
  readonly seed?: number;
}

const TERMINAL = new Set(['success', 'failure', 'rejected', 'canceled']);

/**
 * An in-process update service for simulated devices: offers one action until the device
 * reports a terminal status, serves the envelope and payloads (with Range offsets and optional
 * bit flips on the wire), and keeps every feedback report. Used by sweeps and fleet tests that
 * do not need a real server; `HttpTransport` talks to a real one.
 */
export class MemoryTransport implements Transport {
  readonly reports: { actionId: string; report: FeedbackReport }[] = [];
  readonly rangeRequests: number[] = [];
  private readonly rng: Prng;
  private closed = false;

  constructor(
    private readonly release: MemoryRelease | null,
    private readonly faults: WireFaults = {},
    private readonly chunkSize = 512,
  ) {
    this.rng = new Prng(faults.seed ?? 7);
  }

  /** The last terminal status reported for the release, or null. */
  get outcome(): FeedbackReport | null {
    for (let i = this.reports.length - 1; i >= 0; i--) {
      const r = this.reports[i];
      if (r && TERMINAL.has(r.report.status)) return r.report;
    }
    return null;
  }

  async checkIn(_request: CheckInRequest, _etag: string | null): Promise<CheckInResult> {
    const open = this.release !== null && !this.closed;
    return {
      status: 200,
      etag: null,
      body: { pollIntervalSeconds: 60, action: open ? this.action() : null },
    };
  }

  async fetchEnvelope(url: string, maxBytes: number): Promise<Uint8Array> {
    if (!this.release || url !== this.action().envelopeUrl) {
      throw new AgentError('AGENT_SERVER_ERROR', 'no such envelope');
    }
    if (this.release.envelope.length > maxBytes) {
      throw new AgentError('AGENT_ENVELOPE_TOO_LARGE', 'envelope too large');
    }
    return this.release.envelope.slice();
  }

  async openPayload(url: string, offset: number, _signal: AbortSignal): Promise<PayloadResponse> {
    const index = Number(/\/payloads\/(\d+)$/.exec(url)?.[1] ?? -1);
    const payload = this.release?.payloads[index];
    if (!payload) throw new AgentError('AGENT_SERVER_ERROR', 'no such payload');
    if (offset > 0) this.rangeRequests.push(offset);
    const bytes = payload.slice(Math.min(offset, payload.length));
    const p = this.faults.bitFlipProbability ?? 0;
    if (p > 0 && bytes.length > 0 && this.rng.float() < p) {
      const at = this.rng.int(bytes.length);
      bytes[at] = (bytes[at] ?? 0) ^ (1 << this.rng.int(8));
    }
    const chunk = this.chunkSize;
    async function* body() {
      for (let at = 0; at < bytes.length; at += chunk) yield bytes.subarray(at, at + chunk);
    }
    return { start: offset, totalSize: payload.length, body: body() };
  }

  async sendFeedback(actionId: string, report: FeedbackReport): Promise<FeedbackResult> {
    if (this.reports.some((r) => r.report.reportId === report.reportId)) return 'accepted';
    this.reports.push({ actionId, report });
    if (TERMINAL.has(report.status)) this.closed = true;
    return 'accepted';
  }

  private action(): DeviceAction {
    const r = this.release;
    // Callers check for a release first: reaching here without one is a bug of this class.
    if (!r) throw new BugError('MemoryTransport.action() without a release');
    return {
      id: r.actionId,
      state: 'assigned',
      cancelRequested: false,
      downloadOnly: false,
      maintenanceWindow: null,
      release: { id: `rel-${r.version}`, version: r.version, sequenceNumber: r.sequenceNumber },
      envelopeUrl: `/actions/${r.actionId}/envelope`,
      payloads: r.payloads.map((p, i) => ({
        component: componentIdToHex([Uint8Array.of(i)]),
        digest: createHash('sha256').update(p).digest('hex'),
        size: p.length,
        url: `/actions/${r.actionId}/payloads/${i}`,
      })),
    };
  }
}
