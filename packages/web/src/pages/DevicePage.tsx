import { Anchor, Button, Group, Stack, Table, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Fragment, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { useSession } from '../auth/session';
import { ActionReports } from '../components/ActionReports';
import { PermittedButton } from '../components/Allowed';
import { CertificateTable } from '../components/CertificateTable';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';
import { UpdateTimeline } from '../components/UpdateTimeline';

function Pairs({ label, values }: { label: string; values: Record<string, unknown> }) {
  const entries = Object.entries(values);
  return (
    <section aria-label={label}>
      <Title order={2} size="h4" mt="lg" mb="xs">
        {label}
      </Title>
      {entries.length === 0 ? (
        <Text c="dimmed">None.</Text>
      ) : (
        <Table aria-label={label} withTableBorder>
          <Table.Tbody>
            {entries.map(([key, value]) => (
              <Table.Tr key={key}>
                <Table.Th w={240}>{key}</Table.Th>
                <Table.Td>{JSON.stringify(value)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </section>
  );
}

/** The device's certificates (newest first), with `pki:read`. */
function DeviceCertificates({ deviceId }: { deviceId: string }) {
  const { can } = useSession();
  const certificates = useQuery({
    queryKey: ['pki', 'certificates', 'device', deviceId],
    enabled: can('pki:read'),
    retry: false,
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/pki/certificates', {
          params: { query: { device: deviceId, limit: 20 } },
        }),
      ),
  });
  return (
    <section aria-label="Certificates">
      <Title order={2} size="h4" mt="lg" mb="xs">
        Certificates
      </Title>
      {!can('pki:read') ? (
        <Text c="dimmed">
          Your roles do not grant <code>pki:read</code>; the certificates are not shown.
        </Text>
      ) : certificates.error ? (
        <ProblemAlert error={certificates.error} title="Certificates not loaded" />
      ) : !certificates.data ? (
        <Text>Loading…</Text>
      ) : certificates.data.items.length === 0 ? (
        <Text c="dimmed">
          No certificate issued (the device uses a bearer token or has not enrolled).
        </Text>
      ) : (
        <CertificateTable label="Device certificates" items={certificates.data.items} />
      )}
    </section>
  );
}

/**
 * One device: attributes, installed components, certificates, a timeline of its updates, the
 * action history, decommission.
 */
export function DevicePage() {
  const { id = '' } = useParams();
  const { can } = useSession();
  const client = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const device = useQuery({
    queryKey: ['devices', 'one', id],
    enabled: can('devices:read'),
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/devices/{id}', { params: { path: { id } } })),
  });
  const decommission = useMutation({
    mutationFn: () =>
      unwrap(api.POST('/api/v1/devices/{id}/decommission', { params: { path: { id } } })),
    onSuccess: async () => {
      setConfirming(false);
      await client.invalidateQueries({ queryKey: ['devices'] });
    },
  });
  if (!can('devices:read')) return <NotAllowed permission="devices:read" />;
  if (device.error) return <ProblemAlert error={device.error} title="Device not loaded" />;
  if (!device.data) return <Text>Loading…</Text>;
  const d = device.data;
  return (
    <Stack gap={0}>
      <Anchor component={Link} to="/devices" size="sm">
        ← Devices
      </Anchor>
      <Group justify="space-between" mt="xs">
        <Title order={1} size="h2">
          {d.name}
        </Title>
        {!d.decommissionedAt && (
          <PermittedButton
            permission="devices:write"
            color="red"
            variant="outline"
            onClick={() => setConfirming(true)}
          >
            Decommission
          </PermittedButton>
        )}
      </Group>
      <Text size="sm" c="dimmed">
        {d.id} · class {d.deviceClassId} · tags {d.tags.join(', ') || 'none'} · last seen{' '}
        {d.lastSeenAt ?? 'never'}
        {d.decommissionedAt && ` · decommissioned ${d.decommissionedAt}`}
      </Text>
      <Pairs label="Reported attributes" values={d.attributes.reported} />
      <Pairs label="Custom attributes" values={d.attributes.custom} />
      <section aria-label="Components">
        <Title order={2} size="h4" mt="lg" mb="xs">
          Components
        </Title>
        {d.components.length === 0 ? (
          <Text c="dimmed">None reported yet.</Text>
        ) : (
          <Table aria-label="Components" withTableBorder>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Component</Table.Th>
                <Table.Th>Version</Table.Th>
                <Table.Th>Sequence</Table.Th>
                <Table.Th>Digest</Table.Th>
                <Table.Th>Updated</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {d.components.map((c) => (
                <Table.Tr key={c.id}>
                  <Table.Td>{c.id}</Table.Td>
                  <Table.Td>{c.version ?? '—'}</Table.Td>
                  <Table.Td>{c.sequenceNumber ?? '—'}</Table.Td>
                  <Table.Td>
                    <code>{c.digest ? `${c.digest.slice(0, 16)}…` : '—'}</code>
                  </Table.Td>
                  <Table.Td>{c.updatedAt}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </section>
      <DeviceCertificates deviceId={d.id} />
      {d.actions !== undefined && d.actions.length > 0 && (
        <section aria-label="Updates">
          <Title order={2} size="h4" mt="lg" mb="xs">
            Updates
          </Title>
          <UpdateTimeline actions={d.actions} />
        </section>
      )}
      <section aria-label="Action history">
        <Title order={2} size="h4" mt="lg" mb="xs">
          Action history
        </Title>
        {d.actions === undefined ? (
          <Text c="dimmed">
            Your roles do not grant <code>actions:read</code>; the history is not shown.
          </Text>
        ) : d.actions.length === 0 ? (
          <Text c="dimmed">No actions yet.</Text>
        ) : (
          <Table aria-label="Action history" withTableBorder>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Created</Table.Th>
                <Table.Th>Release</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Reports</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {d.actions.map((a) => (
                <Fragment key={a.id}>
                  <Table.Tr>
                    <Table.Td>{a.createdAt}</Table.Td>
                    <Table.Td>{a.releaseId}</Table.Td>
                    <Table.Td>{a.type}</Table.Td>
                    <Table.Td>
                      {a.state}
                      {a.cancelRequested && ' (cancel requested)'}
                    </Table.Td>
                    <Table.Td>
                      <Button
                        size="compact-xs"
                        variant="subtle"
                        aria-expanded={open === a.id}
                        onClick={() => setOpen(open === a.id ? null : a.id)}
                      >
                        {open === a.id ? 'Hide reports' : 'Show reports'}
                      </Button>
                    </Table.Td>
                  </Table.Tr>
                  {open === a.id && (
                    <Table.Tr>
                      <Table.Td colSpan={5}>
                        <ActionReports actionId={a.id} />
                      </Table.Td>
                    </Table.Tr>
                  )}
                </Fragment>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </section>
      <ConfirmDialog
        opened={confirming}
        onClose={() => setConfirming(false)}
        title="Decommission device"
        error={decommission.error}
        errorTitle="Not decommissioned"
        confirm="Decommission"
        pending={decommission.isPending}
        onConfirm={() => decommission.mutate()}
      >
        <Text>
          Decommissioning {d.name} revokes its credentials; its history is kept. This cannot be
          undone.
        </Text>
      </ConfirmDialog>
    </Stack>
  );
}
