import { readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { isSessionId } from '../../ports/upload-staging.js';
import type { UploadService } from './upload.service.js';

/**
 * Moves sessions an older version staged in `<dataDir>/uploads/<id>.part` (one local file per
 * session) into the upload staging, so uploads open across the upgrade continue; files that
 * name no session with acknowledged bytes, or one already staged, are deleted. A file that fails
 * to move (the bucket is down) stays for the next start. Returns how many sessions moved.
 */
export async function importLegacyUploads(
  dir: string,
  uploads: UploadService,
  staged: ReadonlySet<string>,
  onError: (error: unknown) => void,
): Promise<number> {
  const names = await readdir(dir).catch(() => undefined);
  if (names === undefined) return 0;
  let moved = 0;
  let kept = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    const id = name.endsWith('.part') ? name.slice(0, -'.part'.length) : '';
    try {
      if (isSessionId(id) && !staged.has(id) && (await uploads.adoptLegacyFile(id, file))) moved++;
      await rm(file, { force: true });
    } catch (error) {
      kept++;
      onError(error);
    }
  }
  if (kept === 0) await rmdir(dir).catch(() => undefined);
  return moved;
}
