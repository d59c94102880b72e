import '@mantine/charts/styles.css';
import { AreaChart } from '@mantine/charts';

/** One progress sample as the chart plots it (counts at a time of day, UTC). */
export interface ProgressPoint {
  readonly at: string;
  readonly Succeeded: number;
  readonly Failed: number;
  readonly 'In progress': number;
}

/**
 * A campaign's progress over time, stacked. Its own module so that the page loads the charting
 * library (recharts, ~140 KB compressed) only when there is something to plot.
 */
export function CampaignProgressChart({ data }: { data: readonly ProgressPoint[] }) {
  return (
    <AreaChart
      h={200}
      data={[...data]}
      dataKey="at"
      type="stacked"
      aria-label="Devices succeeded, failed and in progress over time (UTC)"
      series={[
        { name: 'Succeeded', color: 'green.8' },
        { name: 'Failed', color: 'red.8' },
        { name: 'In progress', color: 'blue.6' },
      ]}
    />
  );
}
