import { Title } from '@mantine/core';

/** PLACEHOLDER (issue 12 prep): replaced by the page's owner before this lands. */
export function AuditPage() {
  return <Title order={1}>Audit log</Title>;
}
