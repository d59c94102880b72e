/**
 * The few logger methods the agent calls (pino's shape, so a pino logger fits as is).
 * Never passed secrets: the agent logs ids, codes, offsets and sizes only.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}
