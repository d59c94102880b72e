import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, isAccepting } from './ports.js';

/** A CA made by openssl for broker tests, and what it signs. */
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

/** A throwaway CA under a new temp dir (readable by a broker that drops root). */
export async function createOpensslCa(commonName: string): Promise<OpensslCa> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-ca-'));
  await chmod(dir, 0o755);
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    `/CN=${commonName}`,
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
  const issued = new Set<string>();
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
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        subject,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
      ]);
      const ext =
        usage === 'serverAuth'
          ? 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n'
          : 'extendedKeyUsage=clientAuth\n';
      execFileSync('sh', ['-c', `printf '${ext}basicConstraints=CA:FALSE\\n' > ${name}.ext`], {
        cwd: dir,
      });
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
      execFileSync('chmod', ['644', `${name}.key`, `${name}.pem`], { cwd: dir });
      issued.add(name);
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

/** A running mosquitto with the configuration of docs/mqtt.md. */
export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  readonly log: () => string;
  stop(): Promise<void>;
}

/**
 * Starts the real `mosquitto` on a free port with the docs/mqtt.md configuration: TLS 1.3,
 * client certificates required, subject as username, the device ACL patterns, the service user
 * `serviceUser` with readwrite on `updraft/v1/#`, and `crlFile`.
 */
export async function startMosquitto(options: {
  readonly ca: OpensslCa;
  readonly serverCert: { certFile: string; keyFile: string };
  readonly serviceUser: string;
  readonly crlFile: string;
}): Promise<Mosquitto> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-mosquitto-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const acl = path.join(dir, 'updraft.acl');
  await writeFile(
    acl,
    [
      `user ${options.serviceUser}`,
      'topic readwrite updraft/v1/#',
      '',
      'pattern read updraft/v1/%u/notify',
      'pattern read updraft/v1/%u/res',
      'pattern write updraft/v1/%u/req',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      'per_listener_settings false',
      'allow_anonymous false',
      'persistence false',
      `listener ${port} 127.0.0.1`,
      `cafile ${options.ca.certFile}`,
      `certfile ${options.serverCert.certFile}`,
      `keyfile ${options.serverCert.keyFile}`,
      'require_certificate true',
      'use_subject_as_username true',
      'tls_version tlsv1.3',
      `crlfile ${options.crlFile}`,
      `acl_file ${acl}`,
      'log_dest stderr',
      'log_type all',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (d) => (log += String(d)));
  child.stderr?.on('data', (d) => (log += String(d)));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await isAccepting(port)) break;
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`mosquitto did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `mqtts://localhost:${port}`,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
