import { Alert } from '@mantine/core';
import type { Permission } from '../auth/permissions';

/** A page the user's roles do not open, with the reason. */
export function NotAllowed({ permission }: { permission: Permission }) {
  return (
    <Alert color="dark" title="Not allowed" role="alert">
      Your roles do not grant <code>{permission}</code>, which this page needs.
    </Alert>
  );
}
