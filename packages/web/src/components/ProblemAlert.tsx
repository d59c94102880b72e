import { Alert } from '@mantine/core';
import { ApiError } from '../api/client';

/** Any API error in words with its code; other errors with their message. */
export function ProblemAlert({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const problem = error instanceof ApiError ? error.problem : null;
  return (
    <Alert color="red" role="alert" title={title ?? 'Something went wrong'}>
      {problem ? (
        <>
          {problem.detail ?? problem.title} <code>({problem.code})</code>
          {problem.errors?.map((e) => (
            <div key={e.path}>
              {e.path}: {e.message}
            </div>
          ))}
        </>
      ) : (
        String(error instanceof Error ? error.message : error)
      )}
    </Alert>
  );
}
