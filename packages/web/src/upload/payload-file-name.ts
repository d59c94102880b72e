/**
 * The file name the service keeps for a payload (the hawkBit and Mender APIs offer artifacts by
 * it), from a browser `File.name`: characters outside `[A-Za-z0-9._-]` replaced by `_`, no
 * leading `.` or `-`, at most 128 characters, `payload.bin` when nothing is left. The same rule
 * as the CLI's `payloadFileName` (packages/cli/src/commands/release-upload.ts); the result
 * matches the release API's pattern `^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`.
 */
export function payloadFileName(name: string): string {
  // Browsers give the base name only; a path (some test tools, old Edge) keeps its last segment.
  const base = name.split(/[\\/]/).pop() ?? '';
  const safe = base
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return safe === '' ? 'payload.bin' : safe;
}
