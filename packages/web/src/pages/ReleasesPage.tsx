import { Anchor, Button, Group, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { api, unwrap } from '../api/client';
import { useSession } from '../auth/session';
import { PermittedButton } from '../components/Allowed';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';
import { ReleaseUploadForm } from './ReleaseUploadForm';

const PAGE = 50;

export const bytes = (n: number) =>
  n < 1024
    ? `${n} B`
    : n < 1024 * 1024
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** Releases, newest first, paged from the service; upload a signed release. */
export function ReleasesPage() {
  const { can } = useSession();
  const navigate = useNavigate();
  const client = useQueryClient();
  const [uploading, setUploading] = useState(false);
  // Cursor of each page: the id of the previous page's last release.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const after = cursors.at(-1);
  const releases = useQuery({
    queryKey: ['releases', 'list', after],
    enabled: can('releases:read'),
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/releases', {
          params: { query: { limit: PAGE, ...(after === undefined ? {} : { after }) } },
        }),
      ),
  });
  const classes = useQuery({
    queryKey: ['device-classes'],
    enabled: can('releases:read'),
    queryFn: () => unwrap(api.GET('/api/v1/device-classes')),
  });
  if (!can('releases:read')) return <NotAllowed permission="releases:read" />;
  const className = new Map((classes.data?.items ?? []).map((c) => [c.id, c.name]));
  const items = releases.data?.items ?? [];
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Releases</Title>
        {!uploading && (
          <PermittedButton permission="releases:write" onClick={() => setUploading(true)}>
            Upload release
          </PermittedButton>
        )}
      </Group>
      {uploading && (
        <ReleaseUploadForm
          onClose={() => setUploading(false)}
          onUploaded={async (id) => {
            await client.invalidateQueries({ queryKey: ['releases'] });
            navigate(`/releases/${encodeURIComponent(id)}`);
          }}
        />
      )}
      <ProblemAlert error={releases.error} title="Releases not loaded" />
      {releases.isPending ? (
        <Text>Loading…</Text>
      ) : (
        <Table aria-label="Releases" data-testid="releases-table" striped withTableBorder>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Version</Table.Th>
              <Table.Th>Device class</Table.Th>
              <Table.Th>Sequence</Table.Th>
              <Table.Th>Components</Table.Th>
              <Table.Th>Size</Table.Th>
              <Table.Th>Signed by</Table.Th>
              <Table.Th>Created</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {items.length === 0 && (
              <Table.Tr>
                <Table.Td colSpan={7}>No releases.</Table.Td>
              </Table.Tr>
            )}
            {items.map((r) => (
              <Table.Tr key={r.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/releases/${encodeURIComponent(r.id)}`}>
                    {r.version}
                  </Anchor>
                </Table.Td>
                <Table.Td>{className.get(r.deviceClassId) ?? r.deviceClassId}</Table.Td>
                <Table.Td>{r.sequenceNumber}</Table.Td>
                <Table.Td>{r.components.length}</Table.Td>
                <Table.Td>
                  {bytes(r.envelopeSize + r.payloads.reduce((sum, p) => sum + p.size, 0))}
                </Table.Td>
                <Table.Td>
                  <code>{r.signerKids.join(', ')}</code>
                </Table.Td>
                <Table.Td>{new Date(r.createdAt).toLocaleString()}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <Group>
        <Button
          variant="default"
          disabled={cursors.length === 1}
          onClick={() => setCursors((c) => c.slice(0, -1))}
        >
          Previous page
        </Button>
        <Text size="sm">Page {cursors.length}</Text>
        <Button
          variant="default"
          disabled={items.length < PAGE}
          onClick={() => setCursors((c) => [...c, items.at(-1)?.id])}
        >
          Next page
        </Button>
      </Group>
    </Stack>
  );
}
