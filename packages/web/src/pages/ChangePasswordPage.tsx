import { Button, Center, Paper, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../api/client';
import { ME_KEY } from '../auth/session';
import { ProblemAlert } from '../components/ProblemAlert';

/** The forced first-login password change (and the voluntary one under /settings later). */
export function ChangePasswordPage({ forced, onDone }: { forced: boolean; onDone?: () => void }) {
  const client = useQueryClient();
  const [currentPassword, setCurrent] = useState('');
  const [newPassword, setNew] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const change = useMutation({
    mutationFn: () =>
      unwrap(api.POST('/api/v1/me/password', { body: { currentPassword, newPassword } })),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ME_KEY });
      onDone?.();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setMismatch(newPassword !== repeat);
    if (newPassword === repeat) change.mutate();
  };
  return (
    <Center mih={forced ? '100vh' : undefined}>
      <Paper component={forced ? 'main' : 'section'} withBorder p="xl" w={420}>
        <form onSubmit={submit}>
          <Stack>
            <Title order={1} size="h2">
              Change your password
            </Title>
            {forced && <Text>Your password must be changed before you continue.</Text>}
            <PasswordInput
              label="Current password"
              autoComplete="current-password"
              required
              withAsterisk={false}
              value={currentPassword}
              onChange={(e) => setCurrent(e.currentTarget.value)}
            />
            <PasswordInput
              label="New password"
              autoComplete="new-password"
              required
              withAsterisk={false}
              value={newPassword}
              onChange={(e) => setNew(e.currentTarget.value)}
            />
            <PasswordInput
              label="Repeat new password"
              autoComplete="new-password"
              required
              withAsterisk={false}
              value={repeat}
              onChange={(e) => setRepeat(e.currentTarget.value)}
              error={mismatch ? 'The two new passwords differ.' : undefined}
            />
            <ProblemAlert error={change.error} title="Password not changed" />
            <Button type="submit" loading={change.isPending}>
              Change password
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
