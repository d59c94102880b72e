/**
 * One problem of a validated input (a config file, environment variables, a release
 * description): where it is and what is wrong. Every package reports invalid configuration as
 * `details.problems: InputProblem[]`, and the CLI prints one line per problem.
 *
 * @example
 * const problems: InputProblem[] = [{ path: 'UPDRAFT_PORT', message: 'must be an integer' }];
 */
export interface InputProblem {
  /** Where: a setting path (`rateLimit.windowMs`), a variable (`UPDRAFT_PORT`) or a file. */
  readonly path: string;
  readonly message: string;
}

/** True for an {@link InputProblem}-shaped value. */
export function isInputProblem(value: unknown): value is InputProblem {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { path?: unknown }).path === 'string' &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}
