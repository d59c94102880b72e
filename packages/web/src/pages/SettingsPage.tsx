import {
  Button,
  Card,
  Checkbox,
  Code,
  Group,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, Fragment, useId, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { Permission } from '../auth/permissions';
import { useSession } from '../auth/session';
import { PermittedButton } from '../components/Allowed';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';
import { SecretOnce } from '../components/SecretOnce';

const WEBHOOK_EVENTS = [
  'campaign.state_changed',
  'campaign.phase_advanced',
  'campaign.phase_paused',
  'action.failed',
  'device.registered',
] as const;
type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

function when(value: string | null): string {
  return value ? new Date(value).toLocaleString('en-GB', { timeZone: 'UTC' }) : '—';
}

/** Throws the problem of a bodiless (204/202) answer that failed. */
async function ok(call: Promise<{ error?: unknown; response: Response }>): Promise<void> {
  const { error, response } = await call;
  if (!response.ok) await unwrap(Promise.resolve({ error, response }));
}

/** A tenant switch the roles may not allow: disabled, with the reason beside it. */
function SettingSwitch({
  label,
  description,
  checked,
  permission,
  pending,
  onChange,
}: {
  label: string;
  description: string;
  checked: boolean | undefined;
  permission: Permission;
  pending: boolean;
  onChange: (value: boolean) => void;
}) {
  const { can } = useSession();
  const reasonId = useId();
  const allowed = can(permission);
  return (
    <Stack gap={4}>
      <Switch
        label={label}
        description={description}
        checked={checked ?? false}
        disabled={!allowed || checked === undefined || pending}
        aria-describedby={allowed ? undefined : reasonId}
        onChange={(e) => onChange(e.currentTarget.checked)}
      />
      {!allowed && (
        <Text id={reasonId} size="xs" c="dimmed">
          Needs <code>{permission}</code>, which your roles do not grant.
        </Text>
      )}
    </Stack>
  );
}

function CampaignSettings() {
  const client = useQueryClient();
  const { can } = useSession();
  const settings = useQuery({
    queryKey: ['campaign-settings'],
    enabled: can('campaigns:read'),
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/campaign-settings')),
  });
  const save = useMutation({
    mutationFn: (approvalRequired: boolean) =>
      unwrap(api.PUT('/api/v1/campaign-settings', { body: { approvalRequired } })),
    onSuccess: (data) => client.setQueryData(['campaign-settings'], data),
  });
  return (
    <Card withBorder component="section" aria-labelledby="campaign-settings-title">
      <Title id="campaign-settings-title" order={2} size="h3" mb="sm">
        Campaigns
      </Title>
      {can('campaigns:read') ? (
        <SettingSwitch
          label="Approval required"
          description="A campaign must be approved by a second person (four eyes) before it starts."
          checked={settings.data?.approvalRequired}
          permission="settings:write"
          pending={save.isPending}
          onChange={(value) => save.mutate(value)}
        />
      ) : (
        <NotAllowed permission="campaigns:read" />
      )}
      <ProblemAlert error={settings.error} title="The campaign settings could not be read" />
      <ProblemAlert error={save.error} title="The campaign settings were not changed" />
    </Card>
  );
}

function PkiSettings() {
  const client = useQueryClient();
  const { can } = useSession();
  const settings = useQuery({
    queryKey: ['pki-settings'],
    enabled: can('pki:read'),
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/pki/settings')),
  });
  const save = useMutation({
    mutationFn: (bearerTokensAllowed: boolean) =>
      unwrap(api.PUT('/api/v1/pki/settings', { body: { bearerTokensAllowed } })),
    onSuccess: (data) => client.setQueryData(['pki-settings'], data),
  });
  return (
    <Card withBorder component="section" aria-labelledby="pki-settings-title">
      <Title id="pki-settings-title" order={2} size="h3" mb="sm">
        Device identity
      </Title>
      {can('pki:read') ? (
        <SettingSwitch
          label="Bearer device tokens allowed"
          description="Off: the device API accepts only client certificates (mTLS)."
          checked={settings.data?.bearerTokensAllowed}
          permission="settings:write"
          pending={save.isPending}
          onChange={(value) => save.mutate(value)}
        />
      ) : (
        <NotAllowed permission="pki:read" />
      )}
      <ProblemAlert error={settings.error} title="The PKI settings could not be read" />
      <ProblemAlert error={save.error} title="The PKI settings were not changed" />
    </Card>
  );
}

function CreateWebhook({ onCreated }: { onCreated: (secret: string) => void }) {
  const client = useQueryClient();
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>([]);
  const create = useMutation({
    mutationFn: () =>
      unwrap(api.POST('/api/v1/webhooks', { body: { url, events: events as WebhookEvent[] } })),
    onSuccess: (created) => {
      setUrl('');
      setEvents([]);
      onCreated(created.secret);
      void client.invalidateQueries({ queryKey: ['webhooks'] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <Card withBorder component="form" onSubmit={submit} aria-label="New webhook" mb="sm">
      <Stack gap="sm">
        <TextInput
          label="Webhook URL"
          placeholder="https://hooks.example.com/updraft"
          required
          value={url}
          onChange={(e) => setUrl(e.currentTarget.value)}
        />
        <Checkbox.Group label="Events" value={events} onChange={setEvents}>
          <Group gap="md" mt={4}>
            {WEBHOOK_EVENTS.map((event) => (
              <Checkbox key={event} value={event} label={event} />
            ))}
          </Group>
        </Checkbox.Group>
        <Text size="xs">The service generates the signing secret and shows it once.</Text>
        <ProblemAlert error={create.error} title="The webhook was not created" />
        <Group>
          <Button type="submit" loading={create.isPending}>
            Create webhook
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

function Deliveries({ id }: { id: string }) {
  const deliveries = useQuery({
    queryKey: ['webhooks', id, 'deliveries'],
    retry: false,
    refetchInterval: 5_000,
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/webhooks/{id}/deliveries', {
          params: { path: { id }, query: { limit: 20 } },
        }),
      ),
  });
  if (deliveries.error) return <ProblemAlert error={deliveries.error} title="Deliveries" />;
  if (!deliveries.data) return <Text size="sm">Loading…</Text>;
  if (deliveries.data.items.length === 0) return <Text size="sm">No deliveries yet.</Text>;
  return (
    <Table aria-label="Recent deliveries" data-testid="deliveries-table">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Event</Table.Th>
          <Table.Th>Occurred (UTC)</Table.Th>
          <Table.Th>State</Table.Th>
          <Table.Th>Attempts</Table.Th>
          <Table.Th>Last attempt</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {deliveries.data.items.map((d) => {
          const last = d.log.at(-1);
          return (
            <Table.Tr key={d.id}>
              <Table.Td>
                <Code>{d.event}</Code>
              </Table.Td>
              <Table.Td>{when(d.occurredAt)}</Table.Td>
              <Table.Td>{d.state}</Table.Td>
              <Table.Td>{d.attempts}</Table.Td>
              <Table.Td>
                {last
                  ? `${last.statusCode ?? last.error ?? 'no answer'} in ${last.durationMs} ms`
                  : d.nextAttemptAt
                    ? `next ${when(d.nextAttemptAt)}`
                    : '—'}
              </Table.Td>
            </Table.Tr>
          );
        })}
      </Table.Tbody>
    </Table>
  );
}

function Webhooks() {
  const client = useQueryClient();
  const { can } = useSession();
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const [shown, setShown] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [queued, setQueued] = useState<string | null>(null);
  const readable = can('webhooks:read');
  const list = useQuery({
    queryKey: ['webhooks'],
    enabled: readable,
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/webhooks')),
  });
  const settings = useQuery({
    queryKey: ['webhook-settings'],
    enabled: readable,
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/webhooks/settings')),
  });
  const saveSettings = useMutation({
    mutationFn: (allowPrivateTargets: boolean) =>
      unwrap(api.PUT('/api/v1/webhooks/settings', { body: { allowPrivateTargets } })),
    onSuccess: (data) => client.setQueryData(['webhook-settings'], data),
  });
  const test = useMutation({
    mutationFn: async (id: string) =>
      unwrap(api.POST('/api/v1/webhooks/{id}/test', { params: { path: { id } } })),
    onSuccess: (_, id) => {
      setQueued(id);
      setShown(id);
      void client.invalidateQueries({ queryKey: ['webhooks', id, 'deliveries'] });
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) =>
      ok(api.DELETE('/api/v1/webhooks/{id}', { params: { path: { id } } })),
    onSuccess: () => {
      setConfirming(null);
      void client.invalidateQueries({ queryKey: ['webhooks'] });
    },
  });
  return (
    <Card withBorder component="section" aria-labelledby="webhooks-title">
      <Group justify="space-between" mb="sm">
        <Title id="webhooks-title" order={2} size="h3">
          Webhooks
        </Title>
        {readable && (
          <PermittedButton permission="webhooks:write" onClick={() => setCreating(!creating)}>
            New webhook
          </PermittedButton>
        )}
      </Group>
      {!readable ? (
        <NotAllowed permission="webhooks:read" />
      ) : (
        <Stack gap="sm">
          <SettingSwitch
            label="Allow private targets"
            description="Webhook URLs may point at loopback, private, link-local or unique-local addresses."
            checked={settings.data?.allowPrivateTargets}
            permission="webhooks:write"
            pending={saveSettings.isPending}
            onChange={(value) => saveSettings.mutate(value)}
          />
          <ProblemAlert error={settings.error ?? saveSettings.error} title="Webhook settings" />
          {creating && can('webhooks:write') && <CreateWebhook onCreated={setSecret} />}
          {secret && (
            <SecretOnce
              label="The webhook's signing secret"
              secret={secret}
              onDismiss={() => setSecret(null)}
            />
          )}
          <ProblemAlert error={list.error} title="The webhooks could not be read" />
          <ProblemAlert error={test.error ?? remove.error} title="The webhook was not changed" />
          {queued && (
            <Text role="status" size="sm">
              Test delivery queued.
            </Text>
          )}
          <Table striped aria-label="Webhooks" data-testid="webhooks-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>URL</Table.Th>
                <Table.Th>Events</Table.Th>
                <Table.Th>Created (UTC)</Table.Th>
                <Table.Th>Deliveries</Table.Th>
                <Table.Th>Change</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.data?.items.map((hook) => (
                <Fragment key={hook.id}>
                  <Table.Tr>
                    <Table.Td>
                      <Code>{hook.url}</Code>
                    </Table.Td>
                    <Table.Td>{hook.events.join(', ')}</Table.Td>
                    <Table.Td>{when(hook.createdAt)}</Table.Td>
                    <Table.Td>
                      <Button
                        size="xs"
                        variant="default"
                        aria-expanded={shown === hook.id}
                        aria-label={`${shown === hook.id ? 'Hide' : 'Show'} deliveries of ${hook.url}`}
                        onClick={() => setShown(shown === hook.id ? null : hook.id)}
                      >
                        {shown === hook.id ? 'Hide' : 'Show'}
                      </Button>
                    </Table.Td>
                    <Table.Td>
                      <Group gap="xs">
                        <PermittedButton
                          permission="webhooks:write"
                          size="xs"
                          variant="default"
                          aria-label={`Send test to ${hook.url}`}
                          onClick={() => test.mutate(hook.id)}
                        >
                          Send test
                        </PermittedButton>
                        {confirming === hook.id ? (
                          <>
                            <Button size="xs" color="red" onClick={() => remove.mutate(hook.id)}>
                              Delete now
                            </Button>
                            <Button size="xs" variant="default" onClick={() => setConfirming(null)}>
                              Keep
                            </Button>
                          </>
                        ) : (
                          can('webhooks:write') && (
                            <Button
                              size="xs"
                              color="red"
                              variant="light"
                              aria-label={`Delete ${hook.url}`}
                              onClick={() => setConfirming(hook.id)}
                            >
                              Delete
                            </Button>
                          )
                        )}
                      </Group>
                    </Table.Td>
                  </Table.Tr>
                  {shown === hook.id && (
                    <Table.Tr>
                      <Table.Td colSpan={5}>
                        <Deliveries id={hook.id} />
                      </Table.Td>
                    </Table.Tr>
                  )}
                </Fragment>
              ))}
            </Table.Tbody>
          </Table>
          {list.data && list.data.items.length === 0 && <Text size="sm">No webhooks.</Text>}
        </Stack>
      )}
    </Card>
  );
}

/** Tenant settings: campaign approval, device bearer tokens, webhooks. */
export function SettingsPage() {
  const { can } = useSession();
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Settings
      </Title>
      {can('settings:read') ? (
        <>
          <CampaignSettings />
          <PkiSettings />
          <Webhooks />
        </>
      ) : (
        <NotAllowed permission="settings:read" />
      )}
    </Stack>
  );
}
