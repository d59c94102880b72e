import {
  Anchor,
  Badge,
  Button,
  Group,
  Modal,
  SegmentedControl,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { Fragment, useState } from 'react';
import { Link } from 'react-router';
import { api, unwrap } from '../api/client';
import { useSession } from '../auth/session';
import { PermittedButton } from '../components/Allowed';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { FilterInput } from '../components/FilterInput';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';

type Kind = 'static' | 'dynamic';

function CreateGroup({ onClose }: { onClose: () => void }) {
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [kind, setKind] = useState<Kind>('static');
  const [filter, setFilter] = useState('');
  const [devices, setDevices] = useState('');
  const create = useMutation({
    mutationFn: () => {
      const members = devices
        .split(/[\s,]+/)
        .map((d) => d.trim())
        .filter(Boolean);
      return unwrap(
        api.POST('/api/v1/groups', {
          body:
            kind === 'dynamic'
              ? { name: name.trim(), filter: filter.trim() }
              : { name: name.trim(), ...(members.length > 0 ? { devices: members } : {}) },
        }),
      );
    },
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ['groups'] });
      onClose();
    },
  });
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <Stack>
        <TextInput
          label="Name"
          description="Letters, digits and . _ : - (filters name it as &quot;name&quot; in device.groups)"
          required
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
        />
        <SegmentedControl
          aria-label="Kind"
          value={kind}
          onChange={(value) => setKind(value as Kind)}
          data={[
            { value: 'static', label: 'Static (listed devices)' },
            { value: 'dynamic', label: 'Dynamic (a filter)' },
          ]}
        />
        {kind === 'dynamic' ? (
          <FilterInput value={filter} onChange={setFilter} />
        ) : (
          <Textarea
            label="Devices"
            description="Ids or names, separated by commas or new lines (optional: add more later from the device list)"
            rows={3}
            value={devices}
            onChange={(e) => setDevices(e.currentTarget.value)}
          />
        )}
        <ProblemAlert error={create.error} title="Group not created" />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button
            type="submit"
            loading={create.isPending}
            disabled={name.trim() === '' || (kind === 'dynamic' && filter.trim() === '')}
          >
            Create group
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function Members({ id }: { id: string }) {
  const group = useQuery({
    queryKey: ['groups', 'one', id],
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/groups/{id}', { params: { path: { id } } })),
  });
  if (group.error) return <ProblemAlert error={group.error} title="Group not loaded" />;
  if (!group.data) return <Text size="sm">Loading…</Text>;
  const g = group.data;
  const filter =
    g.kind === 'dynamic' && g.filter ? g.filter : `${JSON.stringify(g.name)} in device.groups`;
  return (
    <Stack gap="xs" aria-label={`Members of ${g.name}`} component="section">
      {g.kind === 'dynamic' && (
        <Text size="sm">
          Filter: <code>{g.filter}</code>
        </Text>
      )}
      {g.members && (
        <Text size="sm" data-testid="group-members">
          {g.members.length === 0 ? 'No devices listed.' : g.members.join(', ')}
        </Text>
      )}
      <Anchor component={Link} to={`/devices?filter=${encodeURIComponent(filter)}`} size="sm">
        {`Open the ${g.deviceCount.toLocaleString('en')} devices in the device list`}
      </Anchor>
    </Stack>
  );
}

/** Device groups: static lists and dynamic (saved filter) groups, their counts and members. */
export function GroupsPage() {
  const { can } = useSession();
  const client = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<{ id: string; name: string } | null>(null);
  const list = useQuery({
    queryKey: ['groups', 'list'],
    enabled: can('devices:read'),
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/groups')),
  });
  const items = list.data?.items ?? [];
  // The list has no counts; each group's view has its current one.
  const views = useQueries({
    queries: items.map((g) => ({
      queryKey: ['groups', 'one', g.id],
      retry: false,
      queryFn: () => unwrap(api.GET('/api/v1/groups/{id}', { params: { path: { id: g.id } } })),
    })),
  });
  const remove = useMutation({
    mutationFn: (id: string) =>
      unwrap(
        api
          .DELETE('/api/v1/groups/{id}', { params: { path: { id } } })
          .then((r) => ({ ...r, data: r.response.ok ? {} : undefined })),
      ),
    onSuccess: async () => {
      setDeleting(null);
      await client.invalidateQueries({ queryKey: ['groups'] });
    },
  });
  if (!can('devices:read')) return <NotAllowed permission="devices:read" />;
  return (
    <section aria-labelledby="groups-title">
      <Group justify="space-between" mb="md">
        <Title id="groups-title" order={1} size="h2">
          Groups
        </Title>
        <PermittedButton permission="devices:write" onClick={() => setCreating(true)}>
          New group
        </PermittedButton>
      </Group>
      <ProblemAlert error={list.error} title="Groups not loaded" />
      {list.data && items.length === 0 && (
        <Text c="dimmed">
          No groups yet. A group names a set of devices for filters and campaigns.
        </Text>
      )}
      {items.length > 0 && (
        <Table aria-label="Groups" withTableBorder>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Kind</Table.Th>
              <Table.Th>Devices</Table.Th>
              <Table.Th>Created</Table.Th>
              <Table.Th>Members</Table.Th>
              <Table.Th>Delete</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {items.map((g, index) => {
              const view = views[index];
              return (
                <Fragment key={g.id}>
                  <Table.Tr>
                    <Table.Td>{g.name}</Table.Td>
                    <Table.Td>
                      <Badge variant="default" color={g.kind === 'dynamic' ? 'grape' : 'blue'}>
                        {g.kind}
                      </Badge>
                    </Table.Td>
                    <Table.Td data-testid={`group-count-${g.name}`}>
                      {view?.data
                        ? view.data.deviceCount.toLocaleString('en')
                        : view?.error
                          ? 'not counted'
                          : '…'}
                    </Table.Td>
                    <Table.Td>{g.createdAt.slice(0, 10)}</Table.Td>
                    <Table.Td>
                      <Button
                        size="compact-sm"
                        variant="default"
                        aria-expanded={open === g.id}
                        onClick={() => setOpen(open === g.id ? null : g.id)}
                      >
                        {open === g.id ? `Hide ${g.name}` : `Show ${g.name}`}
                      </Button>
                    </Table.Td>
                    <Table.Td>
                      <PermittedButton
                        permission="devices:write"
                        size="compact-sm"
                        color="red"
                        variant="subtle"
                        onClick={() => setDeleting({ id: g.id, name: g.name })}
                      >
                        Delete
                      </PermittedButton>
                    </Table.Td>
                  </Table.Tr>
                  {open === g.id && (
                    <Table.Tr>
                      <Table.Td colSpan={6}>
                        <Members id={g.id} />
                      </Table.Td>
                    </Table.Tr>
                  )}
                </Fragment>
              );
            })}
          </Table.Tbody>
        </Table>
      )}
      <Modal opened={creating} onClose={() => setCreating(false)} title="New group" size="lg">
        {creating && <CreateGroup onClose={() => setCreating(false)} />}
      </Modal>
      <ConfirmDialog
        opened={deleting !== null}
        onClose={() => setDeleting(null)}
        title="Delete group"
        error={remove.error}
        errorTitle="Group not deleted"
        confirm="Delete group"
        pending={remove.isPending}
        onConfirm={() => deleting && remove.mutate(deleting.id)}
      >
        <Text>
          Delete group {deleting?.name}? Its devices stay; filters and campaigns naming it stop
          matching them.
        </Text>
      </ConfirmDialog>
    </section>
  );
}
