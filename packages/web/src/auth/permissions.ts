import {
  isRole,
  type Permission,
  ROLE_PERMISSIONS,
  type Role,
} from '../../../server/src/auth/permissions.js';

export { ROLE_PERMISSIONS, ROLES } from '../../../server/src/auth/permissions.js';
export type { Permission, Role };

/** The permissions the user's roles grant (the service's own role table, bundled). */
export function permissionsOf(roles: readonly string[]): ReadonlySet<Permission> {
  const granted = new Set<Permission>();
  for (const role of roles) {
    if (isRole(role)) for (const p of ROLE_PERMISSIONS[role as Role]) granted.add(p);
  }
  return granted;
}
