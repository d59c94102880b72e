import type { KeyObject } from 'node:crypto';
import {
  COSE_ALG,
  createExternalSigner,
  createKeySigner,
  decodeEnvelope,
  isUpdraftError,
  keyId,
  type Signer,
  signEnvelope,
  signingAlgOf,
  verifyEnvelope,
} from '@updraft/core';
import { atomicWrite } from '../atomic-write.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { coseAlgName } from '../cose-names.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readPrivateKey, readPublicKey } from '../key-files.js';
import { readInput } from '../read-input.js';
import { runSignerCommand } from '../signer-command.js';
import { toHex } from '../to-json.js';

const ALG_IDS = {
  es256: COSE_ALG.ES256,
  esp256: COSE_ALG.ESP256,
  ed25519: COSE_ALG.EdDSA,
} as const;

/**
 * `updraft manifest sign <envelope> (--key <private.key> | --signer-command <cmd> --public-key
 * <pub>) [--alg] [--out <file>]`: adds one COSE_Sign1 signature; earlier signatures stay.
 * Offline: it reads and writes files only.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const envelopePath = ctx.path(args.requiredString('envelope'));
  const outPath = ctx.path(args.string('out') ?? args.requiredString('envelope'));
  const keyPath = args.string('key');
  const command = args.string('signer-command');
  if ((keyPath === undefined) === (command === undefined)) {
    throw new CliError(
      'CLI_USAGE',
      'give exactly one of --key <private key> or --signer-command <cmd>',
    );
  }
  const algName = args.choice('alg', ['es256', 'esp256', 'ed25519'] as const);
  const bytes = new Uint8Array(await readInput(envelopePath, 'envelope'));
  // Decode first: a malformed envelope is reported as such before any key or signer is touched.
  const before = decodeEnvelope(bytes).authentication.blocks.length;

  let signer: Signer;
  let publicKey: KeyObject | undefined;
  if (keyPath !== undefined) {
    const key = await readPrivateKey(ctx.path(keyPath), 'signing key');
    const alg = algFor(key, algName, keyPath);
    signer = createKeySigner(key, { alg });
  } else {
    const pubPath = args.string('public-key');
    if (pubPath === undefined) {
      throw new CliError(
        'CLI_USAGE',
        '--signer-command needs --public-key <file> (the kid and a self-check come from it)',
      );
    }
    publicKey = await readPublicKey(ctx.path(pubPath), "signer's public key");
    const alg = algFor(publicKey, algName, pubPath);
    const kid = keyId(publicKey);
    signer = createExternalSigner({
      alg,
      kid,
      sign: (toSign) =>
        runSignerCommand(command!, toSign, { alg, kid, env: ctx.io.env, cwd: ctx.io.cwd }),
    });
  }

  const signed = await signEnvelope(bytes, signer);
  if (publicKey !== undefined) selfCheck(signed, publicKey, signer.kid);
  await atomicWrite(outPath, signed);
  const result = {
    out: outPath,
    alg: coseAlgName(signer.alg),
    kid: toHex(signer.kid),
    signatures: before + 1,
    envelopeSize: signed.length,
  };
  ctx.result(
    result,
    `signed ${outPath} with ${result.alg} kid ${result.kid}\n  signatures now: ${result.signatures}`,
  );
  return EXIT_CODES.ok;
}

function algFor(
  key: KeyObject,
  name: 'es256' | 'esp256' | 'ed25519' | undefined,
  path: string,
): number {
  const family = signingAlgOf(key);
  if (family === undefined) {
    throw new CliError(
      'CLI_KEY_INVALID',
      `invalid key ${path}: signing needs a P-256 or Ed25519 key`,
      { details: { path } },
    );
  }
  if (name === undefined) return family === 'es256' ? COSE_ALG.ES256 : COSE_ALG.EdDSA;
  const fits = family === 'ed25519' ? name === 'ed25519' : name !== 'ed25519';
  if (!fits)
    throw new CliError('CLI_USAGE', `--alg ${name} does not fit the ${family} key ${path}`);
  return ALG_IDS[name];
}

// An external signer is outside our control: its signature must verify with the public key it
// claims before the envelope is written.
function selfCheck(signed: Uint8Array, publicKey: KeyObject, kid: Uint8Array): void {
  try {
    const summary = verifyEnvelope(signed, { keys: [{ key: publicKey }] });
    if (summary.signers.some((s) => toHex(s.kid) === toHex(kid))) return;
  } catch (error) {
    if (!isUpdraftError(error)) throw error;
    throw new CliError(
      'CLI_SIGNER_FAILED',
      `the signer command's signature does not verify with --public-key (${error.code})`,
      {
        cause: error,
      },
    );
  }
  throw new CliError(
    'CLI_SIGNER_FAILED',
    "the signer command's signature does not verify with --public-key",
  );
}
