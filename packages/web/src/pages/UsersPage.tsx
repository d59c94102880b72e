import {
  Badge,
  Button,
  Card,
  Checkbox,
  Code,
  Group,
  NumberInput,
  PasswordInput,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../api/client';
import { ROLE_PERMISSIONS, ROLES, type Role } from '../auth/permissions';
import { useSession } from '../auth/session';
import { PermittedButton } from '../components/Allowed';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';
import { SecretOnce } from '../components/SecretOnce';

/** What each role is for: separated duties (a role that deploys cannot approve or audit). */
const ROLE_PURPOSE: Readonly<Record<Role, string>> = {
  admin: 'Everything, including users, settings and webhooks.',
  'repository-admin': 'Device classes and releases (uploads firmware).',
  'deployment-admin': 'Devices and their identity (certificates, enrollment).',
  'rollout-admin': 'Campaigns and actions (deploys releases), not approval.',
  approver: 'Approves campaigns (the second pair of eyes), cannot create them.',
  support: 'Reads devices, actions and reports to help operators.',
  auditor: 'Reads everything of the tenant, changes nothing.',
};

type User = { id: string; username: string; roles: string[]; disabledAt: string | null };

function when(value: string | null): string {
  return value ? new Date(value).toLocaleString('en-GB', { timeZone: 'UTC' }) : '—';
}

function RolesField({
  value,
  onChange,
  label,
}: {
  value: string[];
  onChange: (roles: string[]) => void;
  label: string;
}) {
  return (
    <Checkbox.Group label={label} value={value} onChange={onChange}>
      <Group gap="md" mt={4}>
        {ROLES.map((role) => (
          <Checkbox key={role} value={role} label={role} />
        ))}
      </Group>
    </Checkbox.Group>
  );
}

function CreateUser({ onDone }: { onDone: () => void }) {
  const client = useQueryClient();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [roles, setRoles] = useState<string[]>([]);
  const [mustChange, setMustChange] = useState(true);
  const create = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/api/v1/users', {
          body: { username, password, roles: roles as Role[], mustChangePassword: mustChange },
        }),
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['users'] });
      onDone();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <Card withBorder component="form" onSubmit={submit} aria-label="New user" mb="md">
      <Stack gap="sm">
        <TextInput
          label="Username"
          required
          value={username}
          onChange={(e) => setUsername(e.currentTarget.value)}
        />
        <PasswordInput
          label="Initial password"
          description="At least 12 characters."
          required
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
        />
        <RolesField label="Roles" value={roles} onChange={setRoles} />
        <Checkbox
          label="Must change the password at first sign-in"
          checked={mustChange}
          onChange={(e) => setMustChange(e.currentTarget.checked)}
        />
        <ProblemAlert error={create.error} title="The user was not created" />
        <Group>
          <Button type="submit" loading={create.isPending}>
            Create
          </Button>
          <Button variant="default" onClick={onDone}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

function EditUser({ user, onDone }: { user: User; onDone: () => void }) {
  const client = useQueryClient();
  const [roles, setRoles] = useState<string[]>(user.roles);
  const [password, setPassword] = useState('');
  const [confirmDisable, setConfirmDisable] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const done = () => void client.invalidateQueries({ queryKey: ['users'] });
  const saveRoles = useMutation({
    mutationFn: () =>
      unwrap(
        api.PUT('/api/v1/users/{id}/roles', {
          params: { path: { id: user.id } },
          body: { roles: roles as Role[] },
        }),
      ),
    onSuccess: () => {
      done();
      setNotice('Roles saved.');
    },
  });
  const reset = useMutation({
    mutationFn: async () => {
      const { response, error } = await api.PUT('/api/v1/users/{id}/password', {
        params: { path: { id: user.id } },
        body: { newPassword: password },
      });
      if (!response.ok) await unwrap(Promise.resolve({ error, response }));
    },
    onSuccess: () => {
      setPassword('');
      setNotice(`Password reset: ${user.username} must change it at the next sign-in.`);
    },
  });
  const disable = useMutation({
    mutationFn: async () => {
      const { response, error } = await api.DELETE('/api/v1/users/{id}', {
        params: { path: { id: user.id } },
      });
      if (!response.ok) await unwrap(Promise.resolve({ error, response }));
    },
    onSuccess: () => {
      done();
      onDone();
    },
  });
  return (
    <Card withBorder mb="md" aria-label={`Edit ${user.username}`} component="section">
      <Title order={2} size="h4" mb="sm">
        {user.username}
      </Title>
      <Stack gap="sm">
        <RolesField label={`Roles of ${user.username}`} value={roles} onChange={setRoles} />
        <Group>
          <Button onClick={() => saveRoles.mutate()} loading={saveRoles.isPending}>
            Save roles
          </Button>
        </Group>
        <ProblemAlert error={saveRoles.error} title="The roles were not changed" />
        <Group align="end">
          <PasswordInput
            label="New password"
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
          />
          <Button onClick={() => reset.mutate()} loading={reset.isPending} disabled={!password}>
            Reset password
          </Button>
        </Group>
        <ProblemAlert error={reset.error} title="The password was not reset" />
        {!user.disabledAt && (
          <Group>
            {confirmDisable ? (
              <>
                <Button color="red" onClick={() => disable.mutate()} loading={disable.isPending}>
                  Disable {user.username} now
                </Button>
                <Button variant="default" onClick={() => setConfirmDisable(false)}>
                  Keep
                </Button>
              </>
            ) : (
              <Button color="red" variant="light" onClick={() => setConfirmDisable(true)}>
                Disable user
              </Button>
            )}
          </Group>
        )}
        <ProblemAlert error={disable.error} title="The user was not disabled" />
        {notice && (
          <Text role="status" size="sm">
            {notice}
          </Text>
        )}
        <Group>
          <Button variant="default" onClick={onDone}>
            Close
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

function UsersSection() {
  const { can } = useSession();
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const users = useQuery({
    queryKey: ['users'],
    enabled: can('users:read'),
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/users')),
  });
  if (!can('users:read')) return <NotAllowed permission="users:read" />;
  const edited = users.data?.items.find((u) => u.id === editing);
  return (
    <section aria-labelledby="users-list-title">
      <Group justify="space-between" mb="sm">
        <Title id="users-list-title" order={2} size="h3">
          Accounts
        </Title>
        <PermittedButton permission="users:write" onClick={() => setCreating(true)}>
          Create user
        </PermittedButton>
      </Group>
      {creating && can('users:write') && <CreateUser onDone={() => setCreating(false)} />}
      {edited && can('users:write') && (
        <EditUser key={edited.id} user={edited} onDone={() => setEditing(null)} />
      )}
      <ProblemAlert error={users.error} title="The users could not be read" />
      <Table striped aria-label="Users" data-testid="users-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Username</Table.Th>
            <Table.Th>Roles</Table.Th>
            <Table.Th>Created (UTC)</Table.Th>
            <Table.Th>State</Table.Th>
            <Table.Th>Change</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {users.data?.items.map((user) => (
            <Table.Tr key={user.id}>
              <Table.Td>{user.username}</Table.Td>
              <Table.Td>
                <Group gap={4}>
                  {user.roles.map((role) => (
                    <Badge key={role} variant="light" color="dark">
                      {role}
                    </Badge>
                  ))}
                </Group>
              </Table.Td>
              <Table.Td>{when(user.createdAt)}</Table.Td>
              <Table.Td>
                {user.disabledAt ? `disabled ${when(user.disabledAt)}` : 'active'}
              </Table.Td>
              <Table.Td>
                <PermittedButton
                  permission="users:write"
                  size="xs"
                  variant="default"
                  aria-label={`Edit ${user.username}`}
                  onClick={() => setEditing(user.id)}
                >
                  Edit
                </PermittedButton>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </section>
  );
}

function RoleTable() {
  return (
    <section aria-labelledby="roles-title">
      <Title id="roles-title" order={2} size="h3" mt="xl" mb="sm">
        Roles and what they grant
      </Title>
      <Table aria-label="Roles" data-testid="roles-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Role</Table.Th>
            <Table.Th>Duty</Table.Th>
            <Table.Th>Permissions</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {ROLES.map((role) => (
            <Table.Tr key={role}>
              <Table.Td>
                <Code>{role}</Code>
              </Table.Td>
              <Table.Td>{ROLE_PURPOSE[role]}</Table.Td>
              <Table.Td>
                <Text size="xs">{ROLE_PERMISSIONS[role].join(', ')}</Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </section>
  );
}

/** The signed-in user's own API tokens: any signed-in user may manage their own. */
function TokensSection() {
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [days, setDays] = useState<string | number>(90);
  const [secret, setSecret] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const tokens = useQuery({
    queryKey: ['tokens'],
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/tokens')),
  });
  const create = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/api/v1/tokens', {
          body: { name, ...(typeof days === 'number' ? { expiresInDays: days } : {}) },
        }),
      ),
    onSuccess: (issued) => {
      setSecret(issued.token);
      setName('');
      setDays(90);
      void client.invalidateQueries({ queryKey: ['tokens'] });
    },
  });
  const revoke = useMutation({
    mutationFn: async (id: string) => {
      const { response, error } = await api.DELETE('/api/v1/tokens/{id}', {
        params: { path: { id } },
      });
      if (!response.ok) await unwrap(Promise.resolve({ error, response }));
    },
    onSuccess: () => {
      setConfirming(null);
      void client.invalidateQueries({ queryKey: ['tokens'] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  const apiTokens = tokens.data?.items.filter((t) => t.kind !== 'session') ?? [];
  return (
    <section aria-labelledby="tokens-title">
      <Title id="tokens-title" order={2} size="h3" mt="xl" mb="xs">
        Your API tokens
      </Title>
      <Text size="sm" mb="sm">
        A token acts with your roles, for scripts and the CLI (<Code>Authorization: Bearer …</Code>
        ).
      </Text>
      <Group component="form" onSubmit={submit} align="end" aria-label="New API token" mb="sm">
        <TextInput
          label="Token name"
          required
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
        />
        <NumberInput
          label="Expires in days"
          description="Empty: never (admins only)"
          min={1}
          max={3650}
          allowDecimal={false}
          value={days}
          onChange={setDays}
        />
        <Button type="submit" loading={create.isPending}>
          Create token
        </Button>
      </Group>
      <ProblemAlert error={create.error} title="The token was not created" />
      {secret && (
        <SecretOnce label="Your new API token" secret={secret} onDismiss={() => setSecret(null)} />
      )}
      <ProblemAlert error={tokens.error ?? revoke.error} title="Tokens" />
      <Table striped mt="sm" aria-label="API tokens" data-testid="tokens-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Created (UTC)</Table.Th>
            <Table.Th>Expires (UTC)</Table.Th>
            <Table.Th>State</Table.Th>
            <Table.Th>Revoke</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {apiTokens.map((token) => (
            <Table.Tr key={token.id}>
              <Table.Td>{token.name}</Table.Td>
              <Table.Td>{when(token.createdAt)}</Table.Td>
              <Table.Td>{token.expiresAt ? when(token.expiresAt) : 'never'}</Table.Td>
              <Table.Td>{token.revokedAt ? `revoked ${when(token.revokedAt)}` : 'active'}</Table.Td>
              <Table.Td>
                {!token.revokedAt &&
                  (confirming === token.id ? (
                    <Group gap="xs">
                      <Button
                        size="xs"
                        color="red"
                        loading={revoke.isPending}
                        onClick={() => revoke.mutate(token.id)}
                      >
                        Revoke {token.name} now
                      </Button>
                      <Button size="xs" variant="default" onClick={() => setConfirming(null)}>
                        Keep
                      </Button>
                    </Group>
                  ) : (
                    <Button
                      size="xs"
                      variant="default"
                      aria-label={`Revoke ${token.name}`}
                      onClick={() => setConfirming(token.id)}
                    >
                      Revoke
                    </Button>
                  ))}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {tokens.data && apiTokens.length === 0 && (
        <Text size="sm" mt="xs">
          No API tokens yet.
        </Text>
      )}
    </section>
  );
}

/** Users with their roles, the role table, and the signed-in user's own API tokens. */
export function UsersPage() {
  return (
    <Stack gap={0}>
      <Title order={1} size="h2" mb="md">
        Users
      </Title>
      <UsersSection />
      <RoleTable />
      <TokensSection />
    </Stack>
  );
}
