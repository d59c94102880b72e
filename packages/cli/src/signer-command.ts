import { spawn } from 'node:child_process';
import { CliError } from './errors.js';

/** Longest an external signer may take (an HSM asking for a PIN, a KMS over the network). */
export const SIGNER_TIMEOUT_MS = 120_000;
/** Most output accepted from a signer (a signature is 64 bytes; text forms a little more). */
const MAX_SIGNER_OUTPUT = 64 * 1024;

/**
 * Runs an external signer command (through `sh -c`): it gets the bytes to sign (the COSE
 * Sig_structure) on stdin and prints the signature on stdout — raw bytes, hex or base64 text, or
 * for P-256 a DER ECDSA signature as `openssl dgst -sha256 -sign` prints it (converted to r||s).
 * The variables UPDRAFT_SIGN_ALG (COSE alg) and UPDRAFT_SIGN_KID (hex) are set for it.
 */
export async function runSignerCommand(
  command: string,
  bytes: Uint8Array,
  options: {
    alg: number;
    kid: Uint8Array;
    env: Readonly<Record<string, string | undefined>>;
    cwd: string;
    timeoutMs?: number;
  },
): Promise<Uint8Array> {
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: options.cwd,
    env: {
      ...options.env,
      UPDRAFT_SIGN_ALG: String(options.alg),
      UPDRAFT_SIGN_KID: Buffer.from(options.kid).toString('hex'),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outBytes = 0;
  let tooMuch = false;
  child.stdout.on('data', (chunk: Buffer) => {
    outBytes += chunk.length;
    if (outBytes > MAX_SIGNER_OUTPUT) {
      tooMuch = true;
      child.kill('SIGKILL');
    } else out.push(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    if (err.reduce((n, b) => n + b.length, 0) < 4096) err.push(chunk);
  });
  // A signer that exits without reading stdin must not crash us with EPIPE.
  child.stdin.on('error', () => {});
  child.stdin.end(bytes);

  const timeoutMs = options.timeoutMs ?? SIGNER_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, error }));
    child.on('close', (code) => resolve({ code }));
  }).finally(() => clearTimeout(timer));

  const stderrLine = Buffer.concat(err).toString('utf8').trim().split('\n')[0] ?? '';
  const fail = (reason: string) =>
    new CliError('CLI_SIGNER_FAILED', `the signer command ${reason}`, {
      details: { command, ...(stderrLine === '' ? {} : { stderr: stderrLine }) },
    });
  if (exit.error !== undefined) throw fail(`could not start: ${exit.error.message}`);
  if (timedOut) throw fail(`timed out after ${timeoutMs} ms`);
  if (tooMuch) throw fail(`printed more than ${MAX_SIGNER_OUTPUT} bytes`);
  if (exit.code !== 0) {
    throw fail(`exited with code ${exit.code}${stderrLine === '' ? '' : `: ${stderrLine}`}`);
  }
  const signature = decodeSignatureOutput(Buffer.concat(out), options.alg);
  if (signature === undefined)
    throw fail('printed no usable signature (expected 64 bytes: raw, hex, base64 or DER)');
  return signature;
}

/** The raw COSE signature from a signer's output, or undefined when it is none of the forms. */
export function decodeSignatureOutput(output: Buffer, alg: number): Uint8Array | undefined {
  const isEcdsa = alg === -7 || alg === -9;
  if (output.length === 64) return new Uint8Array(output);
  const text = output.toString('latin1').trim();
  if (/^[0-9a-fA-F]{128}$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  if (/^[A-Za-z0-9+/_-]{86}={0,2}$/.test(text)) {
    const decoded = Buffer.from(text, 'base64');
    if (decoded.length === 64) return new Uint8Array(decoded);
  }
  if (isEcdsa) return derToRaw(output);
  return undefined;
}

/** DER ECDSA-Sig-Value (SEQUENCE of INTEGER r, s) to P-256 raw r||s; undefined if not one. */
function derToRaw(der: Buffer): Uint8Array | undefined {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return undefined;
  const raw = new Uint8Array(64);
  let at = 2;
  for (const half of [0, 32]) {
    if (der[at] !== 0x02) return undefined;
    const len = der[at + 1]!;
    let int = der.subarray(at + 2, at + 2 + len);
    if (int.length !== len || len === 0) return undefined;
    while (int.length > 32 && int[0] === 0) int = int.subarray(1);
    if (int.length > 32) return undefined;
    raw.set(int, half + 32 - int.length);
    at += 2 + len;
  }
  return at === der.length ? raw : undefined;
}
