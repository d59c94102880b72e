import { Badge, Group, Text, Timeline } from '@mantine/core';
import { useQueries } from '@tanstack/react-query';
import { api, unwrap } from '../api/client';
import type { paths } from '../api/openapi';
import { ProblemAlert } from './ProblemAlert';

type Action =
  paths['/api/v1/devices/{id}']['get']['responses'][200]['content']['application/json']['actions'] extends
    | (infer A)[]
    | undefined
    ? A
    : never;

/** By the action's final state (the service's: success, failure, rejected, canceled). */
const FINAL_COLOURS: Record<string, string> = {
  success: 'green',
  failure: 'red',
  canceled: 'gray',
  rejected: 'orange',
};

function when(value: string): string {
  return new Date(value).toLocaleString('en-GB', { timeZone: 'UTC' });
}

/**
 * A device's updates over time, oldest first: each action (its release, type and state) with
 * every report the device or the service made on it, error codes included.
 */
export function UpdateTimeline({ actions }: { actions: readonly Action[] }) {
  const details = useQueries({
    queries: actions.map((a) => ({
      queryKey: ['actions', a.id],
      retry: false,
      queryFn: () => unwrap(api.GET('/api/v1/actions/{id}', { params: { path: { id: a.id } } })),
    })),
  });
  const ordered = actions
    .map((action, index) => ({ action, detail: details[index] }))
    .sort((a, b) => a.action.createdAt.localeCompare(b.action.createdAt));
  return (
    <Timeline bulletSize={18} lineWidth={2} aria-label="Update timeline" mt="sm">
      {ordered.map(({ action, detail }) => (
        <Timeline.Item
          key={action.id}
          color={FINAL_COLOURS[action.state] ?? 'blue'}
          title={
            <Group gap="xs">
              <Text fw={600} size="sm">
                Release {action.releaseId}
              </Text>
              <Badge variant="default" color={FINAL_COLOURS[action.state] ?? 'blue'}>
                {action.state}
              </Badge>
              <Text size="xs" c="dimmed">
                {action.type}
                {action.downloadOnly ? ', download only' : ''}
              </Text>
            </Group>
          }
        >
          <Text size="xs" c="dimmed">
            created {when(action.createdAt)} · last change {when(action.updatedAt)}
          </Text>
          {detail?.error ? (
            <ProblemAlert error={detail.error} title="Reports not loaded" />
          ) : !detail?.data ? (
            <Text size="xs">Loading reports…</Text>
          ) : detail.data.events.length === 0 ? (
            <Text size="xs">No reports yet.</Text>
          ) : (
            <ul aria-label={`Reports on release ${action.releaseId}`} style={{ margin: 0 }}>
              {detail.data.events.map((event, index) => (
                // Reports have no id; their order in the history is stable.
                // biome-ignore lint/suspicious/noArrayIndexKey: see above
                <li key={index}>
                  <Text size="xs" component="span">
                    {when(event.at)} · {event.source} · {event.status}
                    {event.progress !== null && ` ${event.progress}%`}
                    {event.code && (
                      <>
                        {' '}
                        · <code>{event.code}</code>
                      </>
                    )}
                    {event.message && ` · ${event.message}`}
                  </Text>
                </li>
              ))}
            </ul>
          )}
        </Timeline.Item>
      ))}
    </Timeline>
  );
}
