import type { TenantView, UserView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readSecrets } from '../read-secrets.js';
import { serviceClient } from '../service.js';

/**
 * `updraft tenant create <name> --admin <username> --password-stdin`: a new tenant and its first
 * admin (installation admins only: admins of the default tenant). The admin logs in with
 * `updraft login --tenant <name>` and must change the password first.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const [adminPassword] = await readSecrets(ctx, ['the tenant admin’s first password']);
  const name = args.string('name');
  const created = await api.json<{ tenant: TenantView; admin: UserView }>('/api/v1/tenants', {
    method: 'POST',
    body: { name, adminUsername: args.string('admin'), adminPassword },
  });
  ctx.result(
    created,
    `created tenant ${created.tenant.name} (${created.tenant.id}) with admin ${created.admin.username}\n  they log in with: updraft login --tenant ${created.tenant.name} --username ${created.admin.username} --password-stdin`,
  );
  return EXIT_CODES.ok;
}
