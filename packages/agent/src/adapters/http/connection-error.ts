import { AgentError } from '../../errors.js';

// node:tls / OpenSSL codes of a failed handshake: the server's certificate refused by us, or no
// common protocol version (EPROTO carries OpenSSL's "alert protocol version" on an https socket).
const TLS_REFUSAL = /CERT|ISSUER|SELF_SIGNED|VERIFY|ERR_SSL|ERR_TLS|^EPROTO$/;

/**
 * The typed error for a request that got no answer: `AGENT_TLS_REFUSED` when the TLS handshake
 * failed (the server's chain does not lead to the pinned CA, its name does not match, or it
 * offers nothing at TLS 1.3), else `AGENT_SERVER_UNREACHABLE` (refused, reset, DNS, timeout).
 */
export function connectionError(cause: unknown, url: URL): AgentError {
  const reason = (cause as NodeJS.ErrnoException | null)?.code ?? null;
  if (url.protocol === 'https:' && reason !== null && TLS_REFUSAL.test(reason)) {
    return new AgentError(
      'AGENT_TLS_REFUSED',
      `TLS handshake with ${url.host} refused (${reason})`,
      {
        cause,
        details: { host: url.host, reason },
      },
    );
  }
  return new AgentError('AGENT_SERVER_UNREACHABLE', `update service unreachable at ${url.host}`, {
    cause,
    details: { host: url.host, reason },
  });
}
