import { Code, Group, Text, TextInput } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { ApiError, api, unwrap } from '../api/client';

/** Where a filter error points: the source line with a caret under the column. */
function ErrorAt({ source, error }: { source: string; error: ApiError }) {
  const { position, code, detail } = error.problem;
  const line = position ? (source.split('\n')[position.line - 1] ?? source) : null;
  return (
    <div role="alert" id="filter-error">
      <Text size="sm" c="red.8">
        {detail} <code>({code})</code>
        {position && ` at line ${position.line}, column ${position.column}`}
      </Text>
      {position && line !== null && (
        <Code block data-testid="filter-error-position">
          {`${line}\n${' '.repeat(Math.max(0, position.column - 1))}^`}
        </Code>
      )}
    </div>
  );
}

/**
 * The target filter language (docs/filters.md) with a live count: GET /api/v1/devices/count as
 * the user types (debounced); the service's errors shown at their position.
 */
export function FilterInput({
  value,
  onChange,
}: {
  value: string;
  onChange: (value: string) => void;
}) {
  const [debounced] = useDebouncedValue(value.trim(), 250);
  const count = useQuery({
    queryKey: ['devices', 'count', debounced],
    enabled: debounced !== '',
    placeholderData: keepPreviousData,
    retry: false,
    queryFn: () =>
      unwrap(api.GET('/api/v1/devices/count', { params: { query: { filter: debounced } } })),
  });
  const error = count.error instanceof ApiError ? count.error : null;
  return (
    <div>
      <TextInput
        label="Filter"
        description='Target filter (docs/filters.md), e.g. device.attributes.region == "eu" && "beta" in device.tags'
        placeholder="All devices"
        value={value}
        onChange={(e) => onChange(e.currentTarget.value)}
        error={error !== null}
        aria-describedby={error ? 'filter-error' : undefined}
        spellCheck={false}
        autoComplete="off"
        styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
      />
      {error && <ErrorAt source={debounced} error={error} />}
      <Group h={24} aria-live="polite">
        {debounced !== '' && !error && count.data && (
          <Text size="sm" data-testid="filter-count">
            {count.data.count.toLocaleString('en')} matching devices
          </Text>
        )}
      </Group>
    </div>
  );
}
