import {
  Button,
  Code,
  Group,
  NativeSelect,
  Table,
  Text,
  TextInput,
  Title,
  UnstyledButton,
  VisuallyHidden,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Fragment, useState } from 'react';
import { useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { useSession } from '../auth/session';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';

const PAGE_SIZE = 50;
/** URL parameter → API query parameter. */
const FILTERS = {
  actor: 'actor',
  action: 'action',
  type: 'resourceType',
  target: 'resourceId',
  from: 'from',
  to: 'to',
} as const;

function when(value: string): string {
  return new Date(value).toLocaleString('en-GB', { timeZone: 'UTC' });
}

/** `<input type="datetime-local">` (read as UTC) ↔ the ISO instant in the URL. */
function toInput(iso: string | null): string {
  return iso ? iso.slice(0, 16) : '';
}
function fromInput(local: string): string | null {
  if (!local) return null;
  const at = new Date(`${local}:00.000Z`);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

/**
 * The audit log: newest first, paged on the server (`before=<last id>`), filtered by actor, action,
 * target and time range. Filters and the page live in the URL.
 */
export function AuditPage() {
  const { can } = useSession();
  const [params, setParams] = useSearchParams();
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const before = params.get('before');
  // Cursors of the newer pages, to step back; cleared when the filters change.
  const [newer, setNewer] = useState<string[]>([]);
  const update = (changes: Record<string, string | null>, keepPage = false) => {
    if (!keepPage) setNewer([]);
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (!keepPage) next.delete('before');
        for (const [key, value] of Object.entries(changes)) {
          if (value === null || value === '') next.delete(key);
          else next.set(key, value);
        }
        return next;
      },
      { replace: true },
    );
  };
  const query: Record<string, string> = {};
  for (const [param, name] of Object.entries(FILTERS)) {
    const value = params.get(param)?.trim();
    if (value) query[name] = value;
  }
  // Debounced as text: a new object every render would restart the timer forever.
  const [debouncedText] = useDebouncedValue(JSON.stringify(query), 250);
  const debounced = JSON.parse(debouncedText) as Record<string, string>;
  const users = useQuery({
    queryKey: ['users'],
    enabled: can('users:read'),
    queryFn: () => unwrap(api.GET('/api/v1/users')),
  });
  const entries = useQuery({
    queryKey: ['audit', debouncedText, before],
    enabled: can('audit:read'),
    placeholderData: keepPreviousData,
    retry: false,
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/audit', {
          params: {
            query: { ...debounced, limit: PAGE_SIZE + 1, ...(before ? { before } : {}) },
          },
        }),
      ),
  });
  if (!can('audit:read')) return <NotAllowed permission="audit:read" />;
  const names = new Map(users.data?.items.map((u) => [u.id, u.username]));
  const rows = entries.data?.items.slice(0, PAGE_SIZE) ?? [];
  const more = (entries.data?.items.length ?? 0) > PAGE_SIZE;
  const toggle = (id: string) =>
    setOpen((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  return (
    <section aria-labelledby="audit-title">
      <Title id="audit-title" order={1} size="h2" mb="md">
        Audit log
      </Title>
      <Group align="end" gap="sm" wrap="wrap">
        {users.data ? (
          <NativeSelect
            label="Actor"
            value={params.get('actor') ?? ''}
            onChange={(e) => update({ actor: e.currentTarget.value })}
            data={[
              { value: '', label: 'Anyone' },
              ...users.data.items.map((u) => ({ value: u.id, label: u.username })),
            ]}
          />
        ) : (
          <TextInput
            label="Actor (user id)"
            value={params.get('actor') ?? ''}
            onChange={(e) => update({ actor: e.currentTarget.value })}
          />
        )}
        <TextInput
          label="Action"
          placeholder="e.g. user.create"
          value={params.get('action') ?? ''}
          onChange={(e) => update({ action: e.currentTarget.value })}
        />
        <TextInput
          label="Target type"
          placeholder="e.g. user"
          value={params.get('type') ?? ''}
          onChange={(e) => update({ type: e.currentTarget.value })}
        />
        <TextInput
          label="Target id"
          value={params.get('target') ?? ''}
          onChange={(e) => update({ target: e.currentTarget.value })}
        />
        <TextInput
          type="datetime-local"
          label="From (UTC)"
          value={toInput(params.get('from'))}
          onChange={(e) => update({ from: fromInput(e.currentTarget.value) })}
        />
        <TextInput
          type="datetime-local"
          label="To (UTC, exclusive)"
          value={toInput(params.get('to'))}
          onChange={(e) => update({ to: fromInput(e.currentTarget.value) })}
        />
        <Button
          variant="default"
          onClick={() =>
            update(Object.fromEntries(Object.keys(FILTERS).map((k) => [k, null] as const)))
          }
        >
          Clear filters
        </Button>
      </Group>
      <ProblemAlert error={entries.error} title="The audit log could not be read" />
      <Table striped mt="sm" aria-label="Audit entries" data-testid="audit-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Time (UTC)</Table.Th>
            <Table.Th>Actor</Table.Th>
            <Table.Th>Action</Table.Th>
            <Table.Th>Target</Table.Th>
            <Table.Th>Outcome</Table.Th>
            <Table.Th>Details</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((entry) => (
            <Fragment key={entry.id}>
              <Table.Tr>
                <Table.Td>{when(entry.at)}</Table.Td>
                <Table.Td>
                  {entry.actorId
                    ? (names.get(entry.actorId) ?? entry.actorId)
                    : `(${entry.actorType})`}
                </Table.Td>
                <Table.Td>
                  <Code>{entry.action}</Code>
                </Table.Td>
                <Table.Td>
                  {[entry.resourceType, entry.resourceId].filter(Boolean).join(' ') || '—'}
                </Table.Td>
                <Table.Td>
                  {entry.outcome} ({entry.status})
                </Table.Td>
                <Table.Td>
                  <UnstyledButton
                    fz="sm"
                    td="underline"
                    aria-expanded={open.has(entry.id)}
                    aria-controls={`audit-${entry.id}`}
                    onClick={() => toggle(entry.id)}
                  >
                    {open.has(entry.id) ? 'Hide' : 'Show'}
                    <VisuallyHidden> details of {entry.action}</VisuallyHidden>
                  </UnstyledButton>
                </Table.Td>
              </Table.Tr>
              {open.has(entry.id) && (
                <Table.Tr id={`audit-${entry.id}`}>
                  <Table.Td colSpan={6}>
                    <Text size="sm">
                      Entry <Code>{entry.id}</Code>, from {entry.ip ?? 'unknown address'}, request{' '}
                      <Code>{entry.requestId ?? '—'}</Code>
                    </Text>
                    <Code block>
                      {entry.change ? JSON.stringify(entry.change, null, 2) : 'No change recorded.'}
                    </Code>
                  </Table.Td>
                </Table.Tr>
              )}
            </Fragment>
          ))}
        </Table.Tbody>
      </Table>
      <Group justify="space-between" mt="md">
        <Text size="sm" data-testid="audit-count">
          {entries.data
            ? rows.length === 0
              ? 'No entries match.'
              : `${rows.length} ${rows.length === 1 ? 'entry' : 'entries'}${more ? ', older ones on the next page' : ''}`
            : 'Loading…'}
        </Text>
        <Group gap="xs">
          <Button
            variant="default"
            disabled={!before}
            onClick={() => {
              const previous = newer.slice(0, -1);
              setNewer(previous);
              update({ before: newer.at(-1) ?? null }, true);
            }}
          >
            Newer entries
          </Button>
          <Button
            variant="default"
            disabled={!more}
            onClick={() => {
              setNewer([...newer, before ?? '']);
              update({ before: rows.at(-1)?.id ?? null }, true);
            }}
          >
            Older entries
          </Button>
        </Group>
      </Group>
    </section>
  );
}
