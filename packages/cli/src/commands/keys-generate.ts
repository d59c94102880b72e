import { createSecretKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { exportPem, generateSigningKeyPair, keyId } from '@updraft/core';
import { atomicWrite } from '../atomic-write.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { toHex } from '../to-json.js';

/** Algorithms `keys generate` accepts: signing (es256, ed25519), device ECDH (x25519), KEKs. */
export const KEY_GENERATE_ALGS = ['es256', 'ed25519', 'x25519', 'a128kw', 'a256kw'] as const;

/** `updraft keys generate --alg <alg> --out <prefix> [--force]` */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const alg = args.choice('alg', KEY_GENERATE_ALGS) ?? 'ed25519';
  const prefix = ctx.path(args.requiredString('out'));
  const overwrite = args.flag('force');

  if (alg === 'a128kw' || alg === 'a256kw') {
    const bytes = randomBytes(alg === 'a128kw' ? 16 : 32);
    const kekPath = `${prefix}.kek`;
    // The one KEK file format (docs/encryption.md, "Key files"): the agent's deviceKeyFile takes
    // this file as is (agent-run.encrypted.test.ts runs the whole path).
    await atomicWrite(kekPath, `${bytes.toString('hex')}\n`, { mode: 0o600, overwrite });
    const kid = toHex(keyId(createSecretKey(bytes)));
    ctx.result(
      { alg, kid, kek: kekPath },
      `${alg} key-encryption key (keep it secret)\n  kek  ${kekPath}\n  kid  ${kid}`,
    );
    return EXIT_CODES.ok;
  }

  const pair =
    alg === 'x25519'
      ? (() => {
          const { privateKey, publicKey } = generateKeyPairSync('x25519');
          return { privateKey, publicKey, kid: keyId(publicKey) };
        })()
      : generateSigningKeyPair(alg);
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  // Private key first: if it exists (and no --force) nothing at all is written.
  await atomicWrite(privatePath, exportPem(pair.privateKey), { mode: 0o600, overwrite });
  await atomicWrite(publicPath, exportPem(pair.publicKey), { mode: 0o644, overwrite });
  const kid = toHex(pair.kid);
  ctx.result(
    { alg, kid, privateKey: privatePath, publicKey: publicPath },
    `${alg} key pair\n  private  ${privatePath} (mode 0600: keep it off the update service)\n  public   ${publicPath}\n  kid      ${kid}`,
  );
  return EXIT_CODES.ok;
}
