import { Center, Loader } from '@mantine/core';
import { Navigate, type RouteObject, useLocation } from 'react-router';
import { SessionProvider, useMe } from './auth/session';
import { ProblemAlert } from './components/ProblemAlert';
import { Shell } from './components/Shell';
import { ChangePasswordPage } from './pages/ChangePasswordPage';
import { LoginPage } from './pages/LoginPage';

function Loading() {
  return (
    <Center mih="50vh">
      <Loader aria-label="Loading" />
    </Center>
  );
}

/** /login: the form when signed out, else back to where the user was going. */
function LoginRoute() {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <Loading />;
  if (me.data) {
    const next = new URLSearchParams(location.search).get('next');
    return <Navigate to={next?.startsWith('/') ? next : '/'} replace />;
  }
  return <LoginPage />;
}

/** Every other page: signed in, password changed if the service requires it, then the shell. */
function Protected() {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <Loading />;
  if (me.error) return <ProblemAlert error={me.error} />;
  if (!me.data) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  if (me.data.passwordChangeRequired) return <ChangePasswordPage forced />;
  return (
    <SessionProvider me={me.data}>
      <Shell />
    </SessionProvider>
  );
}

/** Issue 12's URL paths; every page is its own lazily loaded chunk. */
export const routes: RouteObject[] = [
  { path: '/login', element: <LoginRoute /> },
  {
    path: '/',
    element: <Protected />,
    children: [
      {
        index: true,
        lazy: async () => ({ Component: (await import('./pages/OverviewPage')).OverviewPage }),
      },
      {
        path: 'devices',
        lazy: async () => ({ Component: (await import('./pages/DevicesPage')).DevicesPage }),
      },
      {
        path: 'devices/:id',
        lazy: async () => ({ Component: (await import('./pages/DevicePage')).DevicePage }),
      },
      {
        path: 'groups',
        lazy: async () => ({ Component: (await import('./pages/GroupsPage')).GroupsPage }),
      },
      {
        path: 'releases',
        lazy: async () => ({ Component: (await import('./pages/ReleasesPage')).ReleasesPage }),
      },
      {
        path: 'releases/:id',
        lazy: async () => ({ Component: (await import('./pages/ReleasePage')).ReleasePage }),
      },
      {
        path: 'campaigns',
        lazy: async () => ({ Component: (await import('./pages/CampaignsPage')).CampaignsPage }),
      },
      {
        path: 'campaigns/new',
        lazy: async () => ({
          Component: (await import('./pages/NewCampaignPage')).NewCampaignPage,
        }),
      },
      {
        path: 'campaigns/:id',
        lazy: async () => ({ Component: (await import('./pages/CampaignPage')).CampaignPage }),
      },
      {
        path: 'certificates',
        lazy: async () => ({
          Component: (await import('./pages/CertificatesPage')).CertificatesPage,
        }),
      },
      {
        path: 'audit',
        lazy: async () => ({ Component: (await import('./pages/AuditPage')).AuditPage }),
      },
      {
        path: 'users',
        lazy: async () => ({ Component: (await import('./pages/UsersPage')).UsersPage }),
      },
      {
        path: 'settings',
        lazy: async () => ({ Component: (await import('./pages/SettingsPage')).SettingsPage }),
      },
      { path: '*', element: <NotFound /> },
    ],
  },
];

function NotFound() {
  return <ProblemAlert error={new Error('No such page.')} title="Not found" />;
}
