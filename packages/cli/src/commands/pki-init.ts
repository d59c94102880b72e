import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createIssuingCa,
  createRootCa,
  describeCertificate,
  issueServerCertificate,
  PkiError,
  type PkiKeyPair,
} from '@updraft/server';
import { atomicWrite } from '../atomic-write.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';

const ROOT_DAYS = 7305; // 20 years: the root stays offline and is hard to replace on devices
const ISSUING_DAYS = 1826; // 5 years
const SERVER_DAYS = 397; // the longest TLS clients commonly accept

/** `updraft pki init --out <dir> [--host <name>]… [--tenant <name>]` */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const out = ctx.path(args.requiredString('out'));
  const tenant = args.string('tenant') ?? 'default';
  const hosts = args.strings('host');
  const now = new Date();

  const files = {
    rootKey: join(out, 'root.key'),
    rootCertificate: join(out, 'root.pem'),
    issuingKey: join(out, 'issuing.key'),
    issuingCertificate: join(out, 'issuing.pem'),
    chain: join(out, 'chain.pem'),
    ...(hosts.length > 0
      ? { serverCertificate: join(out, 'server.pem'), serverKey: join(out, 'server.key') }
      : {}),
  };
  // Check every target before writing any: a second run must not leave a half-replaced PKI.
  for (const path of Object.values(files)) {
    if (await exists(path)) {
      throw new CliError('CLI_FILE_EXISTS', `refusing to overwrite ${path}`, { details: { path } });
    }
  }

  let root: PkiKeyPair;
  let issuing: PkiKeyPair;
  let server: PkiKeyPair | undefined;
  try {
    root = await createRootCa({ commonName: 'Updraft root CA', validityDays: ROOT_DAYS, now });
    issuing = await createIssuingCa(root, {
      commonName: `Updraft issuing CA ${tenant}`,
      validityDays: ISSUING_DAYS,
      now,
    });
    if (hosts.length > 0) {
      server = await issueServerCertificate(issuing, { hosts, validityDays: SERVER_DAYS, now });
    }
  } catch (error) {
    if (error instanceof PkiError && error.code === 'PKI_INPUT_INVALID') {
      throw new CliError('CLI_USAGE', error.message, { cause: error });
    }
    throw error;
  }

  await mkdir(out, { recursive: true, mode: 0o700 });
  const write = (path: string, data: string, mode: number) =>
    atomicWrite(path, data, { mode, overwrite: false });
  await write(files.rootKey, root.privateKeyPem, 0o600);
  await write(files.rootCertificate, root.certificatePem, 0o644);
  await write(files.issuingKey, issuing.privateKeyPem, 0o600);
  await write(files.issuingCertificate, issuing.certificatePem, 0o644);
  // What devices and clients pin: the issuing CA and the root above it.
  await write(files.chain, `${issuing.certificatePem}${root.certificatePem}`, 0o644);
  if (
    server !== undefined &&
    files.serverKey !== undefined &&
    files.serverCertificate !== undefined
  ) {
    await write(files.serverKey, server.privateKeyPem, 0o600);
    // Leaf then issuing CA: a TLS server sends both, clients hold the root.
    await write(
      files.serverCertificate,
      `${server.certificatePem}${issuing.certificatePem}`,
      0o644,
    );
  }

  const rootInfo = describeCertificate(root.certificatePem);
  const issuingInfo = describeCertificate(issuing.certificatePem);
  const serverInfo = server === undefined ? undefined : describeCertificate(server.certificatePem);
  ctx.result(
    {
      directory: out,
      tenant,
      files,
      root: rootInfo,
      issuing: issuingInfo,
      ...(serverInfo ? { server: serverInfo } : {}),
    },
    () =>
      [
        `PKI created in ${out}`,
        `  root     ${files.rootCertificate} (key ${files.rootKey}, mode 0600: keep it offline)`,
        `           fingerprint ${rootInfo.fingerprint}, valid until ${rootInfo.notAfter}`,
        `  issuing  ${files.issuingCertificate} (key ${files.issuingKey}) for tenant ${tenant}`,
        `  chain    ${files.chain} (what devices pin)`,
        ...(serverInfo === undefined
          ? []
          : [
              `  server   ${files.serverCertificate} (key ${files.serverKey}) for ${serverInfo.subjectAltNames.join(', ')}`,
            ]),
      ].join('\n'),
  );
  return EXIT_CODES.ok;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
