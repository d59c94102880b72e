import cliProgress from 'cli-progress';
import type { ApiClient } from '../api-client.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError, ServiceError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient } from '../service.js';
import { readServerSentEvents } from '../sse-reader.js';
import {
  type CampaignStatus,
  campaignId,
  FINAL_STATES,
  fetchStatus,
  renderStatus,
} from './campaign-common.js';

/** The service sends a comment every 15 s: three missed ones mean the connection is dead. */
const IDLE_TIMEOUT_MS = 45_000;
/** Reconnection delays grow from 1 s to 10 s; this many failures in a row end the watch. */
const MAX_FAILURES = 12;
/** A watch outlives any per-request timeout; the idle timer is what ends a dead connection. */
const STREAM_TIMEOUT_MS = 2 ** 31 - 1;

/** One event of the campaign's stream, parsed. */
interface CampaignEvent {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** How the events are shown: JSON lines, progress bars on a terminal, or plain lines. */
interface Renderer {
  event(e: CampaignEvent): void;
  stop(): void;
}

/**
 * `updraft campaign watch <id>`: follows the campaign's event stream (`GET …/events`, SSE),
 * reconnecting with `Last-Event-ID` after a dropped connection, and shows per-phase progress
 * (bars on a terminal, lines otherwise, one JSON line per event with `--json`). Ends with exit 0
 * when the campaign is `finished` or `cancelled`.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const id = campaignId(args);
  const api = await serviceClient(ctx, args);
  const renderer = ctx.json
    ? jsonRenderer(ctx)
    : ctx.io.stdout.isTTY === true
      ? barRenderer(ctx)
      : lineRenderer(ctx);
  let final: string | undefined;
  try {
    final = await follow(ctx, api, id, (e) => renderer.event(e));
  } finally {
    renderer.stop();
  }
  if (!ctx.json) {
    const status = await fetchStatus(api, id);
    ctx.io.stdout.write(`${renderStatus(status)}\n`);
  }
  ctx.note(`campaign ${id} is ${final}`);
  return EXIT_CODES.ok;
}

/** Reads the stream until the campaign reaches a final state; returns that state. */
async function follow(
  ctx: CommandContext,
  api: ApiClient,
  id: string,
  onEvent: (e: CampaignEvent) => void,
): Promise<string> {
  const interrupt = ctx.io.signal;
  let lastEventId: string | undefined;
  let failures = 0;
  for (;;) {
    if (interrupt?.aborted) throw new CliError('CLI_INTERRUPTED', 'interrupted');
    const idle = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), IDLE_TIMEOUT_MS);
    };
    try {
      touch();
      const response = await api.request(`/api/v1/campaigns/${seg(id)}/events`, {
        headers: {
          accept: 'text/event-stream',
          ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
        },
        timeoutMs: STREAM_TIMEOUT_MS,
        signal: interrupt === undefined ? idle.signal : AbortSignal.any([idle.signal, interrupt]),
      });
      if (response.body === null) throw new Error('the event stream has no body');
      for await (const raw of readServerSentEvents(response.body, touch)) {
        failures = 0;
        if (raw.id !== undefined) lastEventId = raw.id;
        const event = parseEvent(raw.event, raw.data, raw.id);
        if (event === undefined) continue;
        onEvent(event);
        const state = finalState(event);
        if (state !== undefined) return state;
      }
      // The service closed the stream (a restart, a proxy): resume after the last event.
    } catch (error) {
      if (interrupt?.aborted) throw new CliError('CLI_INTERRUPTED', 'interrupted');
      // The service's refusals (no such campaign, no permission) do not heal by retrying.
      if (error instanceof ServiceError && error.status < 500 && error.status !== 429) throw error;
      failures += 1;
      if (failures >= MAX_FAILURES) {
        if (error instanceof CliError || error instanceof ServiceError) throw error;
        throw new CliError(
          'CLI_SERVICE_UNREACHABLE',
          `the campaign's event stream failed ${failures} times: ${(error as Error).message}`,
          { cause: error },
        );
      }
    } finally {
      clearTimeout(timer);
    }
    await sleep(ctx, Math.min(10_000, 1000 * 2 ** Math.max(0, failures - 1)));
  }
}

function parseEvent(
  event: string,
  data: string,
  id: string | undefined,
): CampaignEvent | undefined {
  try {
    const parsed: unknown = JSON.parse(data);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    return { id, event, data: parsed as Record<string, unknown> };
  } catch {
    // Not JSON: not one of the campaign events (docs/campaigns.md); nothing to show.
    return undefined;
  }
}

/** The final state an event announces (a state change, or a progress document in one). */
function finalState(e: CampaignEvent): string | undefined {
  const state =
    e.event === 'state_changed' ? e.data.to : e.event === 'progress' ? e.data.state : undefined;
  return typeof state === 'string' && FINAL_STATES.includes(state) ? state : undefined;
}

function sleep(ctx: CommandContext, ms: number): Promise<void> {
  if (ctx.io.clock !== undefined) return ctx.io.clock.sleep(ms, ctx.io.signal).catch(() => {});
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    ctx.io.signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function jsonRenderer(ctx: CommandContext): Renderer {
  return {
    event: (e) => ctx.jsonLine({ id: e.id ?? null, event: e.event, data: e.data }),
    stop() {},
  };
}

/** A text line for the events that are not progress. */
function eventLine(e: CampaignEvent): string | undefined {
  const d = e.data;
  const phase = (v: unknown) => (typeof v === 'number' ? v + 1 : '?');
  switch (e.event) {
    case 'state_changed':
      return `state ${d.from} → ${d.to}${d.reason ? ` (${d.reason})` : ''}`;
    case 'phase_started':
      return `phase ${phase(d.phase)} started`;
    case 'phase_advanced':
      return d.next === null || d.next === undefined
        ? `phase ${phase(d.phase)} passed`
        : `phase ${phase(d.phase)} passed, phase ${phase(d.next)} next`;
    case 'phase_paused':
      return `phase ${phase(d.phase)} paused${d.reason ? ` (${d.reason})` : ''}`;
    default:
      return undefined;
  }
}

const DONE_KEYS = ['succeeded', 'failed', 'rejected', 'cancelled', 'skipped'] as const;

function progressLine(s: CampaignStatus): string {
  const phases = s.phases.map((p) => {
    const done = DONE_KEYS.reduce((n, k) => n + (p.counts[k] ?? 0), 0);
    return `phase ${p.index + 1} ${p.state} ${done}/${p.size}`;
  });
  const t = s.totals;
  return `${phases.join(' | ')} — total ${t.targets}: ${t.succeeded} ok, ${t.failed} failed, ${t.pending + t.downloading + t.installing + t.confirming} in progress`;
}

/** Plain lines on stdout (pipes and logs): every state/phase event, each progress change. */
function lineRenderer(ctx: CommandContext): Renderer {
  let last = '';
  return {
    event(e) {
      const line =
        e.event === 'progress' ? progressLine(e.data as unknown as CampaignStatus) : eventLine(e);
      if (line === undefined || line === last) return;
      last = line;
      ctx.io.stdout.write(`${line}\n`);
    },
    stop() {},
  };
}

/** One progress bar per phase on stderr (a terminal), events printed above them. */
function barRenderer(ctx: CommandContext): Renderer {
  const multi = new cliProgress.MultiBar(
    {
      stream: ctx.io.stderr as NodeJS.WritableStream,
      format:
        'phase {phase} [{bar}] {value}/{total} {state} | ok {ok} failed {failed} active {active}',
      hideCursor: false,
      clearOnComplete: false,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<number, cliProgress.SingleBar>();
  return {
    event(e) {
      if (e.event !== 'progress') {
        const line = eventLine(e);
        if (line === undefined) return;
        // Before the first bar the lines go out at once; then above the bars, at their redraw.
        if (bars.size === 0) ctx.io.stderr.write(`${line}\n`);
        else multi.log(`${line}\n`);
        return;
      }
      const s = e.data as unknown as CampaignStatus;
      for (const p of s.phases ?? []) {
        const done = DONE_KEYS.reduce((n, k) => n + (p.counts[k] ?? 0), 0);
        const payload = {
          phase: p.index + 1,
          state: p.state,
          ok: p.counts.succeeded,
          failed: p.counts.failed + p.counts.rejected,
          active:
            p.counts.pending + p.counts.downloading + p.counts.installing + p.counts.confirming,
        };
        const total = Math.max(p.size, 1);
        const bar = bars.get(p.index);
        if (bar === undefined) bars.set(p.index, multi.create(total, done, payload));
        else {
          bar.setTotal(total);
          bar.update(done, payload);
        }
      }
    },
    stop() {
      if (bars.size === 0) return;
      // Draw once more: lines logged since the last redraw, the bars' last values.
      multi.update();
      multi.stop();
    },
  };
}
