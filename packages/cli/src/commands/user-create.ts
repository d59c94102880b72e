import type { UserView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readSecrets } from '../read-secrets.js';
import { serviceClient } from '../service.js';

/**
 * `updraft user create <username> --role <role>... --password-stdin [--must-change-password]`:
 * creates a user of your tenant with the password read from stdin.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const [password] = await readSecrets(ctx, ['the new user’s password']);
  const user = await api.json<UserView>('/api/v1/users', {
    method: 'POST',
    body: {
      username: args.string('username'),
      password,
      roles: args.strings('role'),
      ...(args.flag('must-change-password') ? { mustChangePassword: true } : {}),
    },
  });
  ctx.result(
    user,
    `created user ${user.username} (${user.id}) with roles ${user.roles.join(', ') || '(none)'}`,
  );
  return EXIT_CODES.ok;
}
