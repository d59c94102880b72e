import { encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, type CborValue } from '../cbor/cbor-types.js';
import { CoreError } from '../errors.js';
import { TEXT_COMPONENT_KEY, TEXT_KEY } from './suit-labels.js';
import type { ComponentId, SuitText } from './suit-model.js';

export type TextField = keyof typeof TEXT_KEY;
export type TextComponentField = keyof typeof TEXT_COMPONENT_KEY;

/** Text of one language to encode: manifest-level fields and per-component fields. */
export interface SuitTextInput {
  readonly fields?: Partial<Record<TextField, string>>;
  readonly components?: readonly {
    readonly id: ComponentId;
    readonly fields: Partial<Record<TextComponentField, string>>;
  }[];
}

/**
 * Encodes SUIT_Text_Map in the current draft's shape: `{ language-tag => { key => text,
 * component-id => { key => text } } }`, deterministically.
 *
 * @example
 * encodeSuitText({ en: { fields: { updateDescription: 'Fixes boot loop' }, components: [{ id, fields: { modelName: 'Sensor-X' } }] } })
 */
export function encodeSuitText(text: Readonly<Record<string, SuitTextInput>>): Uint8Array {
  const languages: [CborValue, CborValue][] = [];
  for (const [lang, entry] of Object.entries(text)) {
    if (!/^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/.test(lang)) {
      throw new CoreError(
        'MANIFEST_MALFORMED',
        `text language ${JSON.stringify(lang)} is not a language tag`,
        {
          details: { reason: 'language tag' },
        },
      );
    }
    const members: [CborValue, CborValue][] = [];
    for (const [name, value] of Object.entries(entry.fields ?? {})) {
      if (value === undefined) continue;
      members.push([TEXT_KEY[name as TextField], value]);
    }
    for (const c of entry.components ?? []) {
      const cf: [CborValue, CborValue][] = [];
      for (const [name, value] of Object.entries(c.fields)) {
        if (value !== undefined) cf.push([TEXT_COMPONENT_KEY[name as TextComponentField], value]);
      }
      members.push([c.id as Uint8Array[], new CborMap(cf)]);
    }
    languages.push([lang, new CborMap(members)]);
  }
  return encodeCbor(new CborMap(languages));
}

/** The first text field found under `name` (preferring `language`, then any language). */
export function suitTextField(
  text: SuitText | undefined,
  name: TextField,
  language = 'en',
): string | undefined {
  if (!text) return undefined;
  const preferred = [...text.languages.entries()].sort(
    ([a], [b]) => Number(!a.startsWith(language)) - Number(!b.startsWith(language)),
  );
  for (const [, entry] of preferred) {
    const v = entry.fields[name];
    if (v !== undefined) return v;
  }
  return undefined;
}
