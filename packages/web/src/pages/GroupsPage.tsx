import { Title } from '@mantine/core';

/** PLACEHOLDER (issue 12 prep): replaced by the page's owner before this lands. */
export function GroupsPage() {
  return <Title order={1}>Groups</Title>;
}
