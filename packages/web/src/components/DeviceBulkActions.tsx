import { Group, Paper, Select, Stack, Text, TextInput } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, unwrap } from '../api/client';
import type { paths } from '../api/openapi';
import { useSession } from '../auth/session';
import { PermittedButton } from './Allowed';
import { ConfirmDialog } from './ConfirmDialog';
import { ProblemAlert } from './ProblemAlert';

type BulkBody =
  paths['/api/v1/devices/bulk-actions']['post']['requestBody']['content']['application/json'];

/** Which devices a bulk action addresses: chosen ids, or every device matching a filter. */
export type BulkTarget =
  | { readonly kind: 'ids'; readonly ids: readonly string[] }
  | { readonly kind: 'filter'; readonly filter: string; readonly count: number };

const ACTION_WORDS = {
  'add-tags': 'Tags added',
  'remove-tags': 'Tags removed',
  'add-to-group': 'Group members added',
  decommission: 'Devices decommissioned',
} as const;

/**
 * The bulk actions of the device list (POST /api/v1/devices/bulk-actions): add or remove tags,
 * add to a static group, decommission (after a confirmation stating the count). The selection
 * stays after an action, with its outcome, so several actions can follow one another.
 */
export function DeviceBulkActions({ target }: { target: BulkTarget }) {
  const { can } = useSession();
  const client = useQueryClient();
  const [tags, setTags] = useState('');
  const [group, setGroup] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const count = target.kind === 'ids' ? target.ids.length : target.count;
  const groups = useQuery({
    queryKey: ['groups', 'list'],
    enabled: can('devices:read'),
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/groups')),
  });
  const run = useMutation({
    mutationFn: (body: Omit<BulkBody, 'deviceIds' | 'filter'>) =>
      unwrap(
        api.POST('/api/v1/devices/bulk-actions', {
          body: {
            ...body,
            ...(target.kind === 'ids' ? { deviceIds: [...target.ids] } : { filter: target.filter }),
          } as BulkBody,
        }),
      ),
    onSuccess: async () => {
      setConfirming(false);
      await client.invalidateQueries({ queryKey: ['devices'] });
      await client.invalidateQueries({ queryKey: ['groups'] });
    },
  });
  const tagList = tags
    .split(/[\s,]+/)
    .map((t) => t.trim())
    .filter(Boolean);
  const noun = `${count.toLocaleString('en')} device${count === 1 ? '' : 's'}`;
  return (
    <Paper withBorder p="sm" mt="sm" aria-label="Bulk actions" component="section">
      <Stack gap="xs">
        <Text fw={600} data-testid="bulk-count">
          {noun} selected
          {target.kind === 'filter' && ' (every device matching the filter)'}
        </Text>
        <Group align="flex-end" gap="sm">
          <TextInput
            label="Tags"
            description="Separated by commas or spaces"
            value={tags}
            onChange={(e) => setTags(e.currentTarget.value)}
            w={260}
          />
          <PermittedButton
            permission="devices:write"
            disabled={tagList.length === 0}
            loading={run.isPending && run.variables?.action === 'add-tags'}
            onClick={() => run.mutate({ action: 'add-tags', tags: tagList })}
          >
            Add tags
          </PermittedButton>
          <PermittedButton
            permission="devices:write"
            variant="default"
            disabled={tagList.length === 0}
            loading={run.isPending && run.variables?.action === 'remove-tags'}
            onClick={() => run.mutate({ action: 'remove-tags', tags: tagList })}
          >
            Remove tags
          </PermittedButton>
        </Group>
        <Group align="flex-end" gap="sm">
          <Select
            label="Static group"
            placeholder="Choose a group"
            data={(groups.data?.items ?? [])
              .filter((g) => g.kind === 'static')
              .map((g) => ({ value: g.id, label: g.name }))}
            value={group}
            onChange={setGroup}
            w={260}
          />
          <PermittedButton
            permission="devices:write"
            disabled={group === null}
            loading={run.isPending && run.variables?.action === 'add-to-group'}
            onClick={() => group && run.mutate({ action: 'add-to-group', group })}
          >
            Add to group
          </PermittedButton>
          <PermittedButton
            permission="devices:write"
            color="red"
            variant="outline"
            onClick={() => setConfirming(true)}
          >
            Decommission
          </PermittedButton>
        </Group>
        {!confirming && <ProblemAlert error={run.error} title="Bulk action failed" />}
        {run.data && (
          <Text role="status" size="sm">
            <strong>{ACTION_WORDS[run.data.action]}:</strong>{' '}
            <span>{`${run.data.changed.toLocaleString('en')} changed of ${run.data.matched.toLocaleString('en')} devices addressed.`}</span>
          </Text>
        )}
      </Stack>
      <ConfirmDialog
        opened={confirming}
        onClose={() => setConfirming(false)}
        title={`Decommission ${noun}`}
        error={run.error}
        errorTitle="Not decommissioned"
        confirm={`Decommission ${noun}`}
        pending={run.isPending}
        onConfirm={() => run.mutate({ action: 'decommission' })}
      >
        <Text>
          Decommissioning {noun} revokes their credentials; their history is kept. This cannot be
          undone.
        </Text>
      </ConfirmDialog>
    </Paper>
  );
}
