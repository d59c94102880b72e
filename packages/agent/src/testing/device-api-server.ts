// A small node:http server speaking docs/device-api.md, for the agent's tests (real HTTP over
// loopback, port 0). It plays a well-behaved service by default; `faults` turn it into the
// attacker or the broken network of the attack tests.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ActionType, componentIdToHex, type RecurringMaintenanceWindow } from '@updraft/core';
import type { DeviceAction, FeedbackReport } from '../ports/transport.js';

/** Misbehaviours of the test service. */
export interface ServerFaults {
  /** Stop sending (keep the socket open) after this many payload bytes, for the next N requests. */
  stallAfterBytes?: number;
  stallRequests?: number;
  /** Append this many extra bytes to every payload (endless data). */
  extraBytes?: number;
  /** Flip one bit of the payload at this offset while sending (a bit flip on the wire). */
  flipBitAt?: number;
  /** Ignore Range headers (answer 200 with the whole payload). */
  ignoreRange?: boolean;
  /** Answer check-ins with 503 for the next N requests. */
  failCheckIns?: number;
  /** Send this Retry-After (seconds) with the failed check-ins. */
  retryAfterSeconds?: number;
  /** Answer envelope requests with 503 for the next N requests. */
  failEnvelopes?: number;
  /** Answer payload downloads with 503 for the next N requests. */
  failPayloads?: number;
  /** Answer every request with 401 (a wrong or revoked device token). */
  rejectTokens?: boolean;
}

/** What the test service saw. */
export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly range: string | null;
  readonly authorization: string | null;
}

/** A release as the test service serves it. */
export interface TestRelease {
  readonly actionId: string;
  readonly version: string;
  readonly sequenceNumber: number;
  readonly envelope: Uint8Array;
  readonly payloads: readonly Uint8Array[];
  readonly downloadOnly?: boolean;
  readonly type?: ActionType;
  readonly forceAfter?: string | null;
  readonly maintenanceWindow?: { start: string; end: string } | null;
  readonly recurringWindow?: RecurringMaintenanceWindow | null;
  readonly cancelRequested?: boolean;
}

const TERMINAL = new Set(['success', 'failure', 'rejected', 'canceled']);

/** The test service. */
export class DeviceApiServer {
  readonly requests: RequestRecord[] = [];
  /** Reports as received; `at` is the reading of the clock given to the constructor, if any. */
  readonly feedback: { actionId: string; report: FeedbackReport; at?: number }[] = [];
  readonly checkIns: unknown[] = [];
  faults: ServerFaults = {};
  pollIntervalSeconds = 60;
  #release: TestRelease | null = null;
  #closed = new Set<string>();
  #server: Server;
  #open = new Set<ServerResponse>();
  #waiters: { predicate: (r: FeedbackReport) => boolean; resolve: () => void }[] = [];
  url = '';

  readonly #clock: { now(): number } | undefined;

  /** `clock`: stamps each feedback report with the (test's injected) time it arrived. */
  constructor(options: { clock?: { now(): number } } = {}) {
    this.#clock = options.clock;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const port = (this.#server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const res of this.#open) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Offers a release to the device (one open action at a time). */
  offer(release: TestRelease): void {
    this.#release = release;
  }

  /** Resolves when a feedback report matching `predicate` arrives (or has already). */
  whenFeedback(predicate: (report: FeedbackReport) => boolean): Promise<void> {
    if (this.feedback.some((f) => predicate(f.report))) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ predicate, resolve }));
  }

  /** Withdraws the offered release: check-ins answer "no action" again. */
  withdraw(): void {
    this.#release = null;
  }

  /** The operator asks to cancel the open action. */
  requestCancel(): void {
    if (this.#release) this.#release = { ...this.#release, cancelRequested: true };
  }

  /** Statuses reported for an action, in order; progress updates of one status count once. */
  statuses(actionId: string): string[] {
    const all = this.feedback.filter((f) => f.actionId === actionId).map((f) => f.report.status);
    return all.filter((status, i) => i === 0 || all[i - 1] !== status);
  }

  /** The progress values reported while downloading. */
  progress(actionId: string): (number | null)[] {
    return this.feedback
      .filter((f) => f.actionId === actionId && f.report.status === 'downloading')
      .map((f) => f.report.progress);
  }

  /** The final report of an action. */
  final(actionId: string): FeedbackReport | undefined {
    return this.feedback.filter((f) => f.actionId === actionId).at(-1)?.report;
  }

  #action(): DeviceAction | null {
    const r = this.#release;
    if (r === null || this.#closed.has(r.actionId)) return null;
    return {
      id: r.actionId,
      state: 'assigned',
      cancelRequested: r.cancelRequested ?? false,
      ...(r.type === undefined ? {} : { type: r.type }),
      forceAfter: r.forceAfter ?? null,
      downloadOnly: r.downloadOnly ?? r.type === 'download-only',
      maintenanceWindow: r.maintenanceWindow ?? null,
      recurringWindow: r.recurringWindow ?? null,
      release: { id: `rel_${r.version}`, version: r.version, sequenceNumber: r.sequenceNumber },
      envelopeUrl: `/api/device/v1/actions/${r.actionId}/envelope`,
      payloads: r.payloads.map((p, i) => {
        const digest = createHash('sha256').update(p).digest('hex');
        const component = componentIdToHex([Uint8Array.of(i)]);
        return {
          component,
          digest,
          size: p.length,
          url: `/api/device/v1/artifacts/${digest}?sig=test`,
        };
      }),
    };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname,
      range: req.headers.range ?? null,
      authorization: req.headers.authorization ?? null,
    });
    const body = await readBody(req);
    if (this.faults.rejectTokens) {
      return json(res, 401, { code: 'AUTH_TOKEN_INVALID', status: 401 });
    }
    if (req.method === 'POST' && url.pathname === '/api/device/v1/check-in') {
      if ((this.faults.failCheckIns ?? 0) > 0) {
        this.faults.failCheckIns = (this.faults.failCheckIns ?? 0) - 1;
        const retryAfter = this.faults.retryAfterSeconds;
        const headers: Record<string, string> =
          retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) };
        return json(res, 503, { code: 'UNAVAILABLE' }, headers);
      }
      this.checkIns.push(JSON.parse(body.toString()));
      return json(res, 200, {
        pollIntervalSeconds: this.pollIntervalSeconds,
        action: this.#action(),
      });
    }
    const envelope = /^\/api\/device\/v1\/actions\/([^/]+)\/envelope$/.exec(url.pathname);
    const release = this.#release;
    if (req.method === 'GET' && envelope && release !== null && release.actionId === envelope[1]) {
      if ((this.faults.failEnvelopes ?? 0) > 0) {
        this.faults.failEnvelopes = (this.faults.failEnvelopes ?? 0) - 1;
        return json(res, 503, { code: 'UNAVAILABLE' });
      }
      res.writeHead(200, { 'content-type': 'application/suit-envelope+cose' });
      return void res.end(release.envelope);
    }
    const feedback = /^\/api\/device\/v1\/actions\/([^/]+)\/feedback$/.exec(url.pathname);
    if (req.method === 'POST' && feedback) {
      const actionId = feedback[1]!;
      const report = JSON.parse(body.toString()) as FeedbackReport;
      if (this.feedback.some((f) => f.report.reportId === report.reportId)) {
        return json(res, 200, { replay: true });
      }
      if (this.#closed.has(actionId)) return json(res, 409, { code: 'ACTION_TRANSITION_INVALID' });
      this.feedback.push({
        actionId,
        report,
        ...(this.#clock === undefined ? {} : { at: this.#clock.now() }),
      });
      for (const w of this.#waiters.filter((x) => x.predicate(report))) w.resolve();
      this.#waiters = this.#waiters.filter((x) => !x.predicate(report));
      if (TERMINAL.has(report.status) || report.status === 'downloaded') {
        if (
          TERMINAL.has(report.status) ||
          this.#release?.downloadOnly ||
          this.#release?.type === 'download-only'
        )
          this.#closed.add(actionId);
      }
      return json(res, 200, { ok: true });
    }
    const artifact = /^\/api\/device\/v1\/artifacts\/([0-9a-f]{64})$/.exec(url.pathname);
    if (req.method === 'GET' && artifact) {
      const payload = this.#release?.payloads.find(
        (p) => createHash('sha256').update(p).digest('hex') === artifact[1],
      );
      if (!payload) return json(res, 404, { code: 'NOT_FOUND' });
      if ((this.faults.failPayloads ?? 0) > 0) {
        this.faults.failPayloads = (this.faults.failPayloads ?? 0) - 1;
        return json(res, 503, { code: 'UNAVAILABLE' });
      }
      return this.#sendPayload(req, res, payload);
    }
    json(res, 404, { code: 'NOT_FOUND' });
  }

  #sendPayload(req: IncomingMessage, res: ServerResponse, payload: Uint8Array): void {
    const f = this.faults;
    let data = Buffer.from(payload);
    if (f.flipBitAt !== undefined) data[f.flipBitAt]! ^= 0x01;
    if (f.extraBytes) data = Buffer.concat([data, Buffer.alloc(f.extraBytes, 0x5a)]);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (m && !f.ignoreRange) {
      start = Number(m[1]);
      res.writeHead(206, {
        'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
        'content-length': data.length - start,
        'accept-ranges': 'bytes',
      });
    } else {
      res.writeHead(200, { 'content-length': data.length, 'accept-ranges': 'bytes' });
    }
    const part = data.subarray(start);
    if (f.stallAfterBytes !== undefined && (f.stallRequests ?? 1) > 0) {
      f.stallRequests = (f.stallRequests ?? 1) - 1;
      // Send a prefix, then hold the connection open without a byte more.
      res.write(part.subarray(0, Math.max(0, f.stallAfterBytes - start)));
      this.#open.add(res);
      return;
    }
    res.end(part);
  }
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
    ...headers,
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
