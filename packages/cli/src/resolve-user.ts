import type { UserView } from '@updraft/server';
import type { ApiClient } from './api-client.js';
import { CliError } from './errors.js';

/** Finds a user of the caller's tenant by id or username (ids win). */
export async function resolveUser(api: ApiClient, idOrName: string): Promise<UserView> {
  const { items } = await api.json<{ items: UserView[] }>('/api/v1/users');
  const found = items.find((u) => u.id === idOrName) ?? items.find((u) => u.username === idOrName);
  if (found === undefined)
    throw new CliError('CLI_USAGE', `no user with id or name "${idOrName}"`, {
      details: { user: idOrName },
    });
  return found;
}
