import {
  Button,
  Checkbox,
  Code,
  Group,
  Modal,
  Paper,
  Select,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
  Title,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, unwrap } from '../api/client';
import { useSession } from '../auth/session';
import { PermittedButton } from '../components/Allowed';
import { CertificateTable } from '../components/CertificateTable';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';

const PAGE_SIZE = 50;
const STATES = ['active', 'superseded', 'revoked'] as const;
type State = (typeof STATES)[number];

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <section aria-label={title}>
      <Title order={2} size="h4" mt="xl" mb="xs">
        {title}
      </Title>
      {children}
    </section>
  );
}

function IssuingCa() {
  const ca = useQuery({
    queryKey: ['pki', 'ca'],
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/pki/ca')),
  });
  if (ca.error) return <ProblemAlert error={ca.error} title="CA not loaded" />;
  if (!ca.data) return <Text>Loading…</Text>;
  return (
    <Table aria-label="Issuing CA" withTableBorder>
      <Table.Tbody>
        <Table.Tr>
          <Table.Th w={220}>Subject</Table.Th>
          <Table.Td>{ca.data.subject}</Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th>Fingerprint (SHA-256)</Table.Th>
          <Table.Td>
            <code data-testid="ca-fingerprint">{ca.data.fingerprint}</code>
          </Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th>Not after</Table.Th>
          <Table.Td>{ca.data.notAfter.slice(0, 10)}</Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th>Source</Table.Th>
          <Table.Td>{ca.data.source}</Table.Td>
        </Table.Tr>
      </Table.Tbody>
    </Table>
  );
}

function Inventory() {
  const [state, setState] = useState<State | null>(null);
  const [device, setDevice] = useState('');
  const [debouncedDevice] = useDebouncedValue(device.trim(), 250);
  // Cursor paging: the cursors of the pages before this one.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const list = useQuery({
    queryKey: ['pki', 'certificates', 'list', state, debouncedDevice, cursor],
    placeholderData: keepPreviousData,
    retry: false,
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/pki/certificates', {
          params: {
            query: {
              limit: PAGE_SIZE,
              ...(state ? { state } : {}),
              ...(debouncedDevice ? { device: debouncedDevice } : {}),
              ...(cursor ? { cursor } : {}),
            },
          },
        }),
      ),
  });
  return (
    <Stack gap="xs">
      <Group align="flex-end">
        <Select
          label="State"
          placeholder="Any state"
          clearable
          data={[...STATES]}
          value={state}
          onChange={(value) => {
            setState(value as State | null);
            setCursors([]);
          }}
          w={200}
        />
        <TextInput
          label="Device"
          description="Id or name"
          value={device}
          onChange={(e) => {
            setDevice(e.currentTarget.value);
            setCursors([]);
          }}
          w={260}
        />
      </Group>
      <ProblemAlert error={list.error} title="Certificates not loaded" />
      {list.data &&
        (list.data.items.length === 0 ? (
          <Text c="dimmed">No certificates.</Text>
        ) : (
          <CertificateTable label="Certificates" items={list.data.items} showDevice />
        ))}
      <Group>
        <Button
          variant="default"
          size="compact-sm"
          disabled={cursors.length === 0}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          Previous page
        </Button>
        <Button
          variant="default"
          size="compact-sm"
          disabled={!list.data?.nextCursor}
          onClick={() => list.data?.nextCursor && setCursors([...cursors, list.data.nextCursor])}
        >
          Next page
        </Button>
        <Text size="sm">Page {cursors.length + 1}</Text>
      </Group>
    </Stack>
  );
}

function ExpiryReport() {
  const report = useQuery({
    queryKey: ['pki', 'expiry', 30],
    retry: false,
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/pki/expiry-report', { params: { query: { days: 30, limit: 1000 } } }),
      ),
  });
  if (report.error) return <ProblemAlert error={report.error} title="Expiry report not loaded" />;
  if (!report.data) return <Text>Loading…</Text>;
  if (report.data.items.length === 0)
    return <Text c="dimmed">No active certificate expires in the next 30 days.</Text>;
  return <CertificateTable label="Expiring certificates" items={report.data.items} showDevice />;
}

function EnrollmentTokens() {
  const [device, setDevice] = useState('');
  const [hours, setHours] = useState('24');
  const create = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/api/v1/pki/enrollment-tokens', {
          body: {
            device: device.trim(),
            expiresInSeconds: Math.round(Number(hours) * 3600),
          },
        }),
      ),
  });
  const validHours = Number(hours) * 3600 >= 60 && Number(hours) * 3600 <= 31_536_000;
  return (
    <Stack gap="xs">
      <Text size="sm">
        A one-time token a device sends as the HTTP Basic password of EST <code>simpleenroll</code>{' '}
        (user: its name). The service keeps only its hash, so it is shown once, here, and cannot be
        listed later.
      </Text>
      <Group align="flex-end">
        <TextInput
          label="Device to enroll"
          description="Id or name"
          value={device}
          onChange={(e) => setDevice(e.currentTarget.value)}
          w={260}
        />
        <TextInput
          label="Valid for (hours)"
          type="number"
          min={0.02}
          value={hours}
          onChange={(e) => setHours(e.currentTarget.value)}
          error={validHours ? undefined : 'From one minute to a year'}
          w={160}
        />
        <PermittedButton
          permission="pki:write"
          disabled={device.trim() === '' || !validHours}
          loading={create.isPending}
          onClick={() => create.mutate()}
        >
          Create enrollment token
        </PermittedButton>
      </Group>
      <ProblemAlert error={create.error} title="Token not created" />
      {create.data && (
        <Paper withBorder p="sm" role="status">
          <Text fw={600} size="sm" mb="xs">
            Enrollment token (shown only now)
          </Text>
          <Code block data-testid="enrollment-token">
            {create.data.token}
          </Code>
          <Text size="sm" mt="xs">
            For device {create.data.deviceId}; expires {create.data.expiresAt}.
          </Text>
        </Paper>
      )}
    </Stack>
  );
}

function ImportManufacturingCa({ onClose }: { onClose: () => void }) {
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [deviceClass, setDeviceClass] = useState('');
  const [pem, setPem] = useState('');
  const [autoAccept, setAutoAccept] = useState(false);
  const add = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/api/v1/pki/manufacturing-cas', {
          body: {
            certificatePem: pem,
            deviceClass: deviceClass.trim(),
            autoAccept,
            ...(name.trim() ? { name: name.trim() } : {}),
          },
        }),
      ),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ['pki', 'manufacturing-cas'] });
      onClose();
    },
  });
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        add.mutate();
      }}
    >
      <Stack>
        <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <TextInput
          label="Device class"
          description="Name or id of the class its devices enroll into"
          required
          value={deviceClass}
          onChange={(e) => setDeviceClass(e.currentTarget.value)}
        />
        <Textarea
          label="CA certificate (PEM)"
          required
          rows={6}
          value={pem}
          onChange={(e) => setPem(e.currentTarget.value)}
          styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
        />
        <Checkbox
          label="Accept unknown devices at once (otherwise they wait as pending)"
          checked={autoAccept}
          onChange={(e) => setAutoAccept(e.currentTarget.checked)}
        />
        <ProblemAlert error={add.error} title="CA not registered" />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={add.isPending}>
            Register CA
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function ManufacturingCas() {
  const [importing, setImporting] = useState(false);
  const list = useQuery({
    queryKey: ['pki', 'manufacturing-cas'],
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/pki/manufacturing-cas')),
  });
  return (
    <Stack gap="xs">
      <Group>
        <PermittedButton
          permission="settings:write"
          variant="default"
          onClick={() => setImporting(true)}
        >
          Register a manufacturing CA
        </PermittedButton>
      </Group>
      <ProblemAlert error={list.error} title="Manufacturing CAs not loaded" />
      {list.data &&
        (list.data.items.length === 0 ? (
          <Text c="dimmed">
            None registered: devices enroll with enrollment tokens (or bearer tokens) only.
          </Text>
        ) : (
          <Table aria-label="Manufacturing CAs" withTableBorder>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Subject</Table.Th>
                <Table.Th>Device class</Table.Th>
                <Table.Th>Admission</Table.Th>
                <Table.Th>Not after</Table.Th>
                <Table.Th>Fingerprint</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.data.items.map((ca) => (
                <Table.Tr key={ca.id}>
                  <Table.Td>{ca.name}</Table.Td>
                  <Table.Td>{ca.subject}</Table.Td>
                  <Table.Td>{ca.deviceClassId}</Table.Td>
                  <Table.Td>
                    {ca.autoAccept ? 'accepted at once' : 'pending until accepted'}
                  </Table.Td>
                  <Table.Td>{ca.notAfter.slice(0, 10)}</Table.Td>
                  <Table.Td>
                    <code title={ca.fingerprint}>{`${ca.fingerprint.slice(0, 16)}…`}</code>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        ))}
      <Modal
        opened={importing}
        onClose={() => setImporting(false)}
        title="Register a manufacturing CA"
        size="lg"
      >
        {importing && <ImportManufacturingCa onClose={() => setImporting(false)} />}
      </Modal>
    </Stack>
  );
}

/**
 * The PKI (docs/pki.md): the issuing CA's fingerprint, the certificate inventory (by state and
 * device, paged) with revocation, the 30-day expiry report, enrollment tokens, manufacturing CAs.
 */
export function CertificatesPage() {
  const { can } = useSession();
  if (!can('pki:read')) return <NotAllowed permission="pki:read" />;
  return (
    <Stack gap={0}>
      <Title order={1} size="h2">
        Certificates
      </Title>
      <Section title="Issuing CA">
        <IssuingCa />
      </Section>
      <Section title="Inventory">
        <Inventory />
      </Section>
      <Section title="Expiring within 30 days">
        <ExpiryReport />
      </Section>
      <Section title="Enrollment tokens">
        <EnrollmentTokens />
      </Section>
      <Section title="Manufacturing CAs">
        <ManufacturingCas />
      </Section>
    </Stack>
  );
}
