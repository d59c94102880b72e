import { createHash } from 'node:crypto';
import { type FileHandle, mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { decodeEnvelope, surveyComponents } from '@updraft/core';
import type { Release, UploadSession } from '@updraft/server';
import type { ApiClient } from '../api-client.js';
import { atomicWrite } from '../atomic-write.js';
import { cliConfigPath } from '../cli-config.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError, ServiceError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { hashFile } from '../hash-file.js';
import { fileError, readInput } from '../read-input.js';
import { optionalPath, resolveClass, seg, serviceClient } from '../service.js';

/** Default chunk size of resumable uploads (the service accepts up to 16 MiB per chunk). */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

interface PayloadArg {
  readonly file: string;
  readonly componentId?: string;
}

/**
 * `updraft release upload <envelope> --class <class> --payload [<component hex>=]<file>...`:
 * uploads each payload through a resumable chunked session (a re-run after an interruption
 * continues where the service's session stopped), then creates the release, which the service
 * verifies (signature against the class's trusted keys, payload digests and sizes).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const envelopePath = ctx.path(args.requiredString('envelope'));
  const chunkMiB = args.integer('chunk-mib', 16) ?? DEFAULT_CHUNK_BYTES / (1024 * 1024);
  if (chunkMiB === 0) throw new CliError('CLI_USAGE', '--chunk-mib must be at least 1');
  const chunkBytes = chunkMiB * 1024 * 1024;
  const payloads = args.strings('payload').map(parsePayloadArg(ctx));
  const envelope = await readInput(envelopePath, 'envelope');
  // Decode locally first: a malformed envelope fails here, before any byte is uploaded.
  const components = surveyComponents(decodeEnvelope(new Uint8Array(envelope)));

  const api = await serviceClient(ctx, args);
  const cls = await resolveClass(api, args.requiredString('class'));
  const configPath = cliConfigPath(ctx.io, optionalPath(ctx, args.string('config')));

  const sent: Array<{ uploadId: string; componentId?: string; fileName: string }> = [];
  const statePaths: string[] = [];
  const report: Array<{
    file: string;
    uploadId: string;
    size: number;
    resumedAt: number;
    componentId: string | null;
  }> = [];
  const taken = new Set<string>();
  for (const payload of payloads) {
    const { sha256, size } = await hashFile(ctx, payload.file, 'payload');
    const componentId = payload.componentId ?? pickEncryptedComponent(components, sha256, taken);
    if (componentId !== undefined) taken.add(componentId);
    const statePath = uploadStatePath(configPath, api.baseUrl, payload.file, size, sha256);
    const { session, resumedAt } = await uploadPayload(
      ctx,
      api,
      payload.file,
      size,
      statePath,
      chunkBytes,
    );
    statePaths.push(statePath);
    sent.push({
      uploadId: session.id,
      ...(componentId === undefined ? {} : { componentId }),
      fileName: payloadFileName(payload.file),
    });
    report.push({
      file: payload.file,
      uploadId: session.id,
      size,
      resumedAt,
      componentId: componentId ?? null,
    });
  }

  const version = args.string('release-version');
  const release = await api.json<Release>('/api/v1/releases', {
    method: 'POST',
    body: {
      deviceClassId: cls.id,
      envelope: envelope.toString('base64'),
      payloads: sent,
      ...(version === undefined ? {} : { version }),
    },
    timeoutMs: 300_000,
  });
  for (const path of statePaths) await rm(path, { force: true });
  ctx.result({ release, uploads: report }, () =>
    [
      `uploaded release ${release.id}: version ${release.version}, sequence number ${release.sequenceNumber}, class ${cls.name}`,
      ...report.map(
        (r) =>
          `  payload ${r.file} (${r.size} bytes)${r.resumedAt > 0 ? `, resumed at byte ${r.resumedAt}` : ''}`,
      ),
      `  signed by ${release.signerKids.join(', ')}`,
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}

function parsePayloadArg(ctx: CommandContext): (value: string) => PayloadArg {
  return (value) => {
    const m = /^([0-9a-f]{2,256})=(.+)$/.exec(value);
    return m === null ? { file: ctx.path(value) } : { componentId: m[1]!, file: ctx.path(m[2]!) };
  };
}

// A payload whose digest matches no plain component is, when exactly one encrypted component is
// still without a payload, that component's ciphertext (its manifest digest is of the plaintext).
function pickEncryptedComponent(
  components: ReturnType<typeof surveyComponents>,
  sha256: Uint8Array,
  taken: ReadonlySet<string>,
): string | undefined {
  const hex = Buffer.from(sha256).toString('hex');
  const plainMatch = components.some(
    (c) => c.imageDigest !== undefined && Buffer.from(c.imageDigest.bytes).toString('hex') === hex,
  );
  if (plainMatch) return undefined;
  const encrypted = components.filter(
    (c) => c.payloads.some((p) => p.encryptionInfo !== undefined) && !taken.has(c.idHex),
  );
  return encrypted.length === 1 ? encrypted[0]!.idHex : undefined;
}

/**
 * Where the upload session of a payload is remembered between runs (beside the CLI config):
 * keyed by server, file, size and digest, so a changed file never resumes an old session.
 */
export function uploadStatePath(
  configPath: string,
  server: string,
  file: string,
  size: number,
  sha256: Uint8Array,
): string {
  const key = createHash('sha256')
    .update(`${server}\n${file}\n${size}\n${Buffer.from(sha256).toString('hex')}`)
    .digest('hex')
    .slice(0, 32);
  return join(dirname(configPath), 'uploads', `${key}.json`);
}

async function uploadPayload(
  ctx: CommandContext,
  api: ApiClient,
  file: string,
  size: number,
  statePath: string,
  chunkBytes: number,
): Promise<{ session: UploadSession; resumedAt: number }> {
  let session: UploadSession | undefined = await resumeSession(api, statePath, size);
  if (session === undefined) {
    session = await api.json<UploadSession>('/api/v1/uploads', { method: 'POST', body: { size } });
    await mkdir(dirname(statePath), { recursive: true, mode: 0o700 });
    await atomicWrite(statePath, JSON.stringify({ uploadId: session.id, file, size }), {
      mode: 0o600,
    });
  }
  const resumedAt = session.offset;
  const progress = ctx.progress(`uploading ${file.split('/').at(-1)}`, size);
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw fileError(error, file, 'payload');
  }
  try {
    const buffer = Buffer.alloc(Math.min(chunkBytes, Math.max(size, 1)));
    let retried = false;
    while (!session.complete && session.offset < size) {
      if (ctx.io.signal?.aborted === true) {
        throw new CliError(
          'CLI_INTERRUPTED',
          `upload interrupted at byte ${session.offset} of ${file}; run the command again to resume`,
          {
            details: { file, offset: session.offset },
          },
        );
      }
      const length = Math.min(buffer.length, size - session.offset);
      const { bytesRead }: { bytesRead: number } = await handle.read(
        buffer,
        0,
        length,
        session.offset,
      );
      if (bytesRead !== length)
        throw new CliError('CLI_FILE_UNREADABLE', `${file} changed during the upload`);
      try {
        session = await api.json<UploadSession>(`/api/v1/uploads/${seg(session.id)}`, {
          method: 'PUT',
          query: { offset: session.offset },
          body: new Uint8Array(buffer.buffer, buffer.byteOffset, length),
          timeoutMs: 300_000,
        });
        retried = false;
      } catch (error) {
        // The service may have stored more than it acknowledged (a lost answer): ask it once.
        if (!(error instanceof ServiceError) || error.code !== 'UPLOAD_OFFSET_MISMATCH' || retried)
          throw error;
        retried = true;
        session = await api.json<UploadSession>(`/api/v1/uploads/${seg(session.id)}`);
      }
      progress.update(session.offset);
    }
  } finally {
    progress.stop();
    await handle.close();
  }
  return { session, resumedAt };
}

async function resumeSession(
  api: ApiClient,
  statePath: string,
  size: number,
): Promise<UploadSession | undefined> {
  let state: { uploadId?: unknown; size?: unknown };
  try {
    state = JSON.parse(await readFile(statePath, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof state.uploadId !== 'string' || state.size !== size) return undefined;
  try {
    const session = await api.json<UploadSession>(`/api/v1/uploads/${seg(state.uploadId)}`);
    return session.size === size ? session : undefined;
  } catch (error) {
    // The session expired or was removed: start over.
    if (error instanceof ServiceError && error.status === 404) return undefined;
    throw error;
  }
}

/**
 * The file name the service keeps for a payload (the hawkBit and Mender APIs offer artifacts by
 * it): the path's last segment with characters outside `[A-Za-z0-9._-]` replaced by `_`.
 */
export function payloadFileName(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? '';
  const safe = base
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return safe === '' ? 'payload.bin' : safe;
}
