import { Button, Group, Modal, Stack } from '@mantine/core';
import type { ReactNode } from 'react';
import { ProblemAlert } from './ProblemAlert';

/**
 * The dialog before a destructive action: what it does (children, e.g. "This cannot be
 * undone."), the action's error in words with its code, a way back (`keep`, the default
 * button) and the red confirming button, busy while the action runs. Closing keeps things as
 * they are.
 */
export function ConfirmDialog({
  opened,
  onClose,
  title,
  children,
  error,
  errorTitle,
  keep = 'Keep',
  confirm,
  pending,
  disabled,
  onConfirm,
}: {
  opened: boolean;
  onClose: () => void;
  /** The dialog's title (its accessible name). */
  title: string;
  children: ReactNode;
  error: unknown;
  errorTitle: string;
  keep?: string;
  /** The confirming button's name. */
  confirm: string;
  pending: boolean;
  disabled?: boolean;
  onConfirm: () => void;
}) {
  return (
    <Modal opened={opened} onClose={onClose} title={title}>
      <Stack>
        {children}
        <ProblemAlert error={error} title={errorTitle} />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            {keep}
          </Button>
          <Button color="red" disabled={disabled} loading={pending} onClick={onConfirm}>
            {confirm}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
