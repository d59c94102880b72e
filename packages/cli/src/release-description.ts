import { stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { CliError } from './errors.js';
import type { Problem } from './render-error.js';

/** Content encryption algorithms a release description may name (SUIT firmware encryption). */
export const RELEASE_CONTENT_ALGS = ['A128GCM', 'A256GCM', 'A128CTR', 'A256CTR'] as const;
export type ReleaseContentAlg = (typeof RELEASE_CONTENT_ALGS)[number];

/** Key distribution algorithms for recipients of an encrypted image. */
export const RELEASE_KEY_ALGS = ['A128KW', 'A256KW', 'ECDH-ES+A128KW', 'ECDH-ES+A256KW'] as const;
export type ReleaseKeyAlg = (typeof RELEASE_KEY_ALGS)[number];

/** Largest release description accepted (it is a small hand-written file). */
export const MAX_RELEASE_DESCRIPTION_BYTES = 256 * 1024;
/** Most components in one release. */
export const MAX_RELEASE_COMPONENTS = 64;

/** A device class or vendor named by name (UUIDv5-derived id) or given by its UUID. */
export type NameOrId = { readonly name: string } | { readonly id: string };

/** One recipient that can unwrap an encrypted image's content key. */
export interface ReleaseRecipient {
  readonly alg: ReleaseKeyAlg;
  /** Absolute path: a symmetric key (AES-KW) or the recipient's public key (ECDH-ES). */
  readonly keyFile: string;
}

/** Human-readable SUIT text of one component. */
export interface ReleaseComponentText {
  readonly vendorName?: string;
  readonly modelName?: string;
  readonly vendorDomain?: string;
  readonly modelInfo?: string;
  readonly description?: string;
  readonly version?: string;
}

/** One component (one image) of a release. */
export interface ReleaseComponent {
  /** A label for output; defaults to the image's file name. */
  readonly name: string;
  /** SUIT component identifier: byte strings as lowercase hex. */
  readonly id: readonly string[];
  /** Absolute path of the image file. */
  readonly image: string;
  readonly slot?: number;
  readonly uri?: string;
  readonly text?: ReleaseComponentText;
  readonly encryption?: {
    readonly algorithm: ReleaseContentAlg;
    readonly recipients: readonly ReleaseRecipient[];
  };
}

/** A validated release description (docs/release-description.md), paths made absolute. */
export interface ReleaseDescription {
  readonly vendor: NameOrId;
  readonly class: NameOrId;
  readonly version: string;
  /** A number, or 'auto' for `sequenceNumberFromVersion(version)`. */
  readonly sequenceNumber: number | 'auto';
  readonly text?: { readonly description?: string; readonly updateDescription?: string };
  readonly components: readonly ReleaseComponent[];
}

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^(?:[0-9a-f]{2}){1,64}$/i;
const MAX_TEXT = 4096;

/**
 * Parses and validates a release description (YAML, or JSON for `.json` files). Reports EVERY
 * problem at once as `CLI_RELEASE_INVALID` with `details.problems` (path + message each);
 * relative file paths are resolved against the description's directory, and every image and
 * key file must exist.
 */
export async function parseReleaseDescription(
  text: string,
  file: string,
): Promise<ReleaseDescription> {
  const raw = parseText(text, file);
  const problems: Problem[] = [];
  const baseDir = dirname(file);
  const files: FileToCheck[] = [];
  const result = validate(raw, baseDir, problems, files);
  // Sequential on purpose: a handful of stats, and the report keeps the description's order.
  for (const f of files) await checkFile(f.file, f.at, problems);
  if (problems.length > 0 || result === undefined) {
    throw new CliError(
      'CLI_RELEASE_INVALID',
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the release description`,
      { details: { file, problems } },
    );
  }
  return result;
}

function parseText(text: string, file: string): unknown {
  const invalid = (format: string, message: string) =>
    new CliError('CLI_RELEASE_INVALID', `${file}: not valid ${format}`, {
      details: {
        file,
        problems: [{ path: '(file)', message: `${format}: ${message.split('\n')[0]}` }],
      },
    });
  if (extname(file).toLowerCase() === '.json') {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw invalid('JSON', (error as Error).message);
    }
  }
  try {
    // Aliases are bounded: a description has no use for them beyond a few, and unbounded alias
    // expansion is the YAML "billion laughs" attack. Warnings (unknown tags…) are problems too,
    // and never reach the terminal as Node warnings.
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, logLevel: 'error' });
    const first = doc.errors[0] ?? doc.warnings[0];
    if (first !== undefined) throw invalid('YAML', first.message);
    return doc.toJS({ maxAliasCount: 16 });
  } catch (error) {
    if (error instanceof CliError) throw error;
    // The yaml library also throws ReferenceError for alias limits: all about the user's text.
    throw invalid('YAML', error instanceof Error ? error.message : String(error));
  }
}

type Obj = Record<string, unknown>;

/** A file the description names, checked for existence even when other fields are wrong. */
interface FileToCheck {
  readonly file: string;
  readonly at: string;
}

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(obj: Obj, allowed: readonly string[], path: string, problems: Problem[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      problems.push({
        path: path === '' ? key : `${path}.${key}`,
        message: `unknown field (allowed: ${allowed.join(', ')})`,
      });
    }
  }
}

function str(
  obj: Obj,
  key: string,
  path: string,
  problems: Problem[],
  opts: { required?: boolean; max?: number; pattern?: RegExp; patternName?: string } = {},
): string | undefined {
  const at = path === '' ? key : `${path}.${key}`;
  const value = obj[key];
  if (value === undefined || value === null) {
    if (opts.required === true) problems.push({ path: at, message: 'is required' });
    return undefined;
  }
  if (typeof value !== 'string' || value === '') {
    problems.push({ path: at, message: 'must be a non-empty string' });
    return undefined;
  }
  if (value.length > (opts.max ?? MAX_TEXT)) {
    problems.push({ path: at, message: `is longer than ${opts.max ?? MAX_TEXT} characters` });
    return undefined;
  }
  if (opts.pattern !== undefined && !opts.pattern.test(value)) {
    problems.push({ path: at, message: `must be ${opts.patternName ?? opts.pattern.source}` });
    return undefined;
  }
  return value;
}

function nameOrId(value: unknown, path: string, problems: Problem[]): NameOrId | undefined {
  if (typeof value === 'string') {
    if (value === '' || value.length > 255) {
      problems.push({ path, message: 'must be a name of 1 to 255 characters' });
      return undefined;
    }
    return { name: value };
  }
  if (!isObj(value)) {
    problems.push({
      path,
      message: value === undefined ? 'is required' : 'must be a name or { name } or { id }',
    });
    return undefined;
  }
  checkKeys(value, ['name', 'id'], path, problems);
  const hasName = value.name !== undefined;
  const hasId = value.id !== undefined;
  if (hasName === hasId) {
    problems.push({ path, message: 'needs exactly one of name or id' });
    return undefined;
  }
  if (hasId) {
    const id = str(value, 'id', path, problems, { pattern: UUID, patternName: 'a UUID' });
    return id === undefined ? undefined : { id: id.toLowerCase() };
  }
  const name = str(value, 'name', path, problems, { max: 255 });
  return name === undefined ? undefined : { name };
}

function validate(
  raw: unknown,
  baseDir: string,
  problems: Problem[],
  files: FileToCheck[],
): ReleaseDescription | undefined {
  if (!isObj(raw)) {
    problems.push({
      path: '(file)',
      message: 'must be a mapping with vendor, class, version, components',
    });
    return undefined;
  }
  checkKeys(
    raw,
    ['vendor', 'class', 'version', 'sequenceNumber', 'text', 'components'],
    '',
    problems,
  );
  const vendor = nameOrId(raw.vendor, 'vendor', problems);
  const klass = nameOrId(raw.class, 'class', problems);
  const version = str(raw, 'version', '', problems, {
    required: true,
    max: 128,
    pattern: SEMVER,
    patternName: 'a semantic version such as 1.2.3',
  });

  let sequenceNumber: number | 'auto' = 'auto';
  const seq = raw.sequenceNumber;
  if (seq !== undefined && seq !== 'auto') {
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0) sequenceNumber = seq;
    else {
      problems.push({
        path: 'sequenceNumber',
        message: 'must be "auto" or an integer from 0 to 2^53-1',
      });
    }
  }

  let text: ReleaseDescription['text'];
  if (raw.text !== undefined) {
    if (!isObj(raw.text)) problems.push({ path: 'text', message: 'must be a mapping' });
    else {
      checkKeys(raw.text, ['description', 'updateDescription'], 'text', problems);
      const description = str(raw.text, 'description', 'text', problems);
      const updateDescription = str(raw.text, 'updateDescription', 'text', problems);
      text = {
        ...(description === undefined ? {} : { description }),
        ...(updateDescription === undefined ? {} : { updateDescription }),
      };
    }
  }

  const components: ReleaseComponent[] = [];
  if (!Array.isArray(raw.components) || raw.components.length === 0) {
    problems.push({ path: 'components', message: 'must be a non-empty list' });
  } else if (raw.components.length > MAX_RELEASE_COMPONENTS) {
    problems.push({
      path: 'components',
      message: `has more than ${MAX_RELEASE_COMPONENTS} entries`,
    });
  } else {
    const single = raw.components.length === 1;
    raw.components.forEach((c: unknown, i: number) => {
      const component = validateComponent(c, `components[${i}]`, baseDir, single, problems, files);
      if (component !== undefined) components.push(component);
    });
    const seen = new Map<string, number>();
    components.forEach((c, i) => {
      const key = c.id.join('/');
      const first = seen.get(key);
      if (first !== undefined) {
        problems.push({
          path: `components[${i}].id`,
          message: `duplicates the id of components[${first}]`,
        });
      } else seen.set(key, i);
    });
  }

  if (vendor === undefined || klass === undefined || version === undefined) return undefined;
  return {
    vendor,
    class: klass,
    version,
    sequenceNumber,
    ...(text === undefined ? {} : { text }),
    components,
  };
}

function validateComponent(
  raw: unknown,
  path: string,
  baseDir: string,
  single: boolean,
  problems: Problem[],
  files: FileToCheck[],
): ReleaseComponent | undefined {
  if (!isObj(raw)) {
    problems.push({ path, message: 'must be a mapping with at least image' });
    return undefined;
  }
  checkKeys(raw, ['name', 'id', 'image', 'slot', 'uri', 'text', 'encryption'], path, problems);
  const before = problems.length;
  const name = str(raw, 'name', path, problems, { max: 128 });
  const image = str(raw, 'image', path, problems, { required: true });
  if (image !== undefined) {
    files.push({ file: isAbsolute(image) ? image : resolve(baseDir, image), at: `${path}.image` });
  }

  let id: readonly string[] | undefined;
  if (raw.id === undefined) {
    if (single) id = ['00'];
    else
      problems.push({
        path: `${path}.id`,
        message: 'is required when there are several components',
      });
  } else if (
    Array.isArray(raw.id) &&
    raw.id.length > 0 &&
    raw.id.length <= 8 &&
    raw.id.every((s) => typeof s === 'string' && HEX.test(s))
  ) {
    id = (raw.id as string[]).map((s) => s.toLowerCase());
  } else {
    problems.push({
      path: `${path}.id`,
      message: 'must be a list of 1 to 8 hex byte strings, e.g. ["00"] or ["6d61696e"]',
    });
  }

  let slot: number | undefined;
  if (raw.slot !== undefined) {
    if (
      typeof raw.slot === 'number' &&
      Number.isInteger(raw.slot) &&
      raw.slot >= 0 &&
      raw.slot <= 255
    ) {
      slot = raw.slot;
    } else problems.push({ path: `${path}.slot`, message: 'must be an integer from 0 to 255' });
  }

  const uri = str(raw, 'uri', path, problems, { max: 2048 });
  if (uri !== undefined && !isUri(uri)) {
    problems.push({
      path: `${path}.uri`,
      message: 'must be an absolute URI (https://… or coap://…)',
    });
  }

  let text: ReleaseComponentText | undefined;
  if (raw.text !== undefined) {
    if (!isObj(raw.text)) problems.push({ path: `${path}.text`, message: 'must be a mapping' });
    else {
      const fields = [
        'vendorName',
        'modelName',
        'vendorDomain',
        'modelInfo',
        'description',
        'version',
      ] as const;
      checkKeys(raw.text, fields, `${path}.text`, problems);
      const out: Record<string, string> = {};
      for (const field of fields) {
        const value = str(raw.text, field, `${path}.text`, problems);
        if (value !== undefined) out[field] = value;
      }
      text = out;
    }
  }

  let encryption: ReleaseComponent['encryption'];
  if (raw.encryption !== undefined) {
    encryption = validateEncryption(raw.encryption, `${path}.encryption`, baseDir, problems, files);
  }

  if (problems.length > before || image === undefined || id === undefined) return undefined;
  const imagePath = isAbsolute(image) ? image : resolve(baseDir, image);
  return {
    name: name ?? image.split(/[\\/]/).at(-1)!,
    id,
    image: imagePath,
    ...(slot === undefined ? {} : { slot }),
    ...(uri === undefined ? {} : { uri }),
    ...(text === undefined ? {} : { text }),
    ...(encryption === undefined ? {} : { encryption }),
  };
}

function validateEncryption(
  raw: unknown,
  path: string,
  baseDir: string,
  problems: Problem[],
  files: FileToCheck[],
): ReleaseComponent['encryption'] {
  if (!isObj(raw)) {
    problems.push({ path, message: 'must be a mapping with algorithm and recipients' });
    return undefined;
  }
  checkKeys(raw, ['algorithm', 'recipients'], path, problems);
  let algorithm: ReleaseContentAlg = 'A128CTR';
  if (raw.algorithm !== undefined) {
    if ((RELEASE_CONTENT_ALGS as readonly unknown[]).includes(raw.algorithm)) {
      algorithm = raw.algorithm as ReleaseContentAlg;
    } else {
      problems.push({
        path: `${path}.algorithm`,
        message: `must be one of ${RELEASE_CONTENT_ALGS.join(', ')}`,
      });
    }
  }
  const recipients: ReleaseRecipient[] = [];
  if (!Array.isArray(raw.recipients) || raw.recipients.length === 0 || raw.recipients.length > 32) {
    problems.push({ path: `${path}.recipients`, message: 'must be a list of 1 to 32 recipients' });
    return undefined;
  }
  raw.recipients.forEach((r: unknown, i: number) => {
    const at = `${path}.recipients[${i}]`;
    if (!isObj(r)) {
      problems.push({ path: at, message: 'must be a mapping with alg and key' });
      return;
    }
    checkKeys(r, ['alg', 'key'], at, problems);
    const key = str(r, 'key', at, problems, { required: true });
    if (key !== undefined)
      files.push({ file: isAbsolute(key) ? key : resolve(baseDir, key), at: `${at}.key` });
    let alg: ReleaseKeyAlg | undefined;
    if ((RELEASE_KEY_ALGS as readonly unknown[]).includes(r.alg)) alg = r.alg as ReleaseKeyAlg;
    else {
      problems.push({
        path: `${at}.alg`,
        message: `must be one of ${RELEASE_KEY_ALGS.join(', ')}`,
      });
    }
    if (key !== undefined && alg !== undefined) {
      recipients.push({ alg, keyFile: isAbsolute(key) ? key : resolve(baseDir, key) });
    }
  });
  return { algorithm, recipients };
}

function isUri(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol.length > 1 && !/\s/.test(value);
  } catch {
    return false;
  }
}

async function checkFile(path: string, at: string, problems: Problem[]): Promise<void> {
  try {
    const info = await stat(path);
    if (!info.isFile()) problems.push({ path: at, message: `is not a regular file: ${path}` });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problems.push({
      path: at,
      message: code === 'ENOENT' ? `file not found: ${path}` : `cannot read ${path} (${code})`,
    });
  }
}
