import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type InputProblem, isInputProblem } from '@updraft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerError } from '../errors.js';
import { loadConfig, redactConfig, SETTINGS } from './config.js';

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ServerError && error.code === 'CONFIG_INVALID') {
      const problems = error.details.problems as InputProblem[];
      // One shape for every config problem: the CLI prints `path: message` per item.
      expect(problems.every(isInputProblem)).toBe(true);
      return problems.map((p) => `${p.path}: ${p.message}`);
    }
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-config-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('gives the embedded defaults with paths under the data directory', () => {
    const config = loadConfig({ cwd: dir });
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(8080);
    expect(config.dataDir).toBe(path.join(dir, '.updraft'));
    expect(config.database).toMatchObject({
      kind: 'sqlite',
      sqliteFile: path.join(dir, '.updraft', 'updraft.db'),
    });
    expect(config.blobs.dir).toBe(path.join(dir, '.updraft', 'blobs'));
    expect(config.blobs.masterKeyFile).toBe(path.join(dir, '.updraft', 'master.key'));
  });

  it('layers file < environment < overrides', async () => {
    const file = path.join(dir, 'updraft.json');
    await writeFile(
      file,
      JSON.stringify({ port: 9000, logLevel: 'debug', rateLimit: { perDevice: 7 } }),
    );
    const config = loadConfig({
      cwd: dir,
      env: { UPDRAFT_CONFIG: file, UPDRAFT_PORT: '9100', UPDRAFT_RATE_LIMIT_ENABLED: 'false' },
      overrides: { port: 9200 },
    });
    expect(config.port).toBe(9200);
    expect(config.logLevel).toBe('debug');
    expect(config.rateLimit).toMatchObject({ enabled: false, perDevice: 7, perToken: 1200 });
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(() =>
      loadConfig({
        cwd: dir,
        env: {
          UPDRAFT_PORT: 'eighty',
          UPDRAFT_LOG_LEVEL: 'loud',
          UPDRAFT_DATABASE_KIND: 'postgres',
          UPDRAFT_RATE_LIMIT_ENABLED: 'maybe',
        },
        overrides: { limits: { bodyBytes: 1 }, extra: true } as never,
      }),
    );
    expect(problems.join('\n')).toMatch(/UPDRAFT_PORT: must be an integer/);
    expect(problems.join('\n')).toMatch(/UPDRAFT_RATE_LIMIT_ENABLED: must be a boolean/);
    expect(problems.join('\n')).toMatch(/logLevel/);
    expect(problems.join('\n')).toMatch(/limits\.bodyBytes/);
    expect(problems.join('\n')).toMatch(/extra/);
    expect(problems.join('\n')).toMatch(/database\.url: required/);
    expect(problems.length).toBeGreaterThanOrEqual(6);
  });

  it('reports an unreadable or malformed config file', async () => {
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{ not json');
    expect(problemsOf(() => loadConfig({ cwd: dir, file: bad }))[0]).toMatch(/bad\.json/);
    expect(
      problemsOf(() => loadConfig({ cwd: dir, file: path.join(dir, 'missing.json') }))[0],
    ).toMatch(/missing\.json/);
    await writeFile(bad, '[1,2]');
    expect(problemsOf(() => loadConfig({ cwd: dir, file: bad }))[0]).toMatch(/must be an object/);
  });

  it('takes trusted proxies as a list of addresses and CIDRs, and refuses the old yes/no', () => {
    const config = loadConfig({
      cwd: dir,
      env: { UPDRAFT_TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,::1,loopback' },
    });
    expect(config.trustProxy).toEqual(['10.0.0.5', '10.1.0.0/16', '::1', 'loopback']);
    expect(loadConfig({ cwd: dir }).trustProxy).toEqual([]);
    expect(
      problemsOf(() => loadConfig({ cwd: dir, env: { UPDRAFT_TRUST_PROXY: 'true' } })).join(),
    ).toMatch(/trustProxy: a yes\/no is no longer accepted/);
    expect(
      problemsOf(() => loadConfig({ cwd: dir, overrides: { trustProxy: true } as never })),
    ).toEqual([expect.stringMatching(/^trustProxy: a yes\/no/)]);
    expect(
      problemsOf(() =>
        loadConfig({ cwd: dir, env: { UPDRAFT_TRUST_PROXY: '10.0.0.0/33,proxy.local' } }),
      ),
    ).toEqual([
      expect.stringMatching(/^trustProxy\[0\]: "10.0.0.0\/33" is not/),
      expect.stringMatching(/^trustProxy\[1\]: "proxy.local" is not/),
    ]);
  });

  it('refuses an admin password shorter than any user password may be', () => {
    expect(
      problemsOf(() => loadConfig({ cwd: dir, env: { UPDRAFT_ADMIN_PASSWORD: 'short' } })),
    ).toEqual([expect.stringMatching(/^auth\.adminPassword: must be at least 12 characters/)]);
    expect(
      loadConfig({ cwd: dir, env: { UPDRAFT_ADMIN_PASSWORD: 'twelve-chars' } }).auth.adminPassword,
    ).toBe('twelve-chars');
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({ cwd: dir });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.database)).toBe(true);
    expect(() => {
      (config.database as { kind: string }).kind = 'postgres';
    }).toThrow();
  });

  it('masks secrets when printed', () => {
    const config = loadConfig({
      cwd: dir,
      env: {
        UPDRAFT_ADMIN_PASSWORD: 'hunter2hunter2',
        UPDRAFT_DATABASE_URL: 'postgres://u:pw@h/db',
      },
    });
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).not.toContain('hunter2');
    expect(shown).not.toContain('pw@h');
  });

  it('has one environment variable per setting, all UPDRAFT_*', () => {
    const envs = SETTINGS.map((s) => s.env);
    expect(new Set(envs).size).toBe(envs.length);
    expect(envs.every((e) => /^UPDRAFT_[A-Z][A-Z0-9_]*$/.test(e))).toBe(true);
  });

  it('is documented: docs/configuration.md lists every setting and variable', async () => {
    const doc = await readFile(
      new URL('../../../../docs/configuration.md', import.meta.url),
      'utf8',
    );
    const missing = SETTINGS.filter(
      (s) => !doc.includes(`\`${s.env}\``) || !doc.includes(`\`${s.path}\``),
    ).map((s) => s.env);
    expect(missing).toEqual([]);
  });
});

describe('loadConfig under arbitrary input', () => {
  it('either returns a valid config or throws CONFIG_INVALID, for any environment and file content', async () => {
    const fc = (await import('fast-check')).default;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-config-fuzz-'));
    try {
      const file = path.join(dir, 'c.json');
      const envNames = SETTINGS.map((s) => s.env);
      await fc.assert(
        fc.asyncProperty(
          fc.dictionary(fc.constantFrom(...envNames), fc.string({ maxLength: 20 })),
          fc.oneof(fc.json(), fc.string({ maxLength: 40 })),
          async (env, content) => {
            await writeFile(file, content);
            try {
              const config = loadConfig({ cwd: dir, env: { ...env, UPDRAFT_CONFIG: file } });
              expect(Object.isFrozen(config)).toBe(true);
            } catch (error) {
              expect(error).toBeInstanceOf(ServerError);
              expect((error as ServerError).code).toBe('CONFIG_INVALID');
            }
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
