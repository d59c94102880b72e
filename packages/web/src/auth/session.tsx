import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, type ReactNode, useContext, useMemo } from 'react';
import { ApiError, api, unwrap } from '../api/client';
import { type Permission, permissionsOf } from './permissions';

type MeResponse = Awaited<ReturnType<typeof fetchMe>>;

async function fetchMe() {
  return unwrap(api.GET('/api/v1/me'));
}

export interface Session {
  readonly me: MeResponse;
  readonly can: (permission: Permission) => boolean;
}

const SessionContext = createContext<Session | null>(null);

/** The signed-in user; only inside {@link SessionProvider}'s signed-in branch. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in session');
  return session;
}

export const ME_KEY = ['me'] as const;

/** GET /api/v1/me: the user, or null when signed out (401). */
export function useMe() {
  return useQuery({
    queryKey: ME_KEY,
    queryFn: async () => {
      try {
        return await fetchMe();
      } catch (error) {
        if (error instanceof ApiError && error.problem.status === 401) return null;
        throw error;
      }
    },
    staleTime: 60_000,
  });
}

export function SessionProvider({ me, children }: { me: MeResponse; children: ReactNode }) {
  const value = useMemo<Session>(() => {
    const granted = permissionsOf(me.roles);
    return { me, can: (permission) => granted.has(permission) };
  }, [me]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

/** Signs out on the service, then forgets every cached answer. */
export function useLogout(): () => Promise<void> {
  const client = useQueryClient();
  return async () => {
    await api.POST('/api/v1/auth/logout').catch(() => undefined);
    client.clear();
    client.setQueryData(ME_KEY, null);
  };
}
