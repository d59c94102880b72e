import type { UpdraftFeature } from '../../http/app-types.js';
import { UserService } from './user.service.js';
import { usersRoutes } from './users.routes.js';

/** Login, users, roles, tokens and tenants, mounted at `/api/v1`. */
export const usersFeature: UpdraftFeature = async (app) => {
  const { db, limiter, config } = app.updraft;
  const users = new UserService(
    db,
    limiter,
    { sessionTtlSeconds: config.auth.sessionTtlSeconds },
    () => app.updraft.now(),
  );
  await app.register(usersRoutes, { users });
};
