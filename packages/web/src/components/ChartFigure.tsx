import { Table, Title, VisuallyHidden } from '@mantine/core';
import { type ReactNode, useId } from 'react';

/** One row of a chart's data as words: what it counts and how many. */
export interface ChartRow {
  readonly label: string;
  readonly value: number;
}

/**
 * A chart with its text alternative: a visible caption, the drawing hidden from assistive
 * technology, and the same numbers as a visually hidden table that screen readers read instead.
 * The drawing is inert, so nothing hidden takes focus.
 */
export function ChartFigure({
  title,
  columns,
  rows,
  children,
}: {
  title: string;
  /** Header of the label column and of the value column of the hidden table. */
  columns: readonly [string, string];
  rows: readonly ChartRow[];
  children: ReactNode;
}) {
  const captionId = useId();
  return (
    <figure aria-labelledby={captionId} style={{ margin: 0 }}>
      <Title order={2} size="h4" id={captionId} mb="xs">
        {title}
      </Title>
      {/* inert: nothing in the drawing takes focus (recharts makes parts of it focusable). */}
      <div aria-hidden="true" inert>
        {children}
      </div>
      <VisuallyHidden>
        <Table>
          <caption>{title}</caption>
          <Table.Thead>
            <Table.Tr>
              <Table.Th scope="col">{columns[0]}</Table.Th>
              <Table.Th scope="col">{columns[1]}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((row) => (
              <Table.Tr key={row.label}>
                <Table.Td>{row.label}</Table.Td>
                <Table.Td>{row.value}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </VisuallyHidden>
    </figure>
  );
}
