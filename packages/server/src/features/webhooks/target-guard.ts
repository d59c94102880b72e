import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { ServerError } from '../../errors.js';

// Loopback, private (RFC 1918), carrier-grade NAT, link-local, unique-local, unspecified and
// IPv4-mapped forms of them: addresses inside the server's own network, refused as webhook
// targets unless the tenant allows them (SSRF).
const PRIVATE = new BlockList();
PRIVATE.addSubnet('0.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4');
PRIVATE.addSubnet('127.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('169.254.0.0', 16, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addAddress('::', 'ipv6');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');
PRIVATE.addSubnet('fe80::', 10, 'ipv6');

/** True when `address` (an IP literal) is loopback, private, link-local or unique-local. */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 4) return PRIVATE.check(bare, 'ipv4');
  if (family !== 6) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped?.[1]) return PRIVATE.check(mapped[1], 'ipv4');
  return PRIVATE.check(bare, 'ipv6');
}

/** Resolves a host name to its addresses (injected in tests; default `dns.lookup`, all). */
export type ResolveHost = (host: string) => Promise<readonly string[]>;

/** `dns.lookup` with `all: true`, as {@link ResolveHost}. */
export const systemResolve: ResolveHost = (host) =>
  new Promise((resolve, reject) =>
    dnsLookup(host, { all: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses.map((a) => a.address)),
    ),
  );

/**
 * Checks a webhook URL when it is created: http(s) only, no credentials in it, and (unless
 * `allowPrivate`) no literal or resolved private address. A host that does not resolve now is
 * accepted: the delivery checks the address it actually connects to (see webhook-transport.ts),
 * which also defeats DNS rebinding.
 */
export async function checkTargetUrl(
  raw: string,
  allowPrivate: boolean,
  resolve: ResolveHost,
): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ServerError('WEBHOOK_URL_INVALID', 'the webhook URL is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ServerError('WEBHOOK_URL_INVALID', `webhook URLs must be http or https`);
  if (url.username !== '' || url.password !== '')
    throw new ServerError('WEBHOOK_URL_INVALID', 'webhook URLs may not carry credentials');
  if (allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: readonly string[] = [host];
  if (isIP(host) === 0) {
    try {
      addresses = await resolve(host);
    } catch {
      addresses = [];
    }
  }
  const inside = addresses.find(isPrivateAddress);
  if (inside !== undefined)
    throw new ServerError(
      'WEBHOOK_TARGET_PRIVATE',
      `${url.hostname} is a loopback, private, link-local or unique-local address (${inside}); the tenant setting webhooks.allowPrivateTargets allows it`,
    );
  return url;
}
