import type { Kysely } from 'kysely';
import { hashPassword, newPassword } from './auth/secrets.js';
import type { ServerConfig } from './config/config.js';
import type { Database } from './db/database.js';
import { countUsers, createUser } from './features/users/user.repository.js';
import { DEFAULT_TENANT_ID } from './tenants/tenant.repository.js';

/**
 * On first start (no user in the default tenant) creates the admin account. Its password comes
 * from `auth.adminPassword` (UPDRAFT_ADMIN_PASSWORD) or is generated and printed exactly once;
 * it is never logged. Returns true when an admin was created.
 */
export async function bootstrapAdmin(
  db: Kysely<Database>,
  config: ServerConfig,
  now: string,
  print: (line: string) => void,
): Promise<boolean> {
  if ((await countUsers(db, DEFAULT_TENANT_ID)) > 0) return false;
  const given = config.auth.adminPassword;
  const password = given || newPassword();
  const passwordHash = await hashPassword(password);
  try {
    await db.transaction().execute(async (trx) => {
      await createUser(
        trx,
        DEFAULT_TENANT_ID,
        { username: config.auth.adminUsername, passwordHash, roles: ['admin'] },
        now,
      );
    });
  } catch (error) {
    // Another replica created it at the same moment (unique username): nothing to print.
    if ((await countUsers(db, DEFAULT_TENANT_ID)) > 0) return false;
    throw error;
  }
  if (given) {
    print(
      `Updraft: created admin account "${config.auth.adminUsername}" with the password from UPDRAFT_ADMIN_PASSWORD.`,
    );
  } else {
    print(
      `Updraft: created admin account "${config.auth.adminUsername}" with one-time password: ${password}`,
    );
    print(
      'Updraft: this password is shown only now. Log in and create an API token (updraft login).',
    );
  }
  return true;
}
