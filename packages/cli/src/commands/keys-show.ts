import type { KeyObject } from 'node:crypto';
import {
  encodeCoseKey,
  keyId,
  keyObjectToCoseKey,
  publicCoseKey,
  signingAlgOf,
} from '@updraft/core';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readKeyFile } from '../key-files.js';
import { toHex } from '../to-json.js';

/** `updraft keys show <key>`: never prints private or secret key material. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const path = ctx.path(args.requiredString('key'));
  const file = await readKeyFile(path);
  const kid = toHex(keyId(file.key));
  if (file.kind === 'kek') {
    const alg = file.bytes.length === 16 ? 'a128kw' : 'a256kw';
    ctx.result(
      { file: path, type: 'secret', alg, kid },
      `${path}\n  type  secret key-encryption key\n  alg   ${alg}\n  kid   ${kid}`,
    );
    return EXIT_CODES.ok;
  }
  const key = file.key;
  const alg = algName(key);
  const coseKey = toHex(encodeCoseKey(publicCoseKey(keyObjectToCoseKey(key))));
  ctx.result(
    { file: path, type: key.type, alg, kid, coseKey },
    `${path}\n  type      ${key.type}\n  alg       ${alg}\n  kid       ${kid}\n  COSE_Key  ${coseKey} (public part)`,
  );
  return EXIT_CODES.ok;
}

function algName(key: KeyObject): string {
  const signing = signingAlgOf(key);
  if (signing !== undefined) return signing;
  return key.asymmetricKeyType === 'x25519' ? 'x25519' : (key.asymmetricKeyType ?? 'unknown');
}
