import { Table, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../api/client';
import { ProblemAlert } from './ProblemAlert';

/** Every report of one action (GET /api/v1/actions/{id}), each with its status and error code. */
export function ActionReports({ actionId }: { actionId: string }) {
  const action = useQuery({
    queryKey: ['actions', actionId],
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/actions/{id}', { params: { path: { id: actionId } } })),
  });
  if (action.error) return <ProblemAlert error={action.error} title="Reports not loaded" />;
  if (!action.data) return <Text size="sm">Loading reports…</Text>;
  if (action.data.events.length === 0) return <Text size="sm">No reports yet.</Text>;
  return (
    <Table aria-label={`Reports of action ${actionId}`} withTableBorder>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>At</Table.Th>
          <Table.Th>Source</Table.Th>
          <Table.Th>Status</Table.Th>
          <Table.Th>Progress</Table.Th>
          <Table.Th>Error code</Table.Th>
          <Table.Th>Message</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {action.data.events.map((event, index) => (
          // Reports have no id; their order in the history is stable.
          // biome-ignore lint/suspicious/noArrayIndexKey: append-only list
          <Table.Tr key={index}>
            <Table.Td>{event.at}</Table.Td>
            <Table.Td>{event.source}</Table.Td>
            <Table.Td>{event.status}</Table.Td>
            <Table.Td>{event.progress === null ? '—' : `${event.progress}%`}</Table.Td>
            <Table.Td>{event.code ? <code>{event.code}</code> : '—'}</Table.Td>
            <Table.Td>{event.message ?? ''}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
