import { Anchor, Badge, Button, Group, Select, Table, Text, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import type { paths } from '../api/openapi';
import { useSession } from '../auth/session';
import { PermittedButton } from '../components/Allowed';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';

type Campaign =
  paths['/api/v1/campaigns']['get']['responses'][200]['content']['application/json']['items'][number];
type CampaignState = Campaign['state'];

const PAGE_SIZE = 50;
/**
 * Badge colour per state, as on the campaign page: AA contrast for the badge's text (checked by
 * axe in the browser tests; paused: black on yellow, by autoContrast).
 */
export const STATE_COLORS: Record<CampaignState, string> = {
  draft: 'gray.7',
  approved: 'cyan.9',
  scheduled: 'indigo.8',
  running: 'blue.8',
  paused: 'yellow.5',
  finished: 'teal.9',
  cancelled: 'red.9',
};
const STATES = Object.keys(STATE_COLORS) as CampaignState[];

function when(value: string | null): string {
  return value ? new Date(value).toLocaleString('en-GB', { timeZone: 'UTC' }) : '—';
}

/** Where the rollout is, from the campaign itself (the list carries no target counts). */
function progress(c: Campaign): string {
  const total = c.phases.length;
  const passed = c.phases.filter((p) => p.state === 'passed').length;
  if (c.currentPhase < 0) return `${total} phase${total === 1 ? '' : 's'}, not started`;
  return `phase ${Math.min(c.currentPhase + 1, total)} of ${total}, ${passed} passed`;
}

/**
 * `/campaigns`: newest first, 50 a page (the service's keyset cursor), narrowed by state. The
 * filter and the cursors of the pages before live in the URL.
 */
export function CampaignsPage() {
  const { can } = useSession();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const stateParam = params.get('state');
  const state = STATES.find((s) => s === stateParam);
  // The cursors that led here: page n is reached with trail[n-2] (page 1 has none).
  const trail = params.getAll('after');
  const cursor = trail.at(-1);
  const list = useQuery({
    queryKey: ['campaigns', 'list', state ?? null, cursor ?? null],
    enabled: can('campaigns:read'),
    placeholderData: keepPreviousData,
    retry: false,
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/campaigns', {
          params: {
            query: {
              limit: PAGE_SIZE,
              ...(state ? { state } : {}),
              ...(cursor ? { cursor } : {}),
            },
          },
        }),
      ),
  });
  // Release versions for the table (one request, not one per row).
  const releases = useQuery({
    queryKey: ['releases', 'all'],
    enabled: can('releases:read'),
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/releases', { params: { query: { limit: 500 } } })),
  });
  if (!can('campaigns:read')) return <NotAllowed permission="campaigns:read" />;
  const version = new Map(releases.data?.items.map((r) => [r.id, r.version]) ?? []);
  const setTrail = (next: string[], nextState = state) => {
    const p = new URLSearchParams();
    if (nextState) p.set('state', nextState);
    for (const c of next) p.append('after', c);
    setParams(p, { replace: true });
  };
  const page = trail.length + 1;
  return (
    <section aria-labelledby="campaigns-title">
      <Group justify="space-between" align="flex-start" mb="md">
        <Title id="campaigns-title" order={1} size="h2">
          Campaigns
        </Title>
        <PermittedButton permission="campaigns:write" onClick={() => navigate('/campaigns/new')}>
          New campaign
        </PermittedButton>
      </Group>
      <Select
        label="State"
        data={[{ value: '', label: 'All states' }, ...STATES.map((s) => ({ value: s, label: s }))]}
        value={state ?? ''}
        allowDeselect={false}
        onChange={(value) =>
          setTrail(
            [],
            STATES.find((s) => s === value),
          )
        }
        w={200}
      />
      <ProblemAlert error={list.error} title="Campaigns not loaded" />
      <Table striped mt="sm" aria-label="Campaigns" data-testid="campaigns-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Release</Table.Th>
            <Table.Th>State</Table.Th>
            <Table.Th>Progress</Table.Th>
            <Table.Th>Action type</Table.Th>
            <Table.Th>Created by</Table.Th>
            <Table.Th>Created (UTC)</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {list.data?.items.map((c) => (
            <Table.Tr key={c.id}>
              <Table.Td>
                <Anchor component={Link} to={`/campaigns/${encodeURIComponent(c.id)}`}>
                  {c.name}
                </Anchor>
              </Table.Td>
              <Table.Td>{version.get(c.releaseId) ?? c.releaseId}</Table.Td>
              <Table.Td>
                <Badge
                  color={STATE_COLORS[c.state]}
                  variant="filled"
                  autoContrast
                  data-testid="campaign-state"
                >
                  {c.state}
                  {c.stateReason ? ` · ${c.stateReason}` : ''}
                </Badge>
              </Table.Td>
              <Table.Td>{progress(c)}</Table.Td>
              <Table.Td>{c.actionType}</Table.Td>
              <Table.Td>{c.createdBy ?? '—'}</Table.Td>
              <Table.Td>{when(c.createdAt)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {list.data && list.data.items.length === 0 && (
        <Text mt="sm">{state ? `No ${state} campaigns.` : 'No campaigns yet.'}</Text>
      )}
      <Group justify="space-between" mt="md">
        <Text size="sm" data-testid="campaigns-page">
          {list.data ? `Page ${page}, ${list.data.items.length} campaigns` : 'Loading…'}
        </Text>
        <Group gap="xs">
          <Button
            variant="default"
            disabled={page === 1}
            onClick={() => setTrail(trail.slice(0, -1))}
          >
            Previous page
          </Button>
          <Button
            variant="default"
            disabled={!list.data?.nextCursor}
            onClick={() => list.data?.nextCursor && setTrail([...trail, list.data.nextCursor])}
          >
            Next page
          </Button>
        </Group>
      </Group>
    </section>
  );
}
