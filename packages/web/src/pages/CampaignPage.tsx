import {
  Alert,
  Anchor,
  Badge,
  Group,
  Progress,
  Stack,
  Table,
  Text,
  Textarea,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { lazy, Suspense, useCallback, useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import {
  type CampaignOperation,
  type CampaignState,
  canApply,
} from '../../../server/src/features/campaigns/campaign-states.js';
import { api, unwrap } from '../api/client';
import { type StreamEvent, useEventStream } from '../api/event-stream';
import type { paths } from '../api/openapi';
import { useSession } from '../auth/session';
import { PermittedButton } from '../components/Allowed';
import type { ProgressPoint } from '../components/CampaignProgressChart';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';

type Campaign =
  paths['/api/v1/campaigns/{id}']['get']['responses'][200]['content']['application/json'];
type Status =
  paths['/api/v1/campaigns/{id}/status']['get']['responses'][200]['content']['application/json'];
type Counts = Status['totals'];
type Threshold = Campaign['errorThreshold'];

// Shades with AA contrast for the badge's text (paused: black on yellow, by autoContrast).
const STATE_COLORS: Record<CampaignState, string> = {
  draft: 'gray.7',
  approved: 'cyan.9',
  scheduled: 'indigo.8',
  running: 'blue.8',
  paused: 'yellow.5',
  finished: 'teal.9',
  cancelled: 'red.9',
};

/** The events of the campaign's stream (docs/campaigns.md, "Event stream"). */
const STREAM_EVENTS = [
  'state_changed',
  'phase_started',
  'phase_advanced',
  'phase_paused',
  'progress',
] as const;

/** A count split the way the bars show it. */
function split(c: Counts) {
  const inProgress = c.pending + c.downloading + c.installing + c.confirming;
  const failed = c.failed + c.rejected;
  const other = c.cancelled + c.skipped;
  return { succeeded: c.succeeded, failed, inProgress, waiting: c.scheduled, other };
}

const CampaignProgressChart = lazy(async () => ({
  default: (await import('../components/CampaignProgressChart')).CampaignProgressChart,
}));

const pct = (n: number, of: number) => (of === 0 ? 0 : (n * 100) / of);

/** One bar: succeeded, failed, in progress, waiting; a progressbar with its numbers in words. */
function CountsBar({ label, counts, testId }: { label: string; counts: Counts; testId: string }) {
  const s = split(counts);
  const of = counts.targets;
  const words =
    `${s.succeeded} of ${of} succeeded, ${s.failed} failed, ${s.inProgress} in progress, ` +
    `${s.waiting} waiting${s.other > 0 ? `, ${s.other} skipped or cancelled` : ''}`;
  return (
    <div>
      <Group justify="space-between" gap="xs">
        <Text size="sm" fw={600}>
          {label}
        </Text>
        <Text size="sm" data-testid={testId}>
          {words}
        </Text>
      </Group>
      <Progress.Root
        size="lg"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={of}
        aria-valuenow={s.succeeded}
        aria-valuetext={words}
      >
        <Progress.Section withAria={false} value={pct(s.succeeded, of)} color="green.8" />
        <Progress.Section withAria={false} value={pct(s.failed, of)} color="red.8" />
        <Progress.Section withAria={false} value={pct(s.inProgress, of)} color="blue.6" />
        <Progress.Section withAria={false} value={pct(s.other, of)} color="gray.5" />
      </Progress.Root>
    </div>
  );
}

function thresholdWords(t: Threshold): string {
  return 'percent' in t
    ? `more than ${t.percent} % failed or rejected`
    : `at least ${t.count} failed or rejected`;
}

/** Why the campaign is paused, in words; for a tripped threshold: which phase and how far. */
function PausedAlert({
  campaign,
  status,
  detail,
}: {
  campaign: Campaign;
  status: Status;
  detail: string | undefined;
}) {
  if (status.state !== 'paused') return null;
  const reason = status.stateReason;
  if (reason === 'error-threshold') {
    const index = status.phases.find((p) => p.state === 'paused')?.index ?? status.currentPhase;
    const phase = status.phases.find((p) => p.index === index);
    const threshold = campaign.phases.find((p) => p.index === index)?.errorThreshold;
    const failed = phase ? phase.counts.failed + phase.counts.rejected : 0;
    const measured = phase
      ? phase.counts.targets - phase.counts.skipped - phase.counts.cancelled
      : 0;
    return (
      <Alert color="red" title="Paused automatically: error threshold exceeded" role="alert">
        Phase {index + 1}: {failed} of {measured} devices failed or were rejected
        {threshold && <> (its threshold: {thresholdWords(threshold)})</>}. No device of a later
        phase gets the update until the campaign is resumed. See the failure reasons below.
      </Alert>
    );
  }
  const words: Record<string, string> = {
    operator: 'Paused by an operator.',
    'manual-gate': `Phase ${status.currentPhase + 1} passed and waits at its manual gate: Resume starts the next phase.`,
    'filter-invalid':
      'Paused automatically: the target filter no longer resolves (a group it names was deleted).',
    'release-unavailable': 'Paused automatically: the release was deleted.',
    'release-revoked': 'Paused automatically: the release is signed by a revoked key.',
  };
  return (
    <Alert color="red" title="Paused" role="alert">
      {(reason && words[reason]) ?? 'Paused.'} {detail}
    </Alert>
  );
}

function FailureReasons({ status }: { status: Status }) {
  return (
    <section aria-label="Failure reasons">
      <Title order={2} size="h4" mt="lg" mb="xs">
        Failure reasons
      </Title>
      {status.failureReasons.length === 0 ? (
        <Text c="dimmed">No device has failed.</Text>
      ) : (
        <Table aria-label="Failure reasons" withTableBorder>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Code</Table.Th>
              <Table.Th>Devices</Table.Th>
              <Table.Th>Examples</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {status.failureReasons.map((r) => (
              <Table.Tr key={r.code}>
                <Table.Td>
                  <code>{r.code}</code>
                </Table.Td>
                <Table.Td>{r.count}</Table.Td>
                <Table.Td>
                  <Group gap="xs">
                    {r.examples.map((d) => (
                      <Anchor key={d.id} component={Link} to={`/devices/${d.id}`}>
                        {d.name}
                      </Anchor>
                    ))}
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </section>
  );
}

function Timeseries({ id, live }: { id: string; live: boolean }) {
  const series = useQuery({
    queryKey: ['campaigns', id, 'timeseries'],
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/campaigns/{id}/timeseries', {
          params: { path: { id }, query: { limit: 1440 } },
        }),
      ),
    // The engine keeps at most one sample a minute.
    refetchInterval: live ? 60_000 : false,
  });
  if (series.error) return <ProblemAlert error={series.error} title="Progress over time" />;
  const items = series.data?.items ?? [];
  const data = items.map((s): ProgressPoint => {
    const c = split(s.totals);
    return {
      at: new Date(s.at).toISOString().slice(11, 16),
      Succeeded: c.succeeded,
      Failed: c.failed,
      'In progress': c.inProgress,
    };
  });
  return (
    <section aria-label="Progress over time">
      <Title order={2} size="h4" mt="lg" mb="xs">
        Progress over time
      </Title>
      {data.length < 2 ? (
        <Text c="dimmed">
          {data.length === 0 ? 'No samples yet' : 'One sample so far'} (one a minute at most while
          the campaign runs).
        </Text>
      ) : (
        <Suspense fallback={<Text c="dimmed">Loading the chart…</Text>}>
          <CampaignProgressChart data={data} />
        </Suspense>
      )}
    </section>
  );
}

const OPERATION_LABELS = {
  approve: 'Approve',
  reject: 'Reject',
  start: 'Start',
  pause: 'Pause',
  resume: 'Resume',
  cancel: 'Cancel campaign',
  finish: 'Finish',
} as const;
type PageOperation = keyof typeof OPERATION_LABELS;

/**
 * `/campaigns/:id`: the campaign, its review and the operations its state and the user's roles
 * allow; per-phase progress live from the event stream; why it paused; failure reasons.
 */
export function CampaignPage() {
  const { id = '' } = useParams();
  const { can, me } = useSession();
  const client = useQueryClient();
  const [rejecting, setRejecting] = useState(false);
  const [cancelling, setCancelling] = useState(false);
  const [comment, setComment] = useState('');
  const [lastDetail, setLastDetail] = useState<string | undefined>();
  const readable = can('campaigns:read');

  const campaign = useQuery({
    queryKey: ['campaigns', id],
    enabled: readable,
    queryFn: () => unwrap(api.GET('/api/v1/campaigns/{id}', { params: { path: { id } } })),
  });
  const status = useQuery({
    queryKey: ['campaigns', id, 'status'],
    enabled: readable,
    queryFn: () => unwrap(api.GET('/api/v1/campaigns/{id}/status', { params: { path: { id } } })),
  });
  const settings = useQuery({
    queryKey: ['campaign-settings'],
    enabled: readable,
    queryFn: () => unwrap(api.GET('/api/v1/campaign-settings')),
    staleTime: 60_000,
  });
  const release = useQuery({
    queryKey: ['releases', 'one', campaign.data?.releaseId],
    enabled: can('releases:read') && campaign.data !== undefined,
    retry: false,
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/releases/{id}', {
          params: { path: { id: campaign.data?.releaseId ?? '' } },
        }),
      ),
  });
  const users = useQuery({
    queryKey: ['users'],
    enabled: can('users:read'),
    staleTime: 60_000,
    queryFn: () => unwrap(api.GET('/api/v1/users')),
  });

  // Log events (state, phases) change the campaign document: read it again, once per burst
  // (a reconnect replays the log). Progress events carry the status document itself.
  const refresh = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(refresh.current), []);
  const onEvent = useCallback(
    (event: StreamEvent) => {
      if (event.type === 'progress') {
        client.setQueryData(['campaigns', id, 'status'], event.data as Status);
        return;
      }
      if (event.type === 'state_changed') {
        const detail = (event.data as { detail?: unknown }).detail;
        setLastDetail(typeof detail === 'string' ? detail : undefined);
      }
      clearTimeout(refresh.current);
      refresh.current = setTimeout(() => {
        void client.invalidateQueries({ queryKey: ['campaigns', id] });
      }, 300);
    },
    [client, id],
  );
  const final = campaign.data?.state === 'finished' || campaign.data?.state === 'cancelled';
  const streamState = useEventStream(
    readable && campaign.data !== undefined && !final
      ? `/api/v1/campaigns/${encodeURIComponent(id)}/events`
      : null,
    STREAM_EVENTS,
    onEvent,
  );

  const operate = useMutation({
    mutationFn: async (op: PageOperation) => {
      const path = { params: { path: { id } } };
      switch (op) {
        case 'approve':
          return unwrap(api.POST('/api/v1/campaigns/{id}/approve', { ...path, body: {} }));
        case 'reject':
          return unwrap(
            api.POST('/api/v1/campaigns/{id}/reject', {
              ...path,
              body: { comment: comment.trim() },
            }),
          );
        case 'start':
          return unwrap(api.POST('/api/v1/campaigns/{id}/start', { ...path, body: {} }));
        case 'pause':
          return unwrap(api.POST('/api/v1/campaigns/{id}/pause', { ...path, body: {} }));
        case 'resume':
          return unwrap(api.POST('/api/v1/campaigns/{id}/resume', path));
        case 'cancel':
          return unwrap(api.POST('/api/v1/campaigns/{id}/cancel', path));
        case 'finish':
          return unwrap(api.POST('/api/v1/campaigns/{id}/finish', path));
      }
    },
    onSuccess: async (updated) => {
      setRejecting(false);
      setCancelling(false);
      setComment('');
      client.setQueryData(['campaigns', id], updated);
      // The bars' document follows at once too (the stream's next progress confirms it).
      client.setQueryData(['campaigns', id, 'status'], (old: Status | undefined) =>
        old === undefined
          ? old
          : { ...old, state: updated.state, stateReason: updated.stateReason },
      );
      await client.invalidateQueries({ queryKey: ['campaigns'] });
    },
  });

  if (!readable) return <NotAllowed permission="campaigns:read" />;
  if (campaign.error) return <ProblemAlert error={campaign.error} title="Campaign not loaded" />;
  if (!campaign.data) return <Text>Loading…</Text>;
  const c = campaign.data;
  const s = status.data;
  const userName = (userId: string | null) => {
    if (userId === null) return 'unknown';
    if (userId === me.id) return `${me.username} (you)`;
    return users.data?.items.find((u) => u.id === userId)?.username ?? userId;
  };
  const state = (s?.state ?? c.state) as CampaignState;
  const shown = (op: CampaignOperation) => canApply(op, state);
  const startable =
    shown('start') && (state !== 'draft' || settings.data?.approvalRequired === false);
  const ownDraft = state === 'draft' && c.createdBy === me.id && can('campaigns:approve');
  const act = (op: PageOperation) => () => operate.mutate(op);

  return (
    <Stack gap={0}>
      <Anchor component={Link} to="/campaigns" size="sm">
        ← Campaigns
      </Anchor>
      <Group justify="space-between" mt="xs" align="flex-start">
        <div>
          <Title order={1} size="h2">
            {c.name}
          </Title>
          <Group gap="xs">
            <Badge color={STATE_COLORS[state]} autoContrast data-testid="campaign-state" size="lg">
              {state}
              {(s?.stateReason ?? c.stateReason) ? ` (${s?.stateReason ?? c.stateReason})` : ''}
            </Badge>
            <Text size="sm" c="dimmed" aria-live="polite">
              {final
                ? 'Not live: the campaign has ended.'
                : streamState === 'open'
                  ? 'Live'
                  : 'Connecting to live updates…'}
            </Text>
          </Group>
        </div>
      </Group>
      <Text size="sm" mt="xs">
        Release{' '}
        <Anchor component={Link} to={`/releases/${c.releaseId}`}>
          {release.data ? `${release.data.version ?? c.releaseId}` : c.releaseId}
        </Anchor>{' '}
        · {c.type} · action {c.actionType} · filter <code>{c.filter}</code>
      </Text>
      <Text size="sm" c="dimmed">
        Created by {userName(c.createdBy)} at {c.createdAt}
        {c.review &&
          ` · ${c.review.decision} by ${userName(c.review.by)} at ${c.review.at}${c.review.comment ? `: “${c.review.comment}”` : ''}`}
        {c.startedAt && ` · started ${c.startedAt}`}
        {c.finishedAt && ` · ended ${c.finishedAt}`}
      </Text>

      <Group gap="sm" mt="md" aria-label="Campaign operations" role="group">
        {shown('approve') && (
          <PermittedButton permission="campaigns:approve" onClick={act('approve')}>
            Approve
          </PermittedButton>
        )}
        {shown('reject') && (
          <PermittedButton
            permission="campaigns:approve"
            variant="outline"
            onClick={() => setRejecting(true)}
          >
            Reject
          </PermittedButton>
        )}
        {startable && (
          <PermittedButton permission="campaigns:write" onClick={act('start')}>
            Start
          </PermittedButton>
        )}
        {shown('pause') && (
          <PermittedButton permission="campaigns:write" variant="outline" onClick={act('pause')}>
            Pause
          </PermittedButton>
        )}
        {shown('resume') && (
          <PermittedButton permission="campaigns:write" onClick={act('resume')}>
            Resume
          </PermittedButton>
        )}
        {shown('finish') && (
          <PermittedButton permission="campaigns:write" variant="outline" onClick={act('finish')}>
            Finish
          </PermittedButton>
        )}
        {shown('cancel') && (
          <PermittedButton
            permission="campaigns:write"
            color="red"
            variant="outline"
            onClick={() => setCancelling(true)}
          >
            Cancel campaign
          </PermittedButton>
        )}
      </Group>
      {ownDraft && (
        <Text size="sm" mt="xs" data-testid="self-approval-note">
          You created this campaign: the service refuses its creator's approval (four-eyes,{' '}
          <code>CAMPAIGN_SELF_APPROVAL</code>). Another user with <code>campaigns:approve</code>{' '}
          must approve it.
        </Text>
      )}
      {state === 'draft' && settings.data?.approvalRequired && !ownDraft && (
        <Text size="sm" mt="xs" c="dimmed">
          It must be approved before it can start.
        </Text>
      )}
      {operate.error && !rejecting && !cancelling && (
        <div style={{ marginTop: 12 }}>
          <ProblemAlert
            error={operate.error}
            title={`${OPERATION_LABELS[operate.variables ?? 'start']} refused`}
          />
        </div>
      )}

      {s && (
        <Stack gap="sm" mt="md">
          <PausedAlert campaign={c} status={s} detail={lastDetail} />
          <section aria-label="Progress">
            <Title order={2} size="h4" mt="md" mb="xs">
              Progress
            </Title>
            <Stack gap="sm">
              <CountsBar label="All targets" counts={s.totals} testId="progress-total" />
              {s.phases.map((p) => (
                <CountsBar
                  key={p.index}
                  label={`Phase ${p.index + 1} (${p.state})`}
                  counts={p.counts}
                  testId={`progress-phase-${p.index + 1}`}
                />
              ))}
              <Text size="xs" c="dimmed">
                Green: succeeded; red: failed or rejected; blue: in progress (pending, downloading,
                installing, confirming); grey: skipped or cancelled; empty: waiting for its phase.
              </Text>
            </Stack>
          </section>
          <FailureReasons status={s} />
          <Timeseries id={id} live={state === 'running'} />
        </Stack>
      )}
      {status.error && <ProblemAlert error={status.error} title="Status not loaded" />}

      <ConfirmDialog
        opened={rejecting}
        onClose={() => setRejecting(false)}
        title="Reject the campaign"
        error={rejecting && operate.error}
        errorTitle="Not rejected"
        keep="Back"
        confirm="Reject"
        pending={operate.isPending}
        disabled={comment.trim() === ''}
        onConfirm={act('reject')}
      >
        <Textarea
          label="Reason for rejecting"
          description="Recorded in the review and the audit log."
          value={comment}
          onChange={(e) => setComment(e.currentTarget.value)}
          required
          rows={3}
        />
      </ConfirmDialog>
      <ConfirmDialog
        opened={cancelling}
        onClose={() => setCancelling(false)}
        title="Cancel the campaign?"
        error={cancelling && operate.error}
        errorTitle="Not cancelled"
        keep="Keep it"
        confirm="Yes, cancel it"
        pending={operate.isPending}
        onConfirm={act('cancel')}
      >
        <Text>
          Open actions are cancelled at the devices' next check-in (a device already installing
          finishes) and waiting devices get nothing. This cannot be undone.
        </Text>
      </ConfirmDialog>
    </Stack>
  );
}
