import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A signing key and its self-signed certificate (the certificate is also RAUC's keyring). */
export interface RaucSigner {
  readonly cert: string;
  readonly key: string;
}

/** Makes a throwaway signer with openssl (RSA 2048, valid two days). */
export async function createRaucSigner(dir: string, name = 'signer'): Promise<RaucSigner> {
  const cert = join(dir, `${name}.cert.pem`);
  const key = join(dir, `${name}.key.pem`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-subj',
    `/O=Updraft test/CN=${name}`,
    '-days',
    '2',
  ]);
  return { cert, key };
}

/** One raw slot of a test `system.conf`. */
export interface RaucTestSlot {
  /** `rootfs.0`, `rootfs.1`, … (class, a dot, an index). */
  readonly name: string;
  readonly device: string;
  readonly bootname: string;
}

/**
 * Writes a `system.conf` with file-backed raw slots and `bootloader=noop` (RAUC switches nothing;
 * the marks it would set are only logged), a private data directory (RAUC's per-slot status) and
 * mount prefix, and `keyring` as the trust anchor. Returns its path.
 */
export async function writeRaucSystemConf(options: {
  readonly dir: string;
  readonly compatible: string;
  readonly keyring: string;
  readonly slots: readonly RaucTestSlot[];
}): Promise<string> {
  const { dir } = options;
  await mkdir(join(dir, 'rauc-data'), { recursive: true });
  await mkdir(join(dir, 'rauc-mnt'), { recursive: true });
  const slots = options.slots
    .map((s) => `[slot.${s.name}]\ndevice=${s.device}\ntype=raw\nbootname=${s.bootname}\n`)
    .join('\n');
  const conf = join(dir, 'system.conf');
  await writeFile(
    conf,
    `[system]\ncompatible=${options.compatible}\nbootloader=noop\n` +
      `data-directory=${join(dir, 'rauc-data')}\nmountprefix=${join(dir, 'rauc-mnt')}\n\n` +
      `[keyring]\npath=${options.keyring}\n\n${slots}`,
  );
  return conf;
}

/** Builds and signs a bundle (`rauc bundle`, plain format) with one image per slot class. */
export async function createRaucBundle(options: {
  readonly dir: string;
  readonly compatible: string;
  readonly version: string;
  readonly images: readonly { readonly slotClass: string; readonly bytes: Uint8Array }[];
  readonly signer: RaucSigner;
  readonly name?: string;
}): Promise<string> {
  const name = options.name ?? 'update';
  const content = join(options.dir, `${name}-content`);
  await mkdir(content, { recursive: true });
  let manifest =
    `[update]\ncompatible=${options.compatible}\nversion=${options.version}\n\n` +
    // plain: a squashfs with the signature appended, mounted by loop device (no dm-verity needed).
    '[bundle]\nformat=plain\n';
  for (const image of options.images) {
    const filename = `${image.slotClass}.img`;
    await writeFile(join(content, filename), image.bytes);
    manifest += `\n[image.${image.slotClass}]\nfilename=${filename}\n`;
  }
  await writeFile(join(content, 'manifest.raucm'), manifest);
  const bundle = join(options.dir, `${name}.raucb`);
  await run('rauc', [
    'bundle',
    '--cert',
    options.signer.cert,
    '--key',
    options.signer.key,
    content,
    bundle,
  ]);
  return bundle;
}

/** A private D-Bus session with `rauc service` on it. */
export interface RaucSession {
  /** The environment for `rauc` clients (session bus address, `DBUS_STARTER_BUS_TYPE=session`). */
  readonly env: NodeJS.ProcessEnv;
  /** What `rauc service` printed so far (for failure messages). */
  log(): string;
  /** Stops the service and the bus (the two processes this session started). */
  close(): Promise<void>;
}

/**
 * Starts a private `dbus-daemon --session` and `rauc service --conf <conf>` on it, with the
 * booted slot given by `--override-boot-slot` (no kernel command line to read it from), and waits
 * until `rauc status` answers.
 */
export async function startRaucSession(options: {
  readonly conf: string;
  readonly bootSlot: string;
  readonly timeoutMs?: number;
}): Promise<RaucSession> {
  const children: ChildProcess[] = [];
  const close = async () => {
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  };
  try {
    const bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], {
      // Its stderr only says it may not raise the fd limit in a container.
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    children.push(bus);
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      bus.once('error', reject);
      bus.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
      bus.stdout!.on('data', (data: Buffer) => {
        out += data.toString();
        const newline = out.indexOf('\n');
        if (newline >= 0) resolve(out.slice(0, newline).trim());
      });
    });
    const env = {
      ...process.env,
      DBUS_SESSION_BUS_ADDRESS: address,
      DBUS_STARTER_BUS_TYPE: 'session',
    };
    const service = spawn(
      'rauc',
      ['service', '--conf', options.conf, `--override-boot-slot=${options.bootSlot}`],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(service);
    let log = '';
    service.stdout!.on('data', (d: Buffer) => {
      log = (log + d.toString()).slice(-20_000);
    });
    service.stderr!.on('data', (d: Buffer) => {
      log = (log + d.toString()).slice(-20_000);
    });
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    for (;;) {
      try {
        await run('rauc', ['--conf', options.conf, 'status', '--output-format=json'], { env });
        break;
      } catch (error) {
        if (service.exitCode !== null || Date.now() > deadline) {
          throw new Error(`rauc service did not come up: ${log}`, { cause: error });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { env, log: () => log, close };
  } catch (error) {
    await close();
    throw error;
  }
}
