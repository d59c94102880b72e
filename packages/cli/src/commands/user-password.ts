import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readSecrets } from '../read-secrets.js';
import { resolveUser } from '../resolve-user.js';
import { seg, serviceClient } from '../service.js';

/**
 * `updraft user password [<user>] --password-stdin`: without a user, changes your own password
 * (stdin: the current one, then the new one, one per line; your other login sessions end). With
 * a user (admins): sets that user's password (stdin: the new one); their tokens are revoked and
 * they must change it at their next login.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const target = args.string('user');
  if (target === undefined) {
    const [currentPassword, newPassword] = await readSecrets(ctx, [
      'the current password',
      'the new password',
    ]);
    const done = await api.json<{ sessionsRevoked: number }>('/api/v1/me/password', {
      method: 'POST',
      body: { currentPassword, newPassword },
    });
    ctx.result(
      { changed: true, ...done },
      `password changed; ${done.sessionsRevoked} other login session(s) ended`,
    );
    return EXIT_CODES.ok;
  }
  const user = await resolveUser(api, target);
  const [newPassword] = await readSecrets(ctx, ['the new password']);
  await api.json(`/api/v1/users/${seg(user.id)}/password`, {
    method: 'PUT',
    body: { newPassword },
  });
  ctx.result(
    { id: user.id, username: user.username, reset: true, mustChangePassword: true },
    `password of ${user.username} set; their tokens are revoked and they must change it at the next login`,
  );
  return EXIT_CODES.ok;
}
