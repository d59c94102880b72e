import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** A CA made by openssl for TLS tests (brokers, object stores), and what it signs. */
export interface OpensslCa {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly certificatePem: string;
  /** Signs a new P-256 key for `subject` (`/O=…/CN=…`); returns the file paths. */
  issue(
    name: string,
    subject: string,
    usage: 'clientAuth' | 'serverAuth',
  ): { certFile: string; keyFile: string };
  /** Revokes a certificate this CA issued and writes a PEM CRL; returns its path. */
  revoke(certFile: string): string;
  /** A CRL revoking nothing (mosquitto needs a readable `crlfile`). */
  emptyCrl(): string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** `openssl req` arguments for a new unencrypted P-256 key with `subject`. */
const newP256Key = (subject: string) => [
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-nodes',
  '-subj',
  subject,
];

/** A throwaway CA under a new temp dir (readable by a broker that drops root). */
export async function createOpensslCa(commonName: string): Promise<OpensslCa> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-ca-'));
  await chmod(dir, 0o755);
  openssl(dir, [
    'req',
    '-x509',
    ...newP256Key(`/CN=${commonName}`),
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '3',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await writeFile(path.join(dir, 'index.txt'), '');
  await writeFile(path.join(dir, 'crlnumber'), '01\n');
  await writeFile(
    path.join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'certificate = $dir/ca.pem',
      'private_key = $dir/ca.key',
      'crlnumber = $dir/crlnumber',
      'default_md = sha256',
      'default_crl_days = 1',
      '',
    ].join('\n'),
  );
  const certificatePem = await readFile(path.join(dir, 'ca.pem'), 'utf8');
  const crl = (name: string) => {
    openssl(dir, ['ca', '-config', 'ca.cnf', '-gencrl', '-out', name]);
    return path.join(dir, name);
  };
  return {
    dir,
    certFile: path.join(dir, 'ca.pem'),
    keyFile: path.join(dir, 'ca.key'),
    certificatePem,
    issue(name, subject, usage) {
      openssl(dir, [
        'req',
        ...newP256Key(subject),
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
      ]);
      const ext =
        usage === 'serverAuth'
          ? 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n'
          : 'extendedKeyUsage=clientAuth\n';
      writeFileSync(path.join(dir, `${name}.ext`), `${ext}basicConstraints=CA:FALSE\n`);
      openssl(dir, [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.pem`,
      ]);
      // Readable by a broker that drops root.
      for (const file of [`${name}.key`, `${name}.pem`]) chmodSync(path.join(dir, file), 0o644);
      return { certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}.key`) };
    },
    revoke(certFile) {
      openssl(dir, ['ca', '-config', 'ca.cnf', '-revoke', certFile]);
      return crl('revoked-crl.pem');
    },
    emptyCrl() {
      return crl('empty-crl.pem');
    },
  };
}
