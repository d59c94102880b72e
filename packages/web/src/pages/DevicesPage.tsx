import {
  Anchor,
  Button,
  Checkbox,
  Group,
  Pagination,
  Table,
  Text,
  Title,
  UnstyledButton,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { useSession } from '../auth/session';
import { DeviceBulkActions } from '../components/DeviceBulkActions';
import { FilterInput } from '../components/FilterInput';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';

const PAGE_SIZE = 50;
const SORTS = ['name', 'createdAt', 'lastSeenAt'] as const;
type Sort = (typeof SORTS)[number];
const COLUMNS: readonly { key: Sort | null; label: string }[] = [
  { key: 'name', label: 'Name' },
  { key: null, label: 'Tags' },
  { key: 'lastSeenAt', label: 'Last seen' },
  { key: 'createdAt', label: 'Registered' },
  { key: null, label: 'State' },
];

function when(value: string | null): string {
  return value ? new Date(value).toLocaleString('en-GB', { timeZone: 'UTC' }) : 'never';
}

/**
 * The fleet: server-side paged and sorted, narrowed by the filter language (state in the URL);
 * rows chosen one by one, by page, or as every device matching the filter, for bulk actions.
 */
export function DevicesPage() {
  const { can } = useSession();
  const [params, setParams] = useSearchParams();
  const filter = params.get('filter') ?? '';
  const sort: Sort = SORTS.find((s) => s === params.get('sort')) ?? 'name';
  const order = params.get('order') === 'desc' ? 'desc' : 'asc';
  const page = Math.max(1, Number(params.get('page')) || 1);
  const [debouncedFilter] = useDebouncedValue(filter.trim(), 250);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [allMatching, setAllMatching] = useState(false);
  const clearSelection = () => {
    setSelected(new Set());
    setAllMatching(false);
  };
  // A selection belongs to the filter it was made under.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset when the filter changes
  useEffect(clearSelection, [debouncedFilter]);
  const update = (changes: Record<string, string | null>) =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        for (const [key, value] of Object.entries(changes)) {
          if (value === null || value === '') next.delete(key);
          else next.set(key, value);
        }
        return next;
      },
      { replace: true },
    );
  const list = useQuery({
    queryKey: ['devices', 'list', debouncedFilter, sort, order, page],
    enabled: can('devices:read'),
    placeholderData: keepPreviousData,
    retry: false,
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/devices', {
          params: {
            query: {
              limit: PAGE_SIZE,
              offset: (page - 1) * PAGE_SIZE,
              sort,
              order,
              ...(debouncedFilter ? { filter: debouncedFilter } : {}),
            },
          },
        }),
      ),
  });
  if (!can('devices:read')) return <NotAllowed permission="devices:read" />;
  const pages = list.data ? Math.max(1, Math.ceil(list.data.total / PAGE_SIZE)) : 1;
  const items = list.data?.items ?? [];
  const total = list.data?.total ?? 0;
  const pageSelected = items.length > 0 && items.every((d) => selected.has(d.id));
  const someSelected = items.some((d) => selected.has(d.id));
  const toggle = (ids: readonly string[], on: boolean) => {
    setAllMatching(false);
    setSelected((current) => {
      const next = new Set(current);
      for (const id of ids) {
        if (on) next.add(id);
        else next.delete(id);
      }
      return next;
    });
  };
  const target = allMatching
    ? { kind: 'filter' as const, filter: debouncedFilter || 'true', count: total }
    : selected.size > 0
      ? { kind: 'ids' as const, ids: [...selected] }
      : null;
  return (
    <section aria-labelledby="devices-title">
      <Title id="devices-title" order={1} size="h2" mb="md">
        Devices
      </Title>
      <FilterInput value={filter} onChange={(value) => update({ filter: value, page: null })} />
      {/* The filter's own errors show under the input; others (paging, permissions) here. */}
      {list.error && !filter && <ProblemAlert error={list.error} />}
      {pageSelected && !allMatching && total > items.length && (
        <Group gap="xs" mt="xs">
          <Text size="sm">All {items.length} devices on this page are selected.</Text>
          <Button size="compact-sm" variant="subtle" onClick={() => setAllMatching(true)}>
            {`Select all ${total.toLocaleString('en')} ${debouncedFilter ? 'matching the filter' : 'devices'}`}
          </Button>
        </Group>
      )}
      {target && (
        <Group gap="xs" mt="xs">
          <Button size="compact-sm" variant="subtle" onClick={clearSelection}>
            Clear selection
          </Button>
        </Group>
      )}
      {target && <DeviceBulkActions target={target} />}
      <Table striped highlightOnHover mt="sm" aria-label="Devices" data-testid="devices-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th w={40}>
              <Checkbox
                aria-label="Select every device on this page"
                checked={allMatching || pageSelected}
                indeterminate={!allMatching && someSelected && !pageSelected}
                onChange={(e) =>
                  toggle(
                    items.map((d) => d.id),
                    e.currentTarget.checked,
                  )
                }
              />
            </Table.Th>
            {COLUMNS.map((column) => (
              <Table.Th
                key={column.label}
                aria-sort={
                  column.key === sort ? (order === 'asc' ? 'ascending' : 'descending') : undefined
                }
              >
                {column.key ? (
                  <UnstyledButton
                    fw={700}
                    fz="sm"
                    onClick={() =>
                      update({
                        sort: column.key,
                        order: column.key === sort && order === 'asc' ? 'desc' : 'asc',
                        page: null,
                      })
                    }
                  >
                    {column.label}
                    {column.key === sort ? (order === 'asc' ? ' ▲' : ' ▼') : ''}
                  </UnstyledButton>
                ) : (
                  column.label
                )}
              </Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((device) => (
            <Table.Tr key={device.id}>
              <Table.Td>
                <Checkbox
                  aria-label={`Select ${device.name}`}
                  checked={allMatching || selected.has(device.id)}
                  onChange={(e) => {
                    if (allMatching) {
                      // Leaving "all matching" keeps this page's rows minus the one unticked.
                      setAllMatching(false);
                      setSelected(new Set(items.map((d) => d.id).filter((id) => id !== device.id)));
                    } else toggle([device.id], e.currentTarget.checked);
                  }}
                />
              </Table.Td>
              <Table.Td>
                <Anchor component={Link} to={`/devices/${encodeURIComponent(device.id)}`}>
                  {device.name}
                </Anchor>
              </Table.Td>
              <Table.Td>{device.tags.join(', ')}</Table.Td>
              <Table.Td>{when(device.lastSeenAt)}</Table.Td>
              <Table.Td>{when(device.createdAt)}</Table.Td>
              <Table.Td>{device.decommissionedAt ? 'decommissioned' : 'active'}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Group justify="space-between" mt="md">
        <Text size="sm" data-testid="devices-total">
          {list.data
            ? `${list.data.total.toLocaleString('en')} devices, page ${page} of ${pages}`
            : 'Loading…'}
        </Text>
        <Pagination
          total={pages}
          value={Math.min(page, pages)}
          onChange={(value) => update({ page: String(value) })}
          getControlProps={(control) => ({
            'aria-label': control === 'next' ? 'Next page' : 'Previous page',
          })}
          getItemProps={(value) => ({ 'aria-label': `Page ${value}` })}
        />
      </Group>
    </section>
  );
}
