import { Anchor, Code, Group, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { useSession } from '../auth/session';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';
import { bytes } from './ReleasesPage';

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section aria-label={title}>
      <Title order={2} size="h4" mt="lg" mb="xs">
        {title}
      </Title>
      {children}
    </section>
  );
}

function Rows({ label, rows }: { label: string; rows: [string, ReactNode][] }) {
  return (
    <Table aria-label={label} withTableBorder>
      <Table.Tbody>
        {rows.map(([key, value]) => (
          <Table.Tr key={key}>
            <Table.Th w={220}>{key}</Table.Th>
            <Table.Td>{value}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

/**
 * One release: the manifest (signers by key id, components with digests and sizes, the text),
 * its payloads, the delta bases and patches with the bytes deltas saved, the envelope download.
 */
export function ReleasePage() {
  const { id = '' } = useParams();
  const { can } = useSession();
  const release = useQuery({
    queryKey: ['releases', 'one', id],
    enabled: can('releases:read'),
    queryFn: () => unwrap(api.GET('/api/v1/releases/{id}', { params: { path: { id } } })),
  });
  const deltas = useQuery({
    queryKey: ['releases', 'deltas', id],
    enabled: can('releases:read'),
    queryFn: () => unwrap(api.GET('/api/v1/releases/{id}/deltas', { params: { path: { id } } })),
  });
  const classes = useQuery({
    queryKey: ['device-classes'],
    enabled: can('releases:read'),
    queryFn: () => unwrap(api.GET('/api/v1/device-classes')),
  });
  if (!can('releases:read')) return <NotAllowed permission="releases:read" />;
  if (release.error) return <ProblemAlert error={release.error} title="Release not loaded" />;
  if (!release.data) return <Text>Loading…</Text>;
  const r = release.data;
  const cls = classes.data?.items.find((c) => c.id === r.deviceClassId);
  const text = Object.entries(r.text ?? {});
  const envelopeHref = `/api/v1/releases/${encodeURIComponent(r.id)}/envelope`;
  return (
    <Stack gap={0}>
      <Anchor component={Link} to="/releases" size="sm">
        ← Releases
      </Anchor>
      <Group justify="space-between" mt="xs">
        <Title order={1} size="h2">
          Release {r.version}
        </Title>
        <Anchor href={envelopeHref} download={`${r.version}.suit`}>
          Download the signed envelope ({bytes(r.envelopeSize)})
        </Anchor>
      </Group>
      <Stack gap={0} mt="md">
        <Rows
          label="Release"
          rows={[
            ['Id', <Code key="id">{r.id}</Code>],
            ['Device class', cls?.name ?? r.deviceClassId],
            ['Sequence number', r.sequenceNumber],
            ['Manifest digest (SHA-256)', <Code key="d">{r.manifestDigest}</Code>],
            ['Created', new Date(r.createdAt).toLocaleString()],
            ['Created by', r.createdBy ?? '—'],
          ]}
        />
        <Section title="Signers">
          <Table aria-label="Signers" withTableBorder>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Key id (kid)</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {r.signerKids.map((kid) => (
                <Table.Tr key={kid}>
                  <Table.Td>
                    <Code>{kid}</Code>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Section>
      </Stack>

      <Section title="Components">
        <Table aria-label="Components" withTableBorder>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Component id</Table.Th>
              <Table.Th>Image digest (SHA-256)</Table.Th>
              <Table.Th>Image size</Table.Th>
              <Table.Th>Payload</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {r.components.map((c) => (
              <Table.Tr key={c.id}>
                <Table.Td>
                  <Code>{c.id}</Code>
                </Table.Td>
                <Table.Td>
                  <Code>{c.imageDigest ?? '—'}</Code>
                </Table.Td>
                <Table.Td>{c.imageSize === null ? '—' : `${c.imageSize} B`}</Table.Td>
                <Table.Td>
                  {[c.integrated ? 'integrated' : 'separate', c.encrypted ? 'encrypted' : null]
                    .filter(Boolean)
                    .join(', ')}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Section>

      <Section title="Manifest text">
        {text.length === 0 ? (
          <Text c="dimmed">The manifest has no text.</Text>
        ) : (
          <Rows label="Manifest text" rows={text.map(([k, v]) => [k, v])} />
        )}
      </Section>

      <Section title="Payloads">
        {r.payloads.length === 0 ? (
          <Text c="dimmed">No payloads stored (integrated or fetched elsewhere).</Text>
        ) : (
          <Table aria-label="Payloads" withTableBorder>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Component id</Table.Th>
                <Table.Th>File name</Table.Th>
                <Table.Th>SHA-256</Table.Th>
                <Table.Th>Size</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {r.payloads.map((p) => (
                <Table.Tr key={p.componentId}>
                  <Table.Td>
                    <Code>{p.componentId}</Code>
                  </Table.Td>
                  <Table.Td>{p.fileName ?? <Text c="dimmed">none</Text>}</Table.Td>
                  <Table.Td>
                    <Code>{p.sha256}</Code>
                  </Table.Td>
                  <Table.Td>
                    {bytes(p.size)} ({p.size} B)
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Section>

      <Section title="Deltas">
        <ProblemAlert error={deltas.error} title="Deltas not loaded" />
        <Text data-testid="delta-savings">
          {r.deltaDeliveries} delta deliveries saved {bytes(r.deltaBytesSaved)} ({r.deltaBytesSaved}{' '}
          B).
        </Text>
        {deltas.data && (
          <>
            <Text size="sm" mt="xs">
              Bases:{' '}
              {deltas.data.baseReleaseIds.length === 0 && !deltas.data.anyInstalled
                ? 'none'
                : [
                    ...deltas.data.baseReleaseIds.map((b) => b),
                    ...(deltas.data.anyInstalled ? ['any installed image'] : []),
                  ].join(', ')}
            </Text>
            {deltas.data.patches.length > 0 && (
              <Table aria-label="Delta patches" withTableBorder mt="xs">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Base digest</Table.Th>
                    <Table.Th>State</Table.Th>
                    <Table.Th>Patch size</Table.Th>
                    <Table.Th>Full size</Table.Th>
                    <Table.Th>Saved per delivery</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {deltas.data.patches.map((p) => (
                    <Table.Tr key={`${p.baseDigest}-${p.targetDigest}`}>
                      <Table.Td>
                        <Code>{p.baseDigest.slice(0, 16)}…</Code>
                      </Table.Td>
                      <Table.Td>
                        {p.state}
                        {p.errorCode ? ` (${p.errorCode})` : ''}
                      </Table.Td>
                      <Table.Td>{p.patchSize === null ? '—' : bytes(p.patchSize)}</Table.Td>
                      <Table.Td>{bytes(p.targetSize)}</Table.Td>
                      <Table.Td>
                        {p.patchSize === null
                          ? '—'
                          : bytes(Math.max(0, p.targetSize - p.patchSize))}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
          </>
        )}
      </Section>
    </Stack>
  );
}
