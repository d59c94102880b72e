import {
  Button,
  FileInput,
  Group,
  NativeSelect,
  Paper,
  Progress,
  Stack,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useRef, useState } from 'react';
import { api, unwrap } from '../api/client';
import { ProblemAlert } from '../components/ProblemAlert';
import { payloadFileName } from '../upload/payload-file-name';
import { abandonUpload, base64Of, uploadResumable } from '../upload/resumable-upload';

interface FileState {
  readonly sent: number;
  readonly total: number;
  readonly sessionId?: string;
  readonly done?: boolean;
}

const percent = (s: FileState) => (s.total === 0 ? 100 : Math.floor((s.sent / s.total) * 100));
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/**
 * Upload a release as the CLI does: each payload through a resumable upload session (a progress
 * bar per file), then the signed envelope and the session ids with each file's name (sanitised as
 * the CLI does, see payloadFileName) to `POST /api/v1/releases`, which
 * verifies everything before storing anything. A failed upload keeps its sessions: "Resume
 * upload" continues each file from the offset the service acknowledged; "Cancel" abandons them.
 */
export function ReleaseUploadForm({
  onUploaded,
  onClose,
  chunkBytes,
}: {
  onUploaded: (releaseId: string) => void;
  onClose: () => void;
  chunkBytes?: number;
}) {
  const classes = useQuery({
    queryKey: ['device-classes'],
    queryFn: () => unwrap(api.GET('/api/v1/device-classes')),
  });
  const [deviceClassId, setDeviceClassId] = useState<string | null>(null);
  const [version, setVersion] = useState('');
  const [envelope, setEnvelope] = useState<File | null>(null);
  const [payloads, setPayloads] = useState<File[]>([]);
  const [states, setStates] = useState<Record<number, FileState>>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);
  const sessions = useRef<Record<number, FileState>>({});

  const update = (i: number, patch: Partial<FileState>) => {
    sessions.current = {
      ...sessions.current,
      [i]: { ...(sessions.current[i] ?? { sent: 0, total: 0 }), ...patch },
    };
    setStates(sessions.current);
  };

  const reset = () => {
    sessions.current = {};
    setStates({});
  };

  async function start() {
    if (!deviceClassId || !envelope) return;
    setError(null);
    setBusy(true);
    const controller = new AbortController();
    abort.current = controller;
    try {
      const sent: { uploadId: string; fileName: string }[] = [];
      for (const [i, file] of payloads.entries()) {
        const fileName = payloadFileName(file.name);
        const known = sessions.current[i];
        if (known?.done && known.sessionId) {
          sent.push({ uploadId: known.sessionId, fileName });
          continue;
        }
        const id = await uploadResumable(file, {
          signal: controller.signal,
          ...(chunkBytes === undefined ? {} : { chunkBytes }),
          ...(known?.sessionId ? { resumeId: known.sessionId } : {}),
          onSession: (sessionId) => update(i, { sessionId }),
          onProgress: (sent, total) => update(i, { sent, total }),
        });
        update(i, { done: true });
        sent.push({ uploadId: id, fileName });
      }
      const release = await unwrap(
        api.POST('/api/v1/releases', {
          body: {
            deviceClassId,
            envelope: await base64Of(envelope),
            payloads: sent,
            ...(version.trim() === '' ? {} : { version: version.trim() }),
          },
        }),
      );
      onUploaded(release.id);
    } catch (e) {
      if (!controller.signal.aborted) setError(e);
    } finally {
      setBusy(false);
    }
  }

  async function cancel() {
    abort.current?.abort();
    const open = Object.values(sessions.current).flatMap((s) => (s.sessionId ? [s.sessionId] : []));
    reset();
    setError(null);
    await Promise.all(open.map(abandonUpload));
    onClose();
  }

  const started = Object.keys(states).length > 0;
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="upload-release-title">
      <Title order={2} size="h4" id="upload-release-title" mb="sm">
        Upload a release
      </Title>
      <Stack gap="sm" maw={640}>
        <ProblemAlert error={classes.error} title="Device classes not loaded" />
        <NativeSelect
          label="Device class"
          required
          disabled={busy || started}
          data={[
            { value: '', label: 'Choose a device class' },
            ...(classes.data?.items ?? []).map((c) => ({ value: c.id, label: c.name })),
          ]}
          value={deviceClassId ?? ''}
          onChange={(e) => setDeviceClassId(e.currentTarget.value || null)}
        />
        <FileInput
          label="Signed envelope (SUIT)"
          description="The signed manifest envelope, e.g. release.suit"
          required
          clearable
          disabled={busy}
          value={envelope}
          onChange={setEnvelope}
        />
        <FileInput
          label="Payloads"
          description="One file per manifest component; matched by digest"
          multiple
          clearable
          disabled={busy || started}
          value={payloads}
          onChange={setPayloads}
        />
        <TextInput
          label="Version (optional)"
          description="Default: the manifest's component version"
          disabled={busy}
          value={version}
          onChange={(e) => setVersion(e.currentTarget.value)}
        />
        {payloads.map((file, i) => {
          const s = states[i] ?? { sent: 0, total: file.size };
          return (
            <div key={`${file.name}-${file.size}-${file.lastModified}`} data-testid="upload-file">
              <Group justify="space-between">
                <Text size="sm">{file.name}</Text>
                <Text size="sm" c="dimmed" data-testid="upload-bytes">
                  {mib(s.sent)} of {mib(s.total || file.size)} ({percent(s)}%)
                </Text>
              </Group>
              <Progress value={percent(s)} aria-label={`Upload of ${file.name}`} />
            </div>
          );
        })}
        <ProblemAlert error={error} title="Upload failed" />
        <Group>
          <Button
            onClick={() => void start()}
            loading={busy}
            disabled={!deviceClassId || !envelope}
          >
            {error && started ? 'Resume upload' : 'Upload'}
          </Button>
          <Button variant="default" onClick={() => void cancel()}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </Paper>
  );
}
