import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from './exit-codes.js';
import { tempDir } from './testing/capture-io.js';

// Every way a server setting can be wrong, through the real `updraft` process (built dist/):
// one line per problem, exit code 3, never a crash (issue: problems were strings, the renderer
// expected {path, message} and died with a TypeError after printing the message).
const BIN = fileURLToPath(new URL('../bin/updraft.js', import.meta.url));

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeFile(join(dir, 'broken.json'), '{ "port": ');
  await writeFile(join(dir, 'list.json'), '[1, 2]');
  await writeFile(join(dir, 'schema.json'), JSON.stringify({ port: 'eighty', extra: 1 }));
});
afterAll(() => cleanup?.());

async function serverStart(env: Record<string, string>, extra: string[] = []) {
  const { PATH, HOME } = process.env;
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [BIN, 'server', 'start', '--data-dir', join(dir, 'data'), ...extra],
      { cwd: dir, env: { PATH, HOME, UPDRAFT_LOG_LEVEL: 'silent', ...env }, timeout: 60_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const CASES: ReadonlyArray<{
  readonly name: string;
  readonly env?: Record<string, string>;
  readonly args?: string[];
  readonly lines: readonly RegExp[];
}> = [
  {
    name: 'a variable that is not an integer',
    env: { UPDRAFT_PORT: 'eighty' },
    lines: [/^ {2}- UPDRAFT_PORT: must be an integer, got "eighty"$/],
  },
  {
    name: 'a variable that is not a boolean',
    env: { UPDRAFT_RATE_LIMIT_ENABLED: 'maybe' },
    lines: [/^ {2}- UPDRAFT_RATE_LIMIT_ENABLED: must be a boolean/],
  },
  {
    name: 'a value outside the schema',
    env: { UPDRAFT_LOG_LEVEL: 'loud' },
    lines: [/^ {2}- logLevel: /],
  },
  {
    name: 'postgres without a URL',
    env: { UPDRAFT_DATABASE_KIND: 'postgres' },
    lines: [/^ {2}- database\.url: required when database\.kind is postgres/],
  },
  {
    name: 'the old yes/no proxy setting',
    env: { UPDRAFT_TRUST_PROXY: 'true' },
    lines: [/^ {2}- trustProxy: a yes\/no is no longer accepted/],
  },
  {
    name: 'a proxy that is not an address',
    env: { UPDRAFT_TRUST_PROXY: '10.0.0.0/40' },
    lines: [/^ {2}- trustProxy\[0\]: "10\.0\.0\.0\/40" is not an IP address/],
  },
  {
    name: 'a short admin password',
    env: { UPDRAFT_ADMIN_PASSWORD: 'short' },
    lines: [/^ {2}- auth\.adminPassword: must be at least 12 characters/],
  },
  {
    name: 'a config file that does not exist',
    args: ['--config', 'missing.json'],
    lines: [/^ {2}- missing\.json: config file: ENOENT/],
  },
  {
    name: 'a config file that is not JSON',
    args: ['--config', 'broken.json'],
    lines: [/^ {2}- broken\.json: config file: /],
  },
  {
    name: 'a config file that is not an object',
    args: ['--config', 'list.json'],
    lines: [/^ {2}- list\.json: must be an object$/],
  },
  {
    name: 'several problems in a config file at once',
    args: ['--config', 'schema.json'],
    lines: [/^ {2}- port: /, /^ {2}- \(root\): .*extra/],
  },
];

describe('updraft server start with an invalid setting', () => {
  for (const c of CASES) {
    it(`reports ${c.name} as one line per problem, exit 3, no crash`, async () => {
      const r = await serverStart(c.env ?? {}, c.args ?? []);
      expect(r.code, r.stderr).toBe(EXIT_CODES.input);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^updraft: invalid configuration: .* \[CONFIG_INVALID\]$/);
      for (const line of c.lines)
        expect(lines.slice(1)).toContainEqual(expect.stringMatching(line));
      expect(lines).toHaveLength(1 + c.lines.length);
      expect(r.stderr).not.toMatch(/TypeError|unexpected error|at .*\.js:\d+/);
    });
  }
});
