import { UpdraftError } from '@updraft/core';

/** Codes raised by `@updraft/agent`. Keep in sync with docs/errors.md (checked by a test). */
export const AGENT_ERROR_CODES = [
  'AGENT_CONFIG_INVALID',
  'AGENT_JOURNAL_CORRUPT',
  'AGENT_BOOT_STATE_INVALID',
  'AGENT_NETWORK_ERROR',
  'AGENT_SERVER_UNREACHABLE',
  'AGENT_AUTH_REJECTED',
  'AGENT_ROLLBACK_FLOOR_MISSING',
  'AGENT_ROLLBACK_FLOOR_CORRUPT',
  'AGENT_SERVER_ERROR',
  'AGENT_RESPONSE_INVALID',
  'AGENT_ENVELOPE_TOO_LARGE',
  'AGENT_PLAN_MISMATCH',
  'AGENT_COMPONENT_UNKNOWN',
  'AGENT_SLOT_TOO_SMALL',
  'AGENT_DOWNLOAD_STALLED',
  'AGENT_PAYLOAD_TOO_LONG',
  'AGENT_PAYLOAD_TRUNCATED',
  'AGENT_CHUNK_CORRUPT',
  'AGENT_READBACK_MISMATCH',
  'AGENT_HEALTH_CHECK_FAILED',
  'AGENT_BOOT_REVERTED',
  'AGENT_STATE_LOOP',
  'AGENT_INTERNAL_ERROR',
  'AGENT_TLS_REFUSED',
  'AGENT_IDENTITY_CORRUPT',
  'AGENT_ENROLLMENT_REFUSED',
  'AGENT_ENROLLMENT_REJECTED',
  'AGENT_ENROLLMENT_PENDING',
  'AGENT_CERTIFICATE_INVALID',
  'AGENT_BOOT_TOOL_FAILED',
  'AGENT_INSTALLER_FAILED',
] as const;
/** One agent error code. */
export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[number];

/** Runtime guard for {@link AgentErrorCode}. */
export function isAgentErrorCode(value: unknown): value is AgentErrorCode {
  return typeof value === 'string' && (AGENT_ERROR_CODES as readonly string[]).includes(value);
}

/** Error raised by `@updraft/agent`. */
export class AgentError extends UpdraftError<AgentErrorCode> {}
