import { Button, type ButtonProps, Group, Text } from '@mantine/core';
import { useId } from 'react';
import type { Permission } from '../auth/permissions';
import { useSession } from '../auth/session';

/** A button the user's roles may not allow: disabled, with the reason beside it. */
export function PermittedButton({
  permission,
  onClick,
  children,
  ...props
}: ButtonProps & { permission: Permission; onClick: () => void; children: string }) {
  const { can } = useSession();
  const reasonId = useId();
  const allowed = can(permission);
  return (
    <Group gap="xs">
      <Button
        {...props}
        disabled={!allowed}
        onClick={onClick}
        aria-describedby={allowed ? undefined : reasonId}
      >
        {children}
      </Button>
      {!allowed && (
        <Text id={reasonId} size="xs" c="dimmed">
          Needs <code>{permission}</code>, which your roles do not grant.
        </Text>
      )}
    </Group>
  );
}
