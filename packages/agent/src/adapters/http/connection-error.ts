import { AgentError } from '../../errors.js';

// OpenSSL / node:tls codes meaning the server's certificate or protocol was refused by us.
const TLS_REFUSAL =
  /CERT|ISSUER|SELF_SIGNED|VERIFY|ERR_SSL|ERR_TLS|PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION/;

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
