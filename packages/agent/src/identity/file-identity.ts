import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isUpdraftError } from '@updraft/core';
import { FileDeviceKeyHolder } from '../adapters/file/file-device-key.js';
import { fullJitterDelay } from '../backoff.js';
import type { AgentConfig } from '../config/agent-config.js';
import { AgentError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { type EnrollmentCredentials, EstClient } from './est-client.js';
import { IdentityRotation } from './identity-rotation.js';
import { IdentityStore } from './identity-store.js';
import { commonName } from './pem.js';
import { PinnedCa } from './pinned-ca.js';

/** The identity parts of a Linux device whose config pins a CA. */
export interface FileIdentity {
  readonly pinnedCa: PinnedCa;
  readonly store: IdentityStore;
  readonly rotation: IdentityRotation;
}

const MAX_PEM_BYTES = 64 * 1024;
// Enrollment retries of the daemon (service down, device pending): 5 s growing to 15 min.
const RETRY_BASE_MS = 5_000;
const RETRY_CAP_MS = 15 * 60_000;

/**
 * Opens `<stateDir>/identity` and, when the device has no certificate yet and the config says how,
 * enrolls over EST. `once`: one attempt (its error is thrown); else retried with backoff until
 * enrolled or `signal` aborts. Null when the config pins no CA (bearer token over http(s)).
 */
export async function openFileIdentity(
  config: AgentConfig,
  deps: { clock: Clock; logger?: Logger; signal?: AbortSignal; once?: boolean },
): Promise<FileIdentity | null> {
  if (config.server.caFile === null) return null;
  const pinnedCa = PinnedCa.parse(await readPem(config.server.caFile, 'server.caFile'));
  const dir = join(config.stateDir, 'identity');
  const store = await IdentityStore.open(dir, new FileDeviceKeyHolder(dir));
  const est = new EstClient({ baseUrl: config.server.url, pinnedCa, clock: deps.clock });
  if (store.current() === null && config.enrollment !== null) {
    const { name, credentials } = await enrollmentOf(config, config.enrollment);
    for (let attempt = 1; ; attempt += 1) {
      try {
        const key = await store.pendingKey();
        const certs = await est.enroll(name, key, credentials);
        const identity = await store.install(certs);
        deps.logger?.info(
          { device: name, notAfter: new Date(identity.notAfter).toISOString() },
          'enrolled',
        );
        break;
      } catch (error) {
        if (!isUpdraftError(error) || deps.once || deps.signal?.aborted) throw error;
        const delay = fullJitterDelay(attempt, RETRY_BASE_MS, RETRY_CAP_MS, Math.random);
        deps.logger?.warn({ code: error.code, retryInMs: delay }, 'enrollment failed');
        await deps.clock.sleep(delay, deps.signal).catch(() => {});
        if (deps.signal?.aborted) throw error;
      }
    }
  }
  if (store.current() === null && config.server.token === null) {
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      'the device has no certificate and no way to get one (enrollment) or a token',
    );
  }
  const rotation = new IdentityRotation(store, est, deps.clock, {
    renewAtFraction: config.renewAtFraction,
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  return { pinnedCa, store, rotation };
}

async function enrollmentOf(
  config: AgentConfig,
  enrollment: NonNullable<AgentConfig['enrollment']>,
): Promise<{ name: string; credentials: EnrollmentCredentials }> {
  if ('token' in enrollment) {
    // The config check makes device.name present with a token.
    return { name: config.device.name ?? '', credentials: { token: enrollment.token } };
  }
  const birthCertificatePem = await readPem(
    enrollment.birthCertificateFile,
    'enrollment.birthCertificateFile',
  );
  const key = await readPem(enrollment.birthKeyFile, 'enrollment.birthKeyFile');
  let name = config.device.name;
  try {
    name ??= commonName(new X509Certificate(birthCertificatePem));
  } catch (cause) {
    throw new AgentError('AGENT_CONFIG_INVALID', 'the birth certificate is not a certificate', {
      cause,
    });
  }
  if (name === null) {
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      'the birth certificate has no CN; set device.name',
    );
  }
  return { name, credentials: { birthCertificatePem, birthKey: { key } } };
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_PEM_BYTES) throw new Error('file too large');
    return bytes.toString('utf8');
  } catch (cause) {
    throw new AgentError('AGENT_CONFIG_INVALID', `${what}: cannot read ${file}`, { cause });
  }
}
