import { Title } from '@mantine/core';

/** PLACEHOLDER (issue 12 prep): replaced by the page's owner before this lands. */
export function OverviewPage() {
  return <Title order={1}>Overview</Title>;
}
