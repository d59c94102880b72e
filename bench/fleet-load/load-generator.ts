// One load-generator process of the fleet-load bench: simulates devices [from, to) as plain
// keep-alive HTTP clients (no simulator, no crypto): each polls the check-in every interval
// ±10 % from a random first phase, with the ETag of its last answer; a device in the campaign,
// on seeing its action, fetches the envelope, downloads the payloads through the URLs it was
// given and reports downloading → downloaded → installing → success, then reports its new
// version. Prints one JSON line (its histograms and counts) when the measured window is over.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { type Histogram, newHistogram, record } from './histogram.ts';

/** What the orchestrator hands each generator (a JSON file). */
export interface GeneratorJob {
  readonly baseUrl: string;
  /** Device i's bearer token is `${tokenPrefix}${i}`. */
  readonly tokenPrefix: string;
  readonly from: number;
  readonly to: number;
  /** Device i is in the campaign when i % campaignStride === 0 (0: nobody). */
  readonly campaignStride: number;
  readonly intervalS: number;
  /** Epoch ms of the first possible poll (all generators share it). */
  readonly startAt: number;
  readonly warmupS: number;
  readonly measureS: number;
  /** Keep-alive sockets of this process's pool. */
  readonly sockets: number;
  readonly timeoutMs: number;
  /** The report before and after the update. */
  readonly reportBefore: string;
  readonly reportAfter: string;
}

/** What a generator prints. */
export interface GeneratorResult {
  /** Check-ins started in the measured window (answered or not). */
  pollsStarted: number;
  /** Of those, answered 200 or 304. */
  polls: number;
  notModified: number;
  pollHistogram: Histogram;
  /** Campaign requests (envelope, downloads, feedback) started in the window. */
  campaignRequests: number;
  campaignHistogram: Histogram;
  downloads: number;
  downloadBytes: number;
  campaignDevicesDone: number;
  /** `shed`: 503 DEVICE_SERVICE_BUSY (the device would come back after its Retry-After). */
  errors: { status: number; shed: number; timeout: number; connection: number };
  /** Error samples (first few), for the report. */
  errorSamples: string[];
  warmupErrors: number;
  /** Polls that could not start on time (scheduler lag > 1 s: the generator is saturated). */
  lateStarts: number;
  cpuSeconds: number;
  /** Per second of the window (by the second a poll was issued): polls, those over 100 ms, worst. */
  timeline: { polls: number; over100ms: number; maxMs: number }[];
}

interface Answer {
  status: number;
  etag?: string;
  body?: string;
  bytes: number;
}

const job = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as GeneratorJob;
const base = new URL(job.baseUrl);
const agent = new http.Agent({ keepAlive: true, maxSockets: job.sockets, keepAliveMsecs: 30_000 });
const measureFrom = job.startAt + job.warmupS * 1000;
const measureTo = measureFrom + job.measureS * 1000;
const result: GeneratorResult = {
  pollsStarted: 0,
  polls: 0,
  notModified: 0,
  pollHistogram: newHistogram(),
  campaignRequests: 0,
  campaignHistogram: newHistogram(),
  downloads: 0,
  downloadBytes: 0,
  campaignDevicesDone: 0,
  errors: { status: 0, shed: 0, timeout: 0, connection: 0 },
  errorSamples: [],
  warmupErrors: 0,
  lateStarts: 0,
  cpuSeconds: 0,
  timeline: Array.from({ length: job.measureS }, () => ({ polls: 0, over100ms: 0, maxMs: 0 })),
};

function address(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function send(
  method: string,
  target: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  const url = new URL(target, base);
  return new Promise((resolve, reject) => {
    // The deadline runs from the moment the request is issued: time queued for a pooled
    // socket counts (a device does not care why its answer is late). Cleared once settled: a
    // finished request's socket already serves the next one and must not be destroyed.
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      fn();
    };
    const deadline = setTimeout(() => {
      if (!settled) req.destroy(new Error('timeout'));
    }, job.timeoutMs);
    const req = http.request(
      {
        method,
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        headers:
          body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        const keep = res.headers['content-type']?.includes('json') === true;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (keep) chunks.push(c);
        });
        res.on('end', () => {
          const etag = res.headers.etag;
          settle(() =>
            resolve({
              status: res.statusCode ?? 0,
              ...(etag !== undefined ? { etag } : {}),
              ...(keep ? { body: Buffer.concat(chunks).toString('utf8') } : {}),
              bytes,
            }),
          );
        });
        res.on('error', (error) => settle(() => reject(error)));
      },
    );
    req.on('error', (error) => settle(() => reject(error)));
    req.end(body);
  });
}

type Kind = 'poll' | 'campaign';
let inflight = 0;

/** Runs one request, timing it from the moment it was issued (a queue in the pool counts). */
async function timed(
  kind: Kind,
  ok: (status: number) => boolean,
  run: () => Promise<Answer>,
): Promise<Answer | undefined> {
  const started = performance.now();
  const at = Date.now();
  inflight++;
  const inWindow = at >= measureFrom && at < measureTo;
  if (inWindow && kind === 'poll') result.pollsStarted++;
  try {
    const answer = await run();
    const micros = (performance.now() - started) * 1000;
    if (!ok(answer.status)) {
      fail(
        inWindow,
        answer.status === 503 && answer.body?.includes('DEVICE_SERVICE_BUSY') ? 'shed' : 'status',
        `${kind} answered ${answer.status}: ${answer.body?.slice(0, 200) ?? ''}`,
      );
      return undefined;
    }
    if (inWindow) {
      if (kind === 'poll') {
        result.polls++;
        if (answer.status === 304) result.notModified++;
        record(result.pollHistogram, micros);
        const second = result.timeline[Math.floor((at - measureFrom) / 1000)];
        if (second !== undefined) {
          second.polls++;
          if (micros > 100_000) second.over100ms++;
          second.maxMs = Math.max(second.maxMs, Math.round(micros / 1000));
        }
      } else {
        result.campaignRequests++;
        record(result.campaignHistogram, micros);
      }
    }
    return answer;
  } catch (error) {
    const message = (error as Error).message;
    fail(inWindow, message === 'timeout' ? 'timeout' : 'connection', `${kind}: ${message}`);
    return undefined;
  } finally {
    inflight--;
  }
}

function fail(inWindow: boolean, kind: keyof GeneratorResult['errors'], sample: string): void {
  if (!inWindow) {
    result.warmupErrors++;
    if (result.errorSamples.length < 5) result.errorSamples.push(`(warm-up) ${sample}`);
    return;
  }
  result.errors[kind]++;
  if (result.errorSamples.length < 10) result.errorSamples.push(sample);
}

interface Device {
  readonly index: number;
  readonly headers: Record<string, string>;
  etag?: string;
  report: string;
  busy: boolean;
  handled?: string;
}

const devices: Device[] = [];
for (let i = job.from; i < job.to; i++) {
  devices.push({
    index: i,
    headers: {
      authorization: `Bearer ${job.tokenPrefix}${i}`,
      'x-forwarded-for': address(i),
      'content-type': 'application/json',
    },
    report: job.reportBefore,
    busy: false,
  });
}

async function poll(d: Device): Promise<void> {
  const headers = d.etag === undefined ? d.headers : { ...d.headers, 'if-none-match': d.etag };
  const answer = await timed(
    'poll',
    (s) => s === 200 || s === 304,
    () => send('POST', '/api/device/v1/check-in', headers, d.report),
  );
  if (answer === undefined) return;
  if (answer.etag !== undefined) d.etag = answer.etag;
  if (answer.status !== 200 || answer.body === undefined) return;
  const action = (JSON.parse(answer.body) as { action: CampaignAction | null }).action;
  if (action !== null && action.id !== d.handled && !d.busy) {
    d.busy = true;
    void update(d, action).finally(() => {
      d.busy = false;
    });
  }
}

interface CampaignAction {
  id: string;
  envelopeUrl: string;
  payloads: { url: string }[];
}

/** The campaign device's update: envelope, payloads, then its reports up to success. */
async function update(d: Device, action: CampaignAction): Promise<void> {
  const auth = {
    authorization: d.headers.authorization!,
    'x-forwarded-for': d.headers['x-forwarded-for']!,
  };
  const ok2xx = (s: number) => s >= 200 && s < 300;
  const feedback = (status: string, progress?: number) =>
    timed('campaign', ok2xx, () =>
      send(
        'POST',
        `/api/device/v1/actions/${action.id}/feedback`,
        { ...auth, 'content-type': 'application/json' },
        JSON.stringify({
          reportId: randomBytes(9).toString('base64url'),
          status,
          ...(progress !== undefined ? { progress } : {}),
        }),
      ),
    );
  if (!(await timed('campaign', ok2xx, () => send('GET', action.envelopeUrl, auth)))) return;
  if (!(await feedback('downloading', 0))) return;
  for (const p of action.payloads) {
    // The URL as given: relative (served by Updraft) or absolute (object store / CDN). No
    // credential, but the device's own address: behind the balancer every device is a client of
    // its own, not 300 anonymous downloads a minute from one loopback address.
    const from = { 'x-forwarded-for': auth['x-forwarded-for'] };
    const got = await timed('campaign', ok2xx, () => send('GET', p.url, from));
    if (!got) return;
    result.downloads++;
    result.downloadBytes += got.bytes;
  }
  if (!(await feedback('downloaded'))) return;
  if (!(await feedback('installing'))) return;
  if (!(await feedback('success'))) return;
  d.handled = action.id;
  d.report = job.reportAfter;
  result.campaignDevicesDone++;
}

// --- scheduling: 10 ms slots, each holding the devices due then ------------------------------
const SLOT = 10;
const slots = new Map<number, Device[]>();
function schedule(d: Device, at: number): void {
  const key = Math.floor(at / SLOT);
  let list = slots.get(key);
  if (list === undefined) {
    list = [];
    slots.set(key, list);
  }
  list.push(d);
}
const intervalMs = job.intervalS * 1000;
for (const d of devices) schedule(d, job.startAt + Math.random() * intervalMs);

let nextKey = Math.floor(job.startAt / SLOT);
const endKey = Math.floor(measureTo / SLOT);
let cpuAtStart: NodeJS.CpuUsage | undefined;
await new Promise<void>((resolve) => {
  const tick = () => {
    const now = Date.now();
    if (cpuAtStart === undefined && now >= measureFrom) cpuAtStart = process.cpuUsage();
    const nowKey = Math.min(Math.floor(now / SLOT), endKey);
    for (; nextKey <= nowKey; nextKey++) {
      const due = slots.get(nextKey);
      if (due === undefined) continue;
      slots.delete(nextKey);
      for (const d of due) {
        if (now - nextKey * SLOT > 1_000 && nextKey * SLOT >= measureFrom) result.lateStarts++;
        // ±10 % jitter around the interval, from the scheduled (not the actual) time.
        schedule(d, nextKey * SLOT + intervalMs * (0.9 + Math.random() * 0.2));
        void poll(d);
      }
    }
    if (nextKey > endKey) return resolve();
    setTimeout(tick, Math.max(1, SLOT - (Date.now() % SLOT)));
  };
  setTimeout(tick, Math.max(0, job.startAt - Date.now()));
});
// Requests still in flight started inside the window: let them finish (bounded by the timeout).
const cpu = process.cpuUsage(cpuAtStart);
const drainUntil = Date.now() + job.timeoutMs + 1_000;
while (inflight > 0 && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
result.cpuSeconds = (cpu.user + cpu.system) / 1e6;
process.stdout.write(`${JSON.stringify(result)}\n`);
agent.destroy();
process.exit(0);
