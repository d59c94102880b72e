import { BugError } from '@updraft/core';
import { describe, expect, it } from 'vitest';
import type { CommandSpec } from './command-spec.js';
import { CliError } from './errors.js';
import { EXIT_CODES } from './exit-codes.js';
import { runCli } from './run-cli.js';
import { captureIo } from './testing/capture-io.js';

// A small table of fake commands, so the framework is tested apart from the real commands.
const seen: Array<Record<string, unknown>> = [];
const TABLE: CommandSpec[] = [
  {
    path: ['demo', 'echo'],
    summary: 'echo arguments',
    arguments: [
      { name: 'first', description: 'first' },
      { name: 'rest', description: 'rest', required: false, variadic: true },
    ],
    options: [
      { name: 'out', short: 'o', value: 'file', description: 'output', required: true },
      { name: 'trust', value: 'pub', description: 'repeatable', repeatable: true },
      { name: 'alg', value: 'alg', description: 'alg', choices: ['es256', 'ed25519'] },
      { name: 'installed-seq', value: 'n', description: 'number' },
      { name: 'server', value: 'url', description: 'server', env: 'UPDRAFT_SERVER' },
      { name: 'force', description: 'flag' },
    ],
    load: async () => ({
      async run(ctx, args) {
        const values = {
          first: args.requiredString('first'),
          rest: args.strings('rest'),
          out: args.string('out'),
          trust: args.strings('trust'),
          alg: args.choice('alg', ['es256', 'ed25519'] as const),
          seq: args.integer('installed-seq'),
          server: args.string('server'),
          force: args.flag('force'),
        };
        seen.push(values);
        ctx.result(values, `echo ${values.first}`);
        return EXIT_CODES.ok;
      },
    }),
  },
  {
    path: ['demo', 'fail'],
    summary: 'fail in various ways',
    arguments: [{ name: 'how', description: 'typed|bug|plain|enoent|problems' }],
    load: async () => ({
      async run(_ctx, args) {
        const how = args.requiredString('how');
        if (how === 'typed') throw new CliError('CLI_SIGNER_FAILED', 'signer exited with 3');
        if (how === 'problems') {
          throw new CliError('CLI_RELEASE_INVALID', 'r.yaml: 2 problems', {
            details: {
              problems: [
                { path: 'version', message: 'is required' },
                { path: 'a.b', message: 'bad\nvalue' },
              ],
            },
          });
        }
        if (how === 'bug') throw new BugError('invariant broken');
        if (how === 'enoent') {
          throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', path: '/x/y' });
        }
        throw new TypeError('cannot read properties of undefined');
      },
    }),
  },
  {
    path: ['demo', 'twice'],
    summary: 'writes two results (a bug)',
    load: async () => ({
      async run(ctx) {
        ctx.result({}, 'one');
        ctx.result({}, 'two');
        return EXIT_CODES.ok;
      },
    }),
  },
];

async function cli(argv: string[], env: Record<string, string> = {}) {
  const io = captureIo('/tmp', { env });
  const code = await runCli(argv, io, TABLE);
  return { code, stdout: io.stdout.text(), stderr: io.stderr.text() };
}

describe('runCli', () => {
  it('parses positionals, repeatable options, choices, integers and flags from the table', async () => {
    const r = await cli([
      'demo',
      'echo',
      'a',
      'b',
      'c',
      '-o',
      'x',
      '--trust',
      'k1',
      '--trust',
      'k2',
      '--alg',
      'ed25519',
      '--installed-seq',
      '7',
      '--force',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('echo a\n');
    expect(seen.at(-1)).toEqual({
      first: 'a',
      rest: ['b', 'c'],
      out: 'x',
      trust: ['k1', 'k2'],
      alg: 'ed25519',
      seq: 7,
      server: undefined,
      force: true,
    });
  });

  it('takes an option from the io environment when it is absent', async () => {
    await cli(['demo', 'echo', 'a', '-o', 'x'], { UPDRAFT_SERVER: 'http://h:1' });
    expect(seen.at(-1)?.server).toBe('http://h:1');
    await cli(['demo', 'echo', 'a', '-o', 'x', '--server', 'http://other'], {
      UPDRAFT_SERVER: 'http://h:1',
    });
    expect(seen.at(-1)?.server).toBe('http://other');
  });

  it('prints one JSON document with --json, wherever the flag is', async () => {
    const r = await cli(['--json', 'demo', 'echo', 'a', '-o', 'x']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ first: 'a', out: 'x', force: false });
    const r2 = await cli(['demo', 'echo', 'a', '-o', 'x', '--json']);
    expect(JSON.parse(r2.stdout)).toMatchObject({ first: 'a' });
  });

  it.each([
    [['demo', 'echo', 'a'], /required option '-o, --out <file>' not specified/],
    [['demo', 'echo', '-o', 'x'], /missing required argument 'first'/],
    [['demo', 'echo', 'a', '-o', 'x', '--alg', 'rsa'], /Allowed choices are es256, ed25519/],
    [['demo', 'echo', 'a', '-o', 'x', '--frobnicate'], /unknown option '--frobnicate'/],
    [
      ['demo', 'echo', 'a', '-o', 'x', '--installed-seq', '-1x'],
      /--installed-seq must be an integer/,
    ],
    [['demo', 'ech'], /unknown command 'ech'/],
    [['demo', 'fail', 'typed', 'extra'], /too many arguments/],
  ])('answers bad arguments %j with one usage line and exit 2', async (argv, pattern) => {
    const r = await cli(argv);
    expect(r.code).toBe(EXIT_CODES.usage);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).toMatch(/\[CLI_USAGE\]\n$/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('renders usage errors as JSON with --json', async () => {
    const r = await cli(['demo', 'echo', '--json']);
    expect(r.code).toBe(EXIT_CODES.usage);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'CLI_USAGE', exitCode: 2 } });
  });

  it('prints help with exit 0, and group help or overview with exit 2 when no command is given', async () => {
    const help = await cli(['demo', 'echo', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: updraft demo echo \[options\] <first> \[rest\.\.\.\]/);
    expect(help.stdout).toMatch(/--json/);
    const group = await cli(['demo']);
    expect(group.code).toBe(EXIT_CODES.usage);
    expect(group.stderr).toMatch(/echo \[options\] <first> \[rest\.\.\.\]/);
    const none = await cli([]);
    expect(none.code).toBe(EXIT_CODES.usage);
    expect(none.stderr).toMatch(/Usage: updraft/);
    const version = await cli(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });

  it('prints a JSON usage error when --json is given without a command', async () => {
    for (const argv of [['--json'], ['demo', '--json']]) {
      const r = await cli(argv);
      expect(r.code).toBe(EXIT_CODES.usage);
      expect(JSON.parse(r.stdout)).toMatchObject({
        error: { code: 'CLI_USAGE', message: expect.stringMatching(/missing command/) },
      });
    }
  });

  it('turns a typed error into one line with its code and mapped exit code', async () => {
    const r = await cli(['demo', 'fail', 'typed']);
    expect(r).toEqual({
      code: EXIT_CODES.signer,
      stdout: '',
      stderr: 'updraft: signer exited with 3 [CLI_SIGNER_FAILED]\n',
    });
  });

  it('lists every problem of an invalid input on its own line, and in JSON details', async () => {
    const r = await cli(['demo', 'fail', 'problems']);
    expect(r.code).toBe(EXIT_CODES.input);
    expect(r.stderr).toBe(
      'updraft: r.yaml: 2 problems [CLI_RELEASE_INVALID]\n  - version: is required\n  - a.b: bad value\n',
    );
    const j = await cli(['demo', 'fail', 'problems', '--json']);
    expect(JSON.parse(j.stdout).error.details.problems).toHaveLength(2);
  });

  it('reports an unexpected error in one line without a stack, and the stack only with --debug', async () => {
    for (const how of ['plain', 'bug']) {
      const r = await cli(['demo', 'fail', how]);
      expect(r.code).toBe(EXIT_CODES.failure);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(
        /^updraft: unexpected error: .* \(rerun with --debug for details\)\n$/,
      );
      expect(r.stderr).not.toMatch(/\bat /);
    }
    const d = await cli(['demo', 'fail', 'plain', '--debug']);
    expect(d.stderr).toMatch(/TypeError: cannot read properties of undefined\n\s+at /);
    const j = await cli(['demo', 'fail', 'bug', '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({
      error: { code: 'UNEXPECTED', message: 'invariant broken', exitCode: 1 },
    });
  });

  it('classifies an escaped file-system error as a typed file error', async () => {
    const r = await cli(['demo', 'fail', 'enoent']);
    expect(r).toMatchObject({
      code: EXIT_CODES.input,
      stderr: 'updraft: no such file: /x/y [CLI_FILE_NOT_FOUND]\n',
    });
  });

  it('treats a second result as a bug', async () => {
    const r = await cli(['demo', 'twice']);
    expect(r.code).toBe(EXIT_CODES.failure);
    expect(r.stderr).toMatch(/unexpected error: a command wrote its result twice/);
  });
});
