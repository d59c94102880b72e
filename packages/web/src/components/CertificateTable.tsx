import { Anchor, Badge, Table, Text } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { api, unwrap } from '../api/client';
import type { paths } from '../api/openapi';
import { PermittedButton } from './Allowed';
import { ConfirmDialog } from './ConfirmDialog';

/** A device certificate as the PKI API answers it. */
export type Certificate =
  paths['/api/v1/pki/certificates']['get']['responses'][200]['content']['application/json']['items'][number];

const STATE_COLOURS: Record<string, string> = {
  active: 'green',
  superseded: 'gray',
  revoked: 'red',
};

function day(value: string): string {
  return value.slice(0, 10);
}

/**
 * Device certificates (serial, subject, validity, state, fingerprint), each active one with a
 * Revoke button (`pki:write`, after a confirmation). Used by the device page and /certificates.
 */
export function CertificateTable({
  label,
  items,
  showDevice = false,
}: {
  label: string;
  items: readonly Certificate[];
  showDevice?: boolean;
}) {
  const client = useQueryClient();
  const [revoking, setRevoking] = useState<Certificate | null>(null);
  const revoke = useMutation({
    mutationFn: (certificate: Certificate) =>
      unwrap(
        api.POST('/api/v1/pki/certificates/{ref}/revoke', {
          params: { path: { ref: certificate.id } },
          body: {},
        }),
      ),
    onSuccess: async () => {
      setRevoking(null);
      await client.invalidateQueries({ queryKey: ['pki'] });
    },
  });
  return (
    <>
      <Table.ScrollContainer minWidth={900}>
        <Table aria-label={label} withTableBorder>
          <Table.Thead>
            <Table.Tr>
              {showDevice && <Table.Th>Device</Table.Th>}
              <Table.Th>Serial</Table.Th>
              <Table.Th>Subject</Table.Th>
              <Table.Th>Not before</Table.Th>
              <Table.Th>Not after</Table.Th>
              <Table.Th>State</Table.Th>
              <Table.Th>Fingerprint (SHA-256)</Table.Th>
              <Table.Th>Revoke</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {items.map((c) => (
              <Table.Tr key={c.id}>
                {showDevice && (
                  <Table.Td>
                    <Anchor component={Link} to={`/devices/${encodeURIComponent(c.deviceId)}`}>
                      {c.deviceId}
                    </Anchor>
                  </Table.Td>
                )}
                <Table.Td>
                  <code>{c.serial}</code>
                </Table.Td>
                <Table.Td>{c.subject}</Table.Td>
                <Table.Td>{day(c.notBefore)}</Table.Td>
                <Table.Td>{day(c.notAfter)}</Table.Td>
                <Table.Td>
                  <Badge color={STATE_COLOURS[c.state] ?? 'gray'} variant="default">
                    {c.state}
                  </Badge>
                  {c.revocationReason && (
                    <Text size="xs" c="dimmed">
                      {c.revocationReason}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>
                  <code title={c.fingerprint}>{`${c.fingerprint.slice(0, 16)}…`}</code>
                </Table.Td>
                <Table.Td>
                  {c.state === 'active' ? (
                    <PermittedButton
                      permission="pki:write"
                      size="compact-sm"
                      color="red"
                      variant="outline"
                      onClick={() => setRevoking(c)}
                    >
                      Revoke
                    </PermittedButton>
                  ) : (
                    '—'
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <ConfirmDialog
        opened={revoking !== null}
        onClose={() => setRevoking(null)}
        title="Revoke certificate"
        error={revoke.error}
        errorTitle="Not revoked"
        confirm="Revoke certificate"
        pending={revoke.isPending}
        onConfirm={() => revoking && revoke.mutate(revoking)}
      >
        <Text>
          Revoking certificate <code>{revoking?.serial}</code> of device {revoking?.deviceId}{' '}
          refuses it at once on the device API, EST and MQTT, and lists it on the CRL. This cannot
          be undone.
        </Text>
      </ConfirmDialog>
    </>
  );
}
