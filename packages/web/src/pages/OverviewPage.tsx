import '@mantine/charts/styles.css';
import { BarChart, DonutChart } from '@mantine/charts';
import {
  Anchor,
  Badge,
  Card,
  ColorSwatch,
  Group,
  Paper,
  Progress,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, unwrap } from '../api/client';
import type { paths } from '../api/openapi';
import { useSession } from '../auth/session';
import { ChartFigure, type ChartRow } from '../components/ChartFigure';
import { failureReason } from '../components/failure-reasons';
import { formatBytes } from '../components/format-bytes';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';

type Overview = paths['/api/v1/overview']['get']['responses'][200]['content']['application/json'];
type ActiveCampaign = NonNullable<Overview['campaigns']>['items'][number];

/** How often the overview asks again (ms). */
export const OVERVIEW_REFRESH_MS = 15_000;
const PALETTE = [
  'blue.8',
  'teal.8',
  'grape.8',
  'orange.8',
  'cyan.8',
  'pink.8',
  'lime.9',
  'indigo.8',
];

/** The fleet at a glance (docs/web.md, "The overview"); refreshes itself every 15 s. */
export function OverviewPage() {
  const { can } = useSession();
  const allowed = can('devices:read');
  const overview = useQuery({
    queryKey: ['overview'],
    enabled: allowed,
    refetchInterval: OVERVIEW_REFRESH_MS,
    queryFn: () => unwrap(api.GET('/api/v1/overview')),
  });
  return (
    <Stack gap="lg">
      <Group justify="space-between" align="baseline">
        <Title order={1}>Overview</Title>
        {overview.data && (
          <Text size="sm" c="dimmed">
            Updated {new Date(overview.data.at).toLocaleTimeString('en-GB', { timeZone: 'UTC' })}{' '}
            UTC, every 15 s
          </Text>
        )}
      </Group>
      {!allowed ? (
        <NotAllowed permission="devices:read" />
      ) : overview.error ? (
        <ProblemAlert error={overview.error} title="Overview not loaded" />
      ) : !overview.data ? (
        <Text>Loading the overview…</Text>
      ) : (
        <OverviewBody data={overview.data} />
      )}
    </Stack>
  );
}

function OverviewBody({ data }: { data: Overview }) {
  const { devices } = data;
  return (
    <>
      <SimpleGrid cols={4}>
        <Stat
          label="Devices"
          value={devices.total.toLocaleString('en')}
          hint="not decommissioned"
        />
        <Stat
          label="Online in the last hour"
          value={devices.onlineLastHour.toLocaleString('en')}
          hint={percentOf(devices.onlineLastHour, devices.total)}
        />
        <Stat
          label="Online in the last 24 h"
          value={devices.onlineLastDay.toLocaleString('en')}
          hint={percentOf(devices.onlineLastDay, devices.total)}
        />
        {data.deltas ? (
          <Stat
            label="Bytes saved by deltas"
            value={formatBytes(data.deltas.bytesSaved)}
            hint={`${data.deltas.downloads.toLocaleString('en')} delta downloads`}
          />
        ) : (
          <Stat label="Bytes saved by deltas" value="—" hint="needs releases:read" />
        )}
      </SimpleGrid>
      <SimpleGrid cols={2}>
        <Paper withBorder p="md">
          <VersionChart byVersion={devices.byVersion} />
        </Paper>
        <Paper withBorder p="md">
          <ClassChart byClass={devices.byClass} />
        </Paper>
      </SimpleGrid>
      <SimpleGrid cols={2}>
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="xs">
            Active campaigns
          </Title>
          {data.campaigns ? (
            <Campaigns campaigns={data.campaigns} />
          ) : (
            <Needs permission="campaigns:read" />
          )}
        </Paper>
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="xs">
            Failures in the last 24 h
          </Title>
          {data.failures ? (
            <Failures failures={data.failures} />
          ) : (
            <Needs permission="actions:read" />
          )}
        </Paper>
      </SimpleGrid>
    </>
  );
}

function Stat({ label, value, hint }: { label: string; value: string; hint: string }) {
  return (
    <Card withBorder padding="md">
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text fz={28} fw={700}>
        {value}
      </Text>
      <Text size="sm" c="dimmed">
        {hint}
      </Text>
    </Card>
  );
}

function Needs({ permission }: { permission: string }) {
  return (
    <Text size="sm">
      Your roles do not grant <code>{permission}</code>, which this part needs.
    </Text>
  );
}

/** `blue.8` → the theme's CSS variable for it. */
function cssColor(themeColor: string): string {
  return `var(--mantine-color-${themeColor.replace('.', '-')})`;
}

function percentOf(part: number, total: number): string {
  return total === 0 ? 'no devices' : `${Math.round((part / total) * 100)} % of the fleet`;
}

function VersionChart({ byVersion }: { byVersion: Overview['devices']['byVersion'] }) {
  const rows: ChartRow[] = [
    ...byVersion.items.map((v) => ({ label: `${v.className} ${v.version}`, value: v.devices })),
    ...(byVersion.other > 0 ? [{ label: 'other versions', value: byVersion.other }] : []),
    ...(byVersion.unreported > 0
      ? [{ label: 'no version reported', value: byVersion.unreported }]
      : []),
  ];
  return (
    <ChartFigure
      title="Devices by installed version"
      columns={['Class and version', 'Devices']}
      rows={rows}
    >
      {rows.length === 0 ? (
        <Text size="sm">No devices yet.</Text>
      ) : (
        <BarChart
          h={Math.max(160, rows.length * 32 + 40)}
          data={rows.map((r) => ({ label: r.label, devices: r.value }))}
          dataKey="label"
          orientation="vertical"
          yAxisProps={{ width: 140 }}
          series={[{ name: 'devices', label: 'Devices', color: 'blue.8' }]}
          barChartProps={{ accessibilityLayer: false }}
          withTooltip={false}
          withBarValueLabel
        />
      )}
    </ChartFigure>
  );
}

function ClassChart({ byClass }: { byClass: Overview['devices']['byClass'] }) {
  const rows: ChartRow[] = byClass.map((c) => ({ label: c.name, value: c.devices }));
  return (
    <ChartFigure title="Devices by class" columns={['Device class', 'Devices']} rows={rows}>
      {rows.length === 0 ? (
        <Text size="sm">No devices yet.</Text>
      ) : (
        <Group align="center" wrap="nowrap">
          <DonutChart
            size={180}
            thickness={28}
            data={rows.map((r, i) => ({
              name: r.label,
              value: r.value,
              color: PALETTE[i % PALETTE.length] as string,
            }))}
            pieChartProps={{ accessibilityLayer: false }}
            withTooltip={false}
          />
          <Stack gap={4}>
            {rows.map((r, i) => (
              <Group key={r.label} gap="xs" wrap="nowrap">
                <ColorSwatch color={cssColor(PALETTE[i % PALETTE.length] as string)} size={12} />
                <Text size="sm">
                  {r.label}: {r.value.toLocaleString('en')}
                </Text>
              </Group>
            ))}
          </Stack>
        </Group>
      )}
    </ChartFigure>
  );
}

const STATE_WORDS: Record<string, string> = {
  draft: 'awaiting approval',
  approved: 'approved, not started',
  scheduled: 'scheduled',
  running: 'running',
  paused: 'paused',
};

function Campaigns({ campaigns }: { campaigns: NonNullable<Overview['campaigns']> }) {
  if (campaigns.items.length === 0) return <Text size="sm">No active campaigns.</Text>;
  return (
    <Stack gap="md">
      {campaigns.items.map((c) => (
        <CampaignProgress key={c.id} campaign={c} />
      ))}
      {campaigns.total > campaigns.items.length && (
        <Anchor component={Link} to="/campaigns" size="sm">
          {campaigns.total - campaigns.items.length} more active campaigns
        </Anchor>
      )}
    </Stack>
  );
}

function CampaignProgress({ campaign }: { campaign: ActiveCampaign }) {
  const t = campaign.totals as Record<string, number> & { targets: number };
  const count = (...statuses: string[]) => statuses.reduce((n, s) => n + (t[s] ?? 0), 0);
  const succeeded = count('succeeded');
  const failed = count('failed', 'rejected');
  const working = count('pending', 'downloading', 'installing', 'confirming');
  const share = (n: number) => (t.targets === 0 ? 0 : (n / t.targets) * 100);
  return (
    <div>
      <Group justify="space-between" gap="xs" wrap="nowrap">
        <Anchor component={Link} to={`/campaigns/${campaign.id}`} fw={600}>
          {campaign.name}
        </Anchor>
        <Badge color={campaign.state === 'paused' ? 'orange.9' : 'blue.8'} variant="light">
          {STATE_WORDS[campaign.state] ?? campaign.state}
          {campaign.stateReason ? ` (${campaign.stateReason})` : ''}
        </Badge>
      </Group>
      <Progress.Root size="lg" mt={4}>
        <Progress.Section
          value={share(succeeded)}
          color="green.8"
          aria-label={`${campaign.name}: succeeded`}
        />
        <Progress.Section
          value={share(working)}
          color="blue.7"
          aria-label={`${campaign.name}: in progress`}
        />
        <Progress.Section
          value={share(failed)}
          color="red.8"
          aria-label={`${campaign.name}: failed or rejected`}
        />
      </Progress.Root>
      <Text size="sm" mt={2}>
        {campaign.releaseVersion ? `Release ${campaign.releaseVersion}: ` : ''}
        {succeeded} of {t.targets} succeeded, {working} in progress, {failed} failed
      </Text>
    </div>
  );
}

function Failures({ failures }: { failures: NonNullable<Overview['failures']> }) {
  if (failures.items.length === 0) return <Text size="sm">No failures in the last 24 h.</Text>;
  return (
    <Table aria-label="Failures in the last 24 h by reason" withTableBorder>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Code</Table.Th>
          <Table.Th>Reason</Table.Th>
          <Table.Th style={{ textAlign: 'right' }}>Count</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {failures.items.map((f) => (
          <Table.Tr key={f.code ?? ''}>
            <Table.Td>{f.code ? <code>{f.code}</code> : '—'}</Table.Td>
            <Table.Td>{failureReason(f.code, f.exampleMessage)}</Table.Td>
            <Table.Td style={{ textAlign: 'right' }}>{f.count}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
      <Table.Tfoot>
        <Table.Tr>
          <Table.Th colSpan={2}>All failures</Table.Th>
          <Table.Th style={{ textAlign: 'right' }}>{failures.total}</Table.Th>
        </Table.Tr>
      </Table.Tfoot>
    </Table>
  );
}
