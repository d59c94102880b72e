import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { runCli } from '../run-cli.js';
import { captureIo, run, tempDir } from '../testing/capture-io.js';

const execFileAsync = promisify(execFile);

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

/**
 * Runs `updraft server <argv>` in-process until `stop` aborts; resolves once the service prints
 * the address it listens on (watched on stdout).
 */
async function startWatched(argv: string[]) {
  const stop = new AbortController();
  const io = captureIo(dir, { signal: stop.signal, env: { UPDRAFT_LOG_LEVEL: 'silent' } });
  let onListening: (url: string) => void = () => {};
  const listening = new Promise<string>((resolve) => {
    onListening = resolve;
  });
  const watched = {
    ...io,
    stdout: {
      write(chunk: string) {
        const m = /listening on (https?:\/\/\S+)/.exec(chunk);
        if (m?.[1] !== undefined) onListening(m[1]);
        return io.stdout.write(chunk);
      },
    },
  };
  const exit = runCli(['server', ...argv], watched);
  return { io, stop, exit, url: await listening };
}

describe('server start', () => {
  it('runs the service until the stop signal, answering /healthz meanwhile', async () => {
    const { io, stop, exit, url } = await startWatched([
      'start',
      '--port',
      '0',
      '--data-dir',
      join(dir, 'data'),
    ]);
    expect(url).toMatch(/^http:\/\//);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    stop.abort();
    expect(await exit).toBe(EXIT_CODES.ok);
    // Not a terminal: the generated password went to a 0600 file, and only its path was printed.
    const file = join(dir, 'data', 'initial-admin-password');
    expect(io.stdout.text()).toContain(`one-time password is in ${file}`);
    expect(io.stdout.text()).not.toContain((await readFile(file, 'utf8')).trim());
    expect(io.stdout.text()).toMatch(/Updraft server on http:\/\/\S+ stopped\n/);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('speaks only TLS with --tls: https URL, ca.pem path and fingerprint printed, curl pinning ca.pem gets through', async () => {
    const { io, stop, exit, url } = await startWatched([
      'start',
      '--port',
      '0',
      '--data-dir',
      join(dir, 'data'),
      '--tls',
    ]);
    expect(url).toMatch(/^https:\/\//);
    const caFile = join(dir, 'data', 'pki', 'ca.pem');
    const { stdout } = await execFileAsync('openssl', [
      'x509',
      '-in',
      caFile,
      '-noout',
      '-fingerprint',
      '-sha256',
    ]);
    expect(io.stdout.text()).toContain(
      `CA:      ${caFile}   (SHA-256 fingerprint ${stdout.trim().replace(/^.*=/, '')})`,
    );
    const health = await execFileAsync('curl', ['-sS', '--cacert', caFile, `${url}/healthz`]);
    expect(JSON.parse(health.stdout)).toMatchObject({ status: 'ok' });
    stop.abort();
    expect(await exit).toBe(EXIT_CODES.ok);
  });

  it('refuses to start with a TLS key that does not belong to the certificate (TLS_KEY_MISMATCH, exit 3)', async () => {
    const gen = (name: string) =>
      execFileAsync('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=localhost',
        '-days',
        '1',
        '-keyout',
        join(dir, `${name}.key`),
        '-out',
        join(dir, `${name}.pem`),
      ]);
    await gen('a');
    await gen('b');
    const r = await run(
      dir,
      ['server', 'start', '--port', '0', '--data-dir', join(dir, 'data'), '--tls', '--json'],
      {
        env: {
          UPDRAFT_LOG_LEVEL: 'silent',
          UPDRAFT_TLS_CERT_FILE: join(dir, 'a.pem'),
          UPDRAFT_TLS_KEY_FILE: join(dir, 'b.key'),
        },
      },
    );
    expect(r.code).toBe(EXIT_CODES.input);
    expect(r.json<{ error: { code: string } }>().error.code).toBe('TLS_KEY_MISMATCH');
  });

  it('reports an invalid configuration with every problem and exit 3', async () => {
    await writeFile(join(dir, 'server.json'), JSON.stringify({ port: 'eighty', logLevel: 'loud' }));
    const r = await run(dir, ['server', 'start', '--config', 'server.json', '--json']);
    expect(r.code).toBe(EXIT_CODES.input);
    const { error } = r.json<{ error: { code: string; message: string } }>();
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(/port/);
    expect(error.message).toMatch(/logLevel/);
  });

  it('says in one line that the port is taken, with exit code 9', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const r = await run(
        dir,
        ['server', 'start', '--port', String(port), '--data-dir', join(dir, 'data')],
        { env: { UPDRAFT_LOG_LEVEL: 'silent', UPDRAFT_ADMIN_PASSWORD: 'port-test-password' } },
      );
      expect(r.code).toBe(EXIT_CODES.unavailable);
      expect(r.stderr).toBe(
        `updraft: cannot listen on 127.0.0.1 port ${port}: it is already in use (another server listens there); choose another with --port/--host or UPDRAFT_PORT/UPDRAFT_HOST [LISTEN_ADDRESS_UNAVAILABLE]\n`,
      );
    } finally {
      taken.close();
    }
  });

  it('names the MQTT settings when the embedded broker cannot have its port, and stops the service', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const r = await run(
        dir,
        ['server', 'start', '--port', '0', '--data-dir', join(dir, 'data-mqtt')],
        {
          env: {
            UPDRAFT_LOG_LEVEL: 'silent',
            UPDRAFT_ADMIN_PASSWORD: 'port-test-password',
            UPDRAFT_MQTT_PORT: String(port),
          },
        },
      );
      expect(r.code).toBe(EXIT_CODES.unavailable);
      expect(r.stderr).toBe(
        `updraft: cannot listen on 127.0.0.1 port ${port}: it is already in use (another server listens there); choose another with UPDRAFT_MQTT_PORT/UPDRAFT_MQTT_HOST (the embedded MQTT broker), or UPDRAFT_MQTT_MODE=off [LISTEN_ADDRESS_UNAVAILABLE]\n`,
      );
    } finally {
      taken.close();
    }
  });

  it('rejects a port that is not a number before starting anything', async () => {
    const r = await run(dir, ['server', 'start', '--port', '99999']);
    expect(r.code).toBe(EXIT_CODES.usage);
    expect(r.stderr).toMatch(/--port must be an integer from 0 to 65535 \[CLI_USAGE\]/);
  });
});
