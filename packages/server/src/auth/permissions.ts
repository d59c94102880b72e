/** Every permission a management route can require. */
export const PERMISSIONS = [
  'users:read',
  'users:write',
  'classes:read',
  'classes:write',
  'devices:read',
  'devices:write',
  'releases:read',
  'releases:write',
  'actions:read',
  'actions:write',
  'campaigns:read',
  'campaigns:write',
  'campaigns:approve',
  'reports:read',
  'audit:read',
  'metrics:read',
  // Webhook subscriptions, their delivery log and the tenant's webhook settings (admin only).
  'webhooks:read',
  'webhooks:write',
  // Tenant settings (e.g. the campaign approval requirement): admin only, a policy decision.
  'settings:read',
  'settings:write',
  // Device identity (docs/pki.md): the certificate inventory, enrollment tokens, revocation,
  // device admission. Manufacturing CAs, CA import and the PKI settings need settings:write.
  'pki:read',
  'pki:write',
  // Granted to admins; only the installation's admins (default tenant) pass the service's check.
  'tenants:read',
  'tenants:write',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** True when `value` is one of {@link PERMISSIONS}. */
export function isPermission(value: unknown): value is Permission {
  return typeof value === 'string' && (PERMISSIONS as readonly string[]).includes(value);
}

/**
 * What a route declares in `config.permission`: a {@link Permission}, or one of these access
 * kinds: `public` (no credentials), `authenticated` (any signed-in user, e.g. own tokens),
 * `device` (a device credential via the DeviceAuthenticator).
 */
export const ACCESS_KINDS = ['public', 'authenticated', 'device'] as const;
export type AccessKind = (typeof ACCESS_KINDS)[number];
export type RouteAccess = Permission | AccessKind;

/** True when `value` is a valid `config.permission` value. */
export function isRouteAccess(value: unknown): value is RouteAccess {
  return (
    isPermission(value) ||
    (typeof value === 'string' && (ACCESS_KINDS as readonly string[]).includes(value))
  );
}

/** The roles, with separated duties (a role that deploys cannot also approve or audit). */
export const ROLES = [
  'admin',
  'repository-admin',
  'deployment-admin',
  'rollout-admin',
  'approver',
  'support',
  'auditor',
] as const;
export type Role = (typeof ROLES)[number];

/** True when `value` is one of {@link ROLES}. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** THE role → permission table. Every check and the RBAC test read this, nothing else. */
export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  admin: PERMISSIONS,
  'repository-admin': [
    'classes:read',
    'classes:write',
    'releases:read',
    'releases:write',
    'devices:read',
  ],
  'deployment-admin': [
    'devices:read',
    'devices:write',
    'classes:read',
    'releases:read',
    'pki:read',
    'pki:write',
  ],
  'rollout-admin': [
    'actions:read',
    'actions:write',
    'campaigns:read',
    'campaigns:write',
    'devices:read',
    'releases:read',
    'classes:read',
  ],
  approver: [
    'campaigns:read',
    'campaigns:approve',
    'actions:read',
    'releases:read',
    'devices:read',
  ],
  support: [
    'devices:read',
    'actions:read',
    'reports:read',
    'classes:read',
    'releases:read',
    'pki:read',
  ],
  // Sees everything of the tenant and changes nothing (issue 12): every read permission except
  // tenants:read, which spans the installation.
  auditor: PERMISSIONS.filter((p) => p.endsWith(':read') && p !== 'tenants:read'),
};

/** True when any of `roles` grants `permission`. */
export function rolesGrant(roles: readonly Role[], permission: Permission): boolean {
  return roles.some((role) => ROLE_PERMISSIONS[role].includes(permission));
}
