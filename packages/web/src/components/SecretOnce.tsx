import { Alert, Button, Code, CopyButton, Group, Text } from '@mantine/core';

/** A secret the service shows only once (API token, webhook signing secret): copy it now. */
export function SecretOnce({
  label,
  secret,
  onDismiss,
}: {
  label: string;
  secret: string;
  onDismiss: () => void;
}) {
  return (
    <Alert color="blue" title={label} role="status" data-testid="secret-once">
      <Text size="sm" mb="xs">
        Copy it now: it is shown only this once and cannot be retrieved later.
      </Text>
      <Code block data-testid="secret-value">
        {secret}
      </Code>
      <Group mt="xs">
        <CopyButton value={secret}>
          {({ copied, copy }) => (
            <Button size="xs" variant="light" onClick={copy}>
              {copied ? 'Copied' : 'Copy'}
            </Button>
          )}
        </CopyButton>
        <Button size="xs" variant="subtle" onClick={onDismiss}>
          I have stored it
        </Button>
      </Group>
    </Alert>
  );
}
