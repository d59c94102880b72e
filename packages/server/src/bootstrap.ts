import path from 'node:path';
import { atomicWriteFile } from '@updraft/core/fs';
import type { Kysely } from 'kysely';
import { hashPassword, newPassword } from './auth/secrets.js';
import type { ServerConfig } from './config/config.js';
import type { Database } from './db/database.js';
import { countUsers, createUser } from './features/users/user.repository.js';
import { DEFAULT_TENANT_ID } from './tenants/tenant.repository.js';

/** Where a generated first password goes when it is not shown on a terminal (in the data dir). */
export const INITIAL_PASSWORD_FILE = 'initial-admin-password';

/** Where the first-start lines go, and whether a person is reading them there. */
export interface BootstrapOutput {
  print(line: string): void;
  /**
   * True when `print` writes to a terminal. Only then is a generated password printed; otherwise
   * (a log collector under systemd or Kubernetes) it goes to a 0600 file and only its path is
   * printed.
   */
  readonly terminal: boolean;
}

/**
 * On first start (no user in the default tenant) creates the admin account. Its password comes
 * from `auth.adminPassword` (UPDRAFT_ADMIN_PASSWORD), or is generated: shown once on a terminal,
 * else written to `<dataDir>/initial-admin-password` (mode 0600); it is never logged. A generated
 * password must be changed at the first login; one the operator chose need not be.
 * Returns true when an admin was created.
 */
export async function bootstrapAdmin(
  db: Kysely<Database>,
  config: ServerConfig,
  now: string,
  out: BootstrapOutput,
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
        {
          username: config.auth.adminUsername,
          passwordHash,
          roles: ['admin'],
          mustChangePassword: !given,
        },
        now,
      );
    });
  } catch (error) {
    // Another replica created it at the same moment (unique username): nothing to print.
    if ((await countUsers(db, DEFAULT_TENANT_ID)) > 0) return false;
    throw error;
  }
  const name = config.auth.adminUsername;
  if (given) {
    out.print(
      `Updraft: created admin account "${name}" with the password from UPDRAFT_ADMIN_PASSWORD.`,
    );
  } else if (out.terminal) {
    out.print(`Updraft: created admin account "${name}" with one-time password: ${password}`);
    out.print(
      'Updraft: this password is shown only now and must be changed at the first login (updraft login, then updraft user password).',
    );
  } else {
    const file = path.join(config.dataDir, INITIAL_PASSWORD_FILE);
    // Whole or not at all, readable by the owner only from its first byte.
    await atomicWriteFile(file, `${password}\n`, { mode: 0o600 });
    out.print(
      `Updraft: created admin account "${name}"; its one-time password is in ${file} (mode 0600). Log in with it, change it (updraft user password), then delete the file.`,
    );
  }
  return true;
}
