import { CliError } from './errors.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/**
 * Reads a duration such as `30s`, `10m`, `2h`, `1d` or `1h30m` as whole seconds; anything else is a
 * `CLI_USAGE` error naming the option.
 *
 * @example parseDuration('1h30m', 'window-duration') // 5400
 */
export function parseDuration(text: string, option: string): number {
  const parts = /^(\d{1,6}[smhd])+$/.test(text) ? text.match(/\d+[smhd]/g) : null;
  if (parts === null) {
    throw new CliError(
      'CLI_USAGE',
      `--${option} is a duration such as 30m, 2h or 1h30m (got "${text}")`,
    );
  }
  return parts.reduce(
    (sum, p) => sum + Number(p.slice(0, -1)) * UNIT_SECONDS[p.at(-1) as keyof typeof UNIT_SECONDS],
    0,
  );
}
