import { AppShell, Badge, Button, Group, NavLink, Text, Title } from '@mantine/core';
import { Outlet, NavLink as RouterLink, useNavigate } from 'react-router';
import type { Permission } from '../auth/permissions';
import { useLogout, useSession } from '../auth/session';

/** The navigation, each page shown to the roles that may read it. */
const NAV: readonly { to: string; label: string; permission: Permission; end?: boolean }[] = [
  { to: '/', label: 'Overview', permission: 'devices:read', end: true },
  { to: '/devices', label: 'Devices', permission: 'devices:read' },
  { to: '/groups', label: 'Groups', permission: 'devices:read' },
  { to: '/releases', label: 'Releases', permission: 'releases:read' },
  { to: '/campaigns', label: 'Campaigns', permission: 'campaigns:read' },
  { to: '/certificates', label: 'Certificates', permission: 'pki:read' },
  { to: '/audit', label: 'Audit log', permission: 'audit:read' },
  { to: '/users', label: 'Users', permission: 'users:read' },
  { to: '/settings', label: 'Settings', permission: 'settings:read' },
];

/** Navigation, the signed-in user with their roles, and log out around every page. */
export function Shell() {
  const { me, can } = useSession();
  const logout = useLogout();
  const navigate = useNavigate();
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 200, breakpoint: 0 }} padding="md">
      <AppShell.Header px="md">
        <Group h="100%" justify="space-between">
          <Title order={2} size="h4">
            Updraft
          </Title>
          <Group gap="xs">
            <Text size="sm" aria-label="Signed in as">
              {me.username}
            </Text>
            {me.roles.map((role) => (
              <Badge key={role} variant="light" color="dark">
                {role}
              </Badge>
            ))}
            <Button
              variant="default"
              size="xs"
              onClick={async () => {
                await logout();
                navigate('/login');
              }}
            >
              Log out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav" aria-label="Main">
        {NAV.map((item) =>
          can(item.permission) ? (
            <NavLink
              key={item.to}
              component={RouterLink}
              to={item.to}
              end={item.end}
              label={item.label}
            />
          ) : null,
        )}
      </AppShell.Navbar>
      <AppShell.Main>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
