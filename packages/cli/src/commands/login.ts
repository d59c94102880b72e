import { ApiClient } from '../api-client.js';
import { cliConfigPath, readCliConfig, writeCliConfig } from '../cli-config.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readSecrets } from '../read-secrets.js';
import { optionalPath } from '../service.js';

/**
 * `updraft login --server <url> [--tenant <name>] [--username <u>] [--password-stdin] | [--token <api token>]`:
 * logs in (or checks an API token) and stores the server URL and token in the CLI config file
 * (mode 0600). The password comes from stdin or `UPDRAFT_PASSWORD`, never from the command line.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const configPath = cliConfigPath(ctx.io, optionalPath(ctx, args.string('config')));
  const stored = await readCliConfig(configPath);
  const server = args.string('server') ?? stored.server;
  if (server === undefined)
    throw new CliError('CLI_USAGE', 'give --server <url> (e.g. http://127.0.0.1:8080)');
  const givenToken = args.string('token');
  warnIfPlainHttp(ctx, server);

  let token: string;
  let username: string;
  let expiresAt: string | null = null;
  let passwordChangeRequired = false;
  if (givenToken !== undefined) {
    const me = await new ApiClient(server, givenToken).json<{ username: string }>('/api/v1/me');
    token = givenToken;
    username = me.username;
  } else {
    username = args.string('username') ?? ctx.io.env.UPDRAFT_USERNAME ?? 'admin';
    const password = args.flag('password-stdin')
      ? (await readSecrets(ctx, ['the password']))[0]
      : ctx.io.env.UPDRAFT_PASSWORD;
    if (password === undefined || password === '') {
      throw new CliError(
        'CLI_USAGE',
        'give the password on stdin with --password-stdin, or in UPDRAFT_PASSWORD',
      );
    }
    const tenant = args.string('tenant');
    const answer = await new ApiClient(server).json<{
      token: string;
      expiresAt: string;
      passwordChangeRequired?: boolean;
    }>('/api/v1/auth/login', {
      method: 'POST',
      body: { username, password, ...(tenant === undefined ? {} : { tenant }) },
    });
    token = answer.token;
    expiresAt = answer.expiresAt;
    passwordChangeRequired = answer.passwordChangeRequired === true;
  }
  const api = new ApiClient(server);
  await writeCliConfig(configPath, { server: api.baseUrl, token, username });
  const next = passwordChangeRequired
    ? '\n  this password must be changed before anything else: updraft user password --password-stdin (current, then new, one per line)'
    : expiresAt === null
      ? ''
      : '\n  the session expires; for scripts and CI create an API token: updraft token create <name> [--expires-in-days <n>]';
  ctx.result(
    {
      server: api.baseUrl,
      username,
      expiresAt,
      passwordChangeRequired,
      config: configPath,
    },
    `logged in to ${api.baseUrl} as ${username}${expiresAt === null ? '' : ` (session until ${expiresAt})`}\n  token stored in ${configPath} (mode 0600)${next}`,
  );
  return EXIT_CODES.ok;
}

// Credentials over plain HTTP are readable on the network; loopback (the embedded default) is fine.
function warnIfPlainHttp(ctx: CommandContext, server: string): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return; // ApiClient reports the bad URL.
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol === 'http:' && !loopback) {
    ctx.note(
      `updraft: warning: ${url.origin} is plain HTTP: the password and token cross the network unencrypted`,
    );
  }
}
