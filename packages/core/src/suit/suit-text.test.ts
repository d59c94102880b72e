import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.js';
import { decodeSuitText } from './decode-envelope.js';
import { encodeSuitText, suitTextField } from './suit-text.js';

describe('SUIT text', () => {
  it('round-trips manifest and component fields per language', () => {
    const id = [new Uint8Array([0])];
    const bytes = encodeSuitText({
      en: {
        fields: { updateDescription: 'Fixes the boot loop' },
        components: [{ id, fields: { modelName: 'sensor-x', componentVersion: '1.4.0' } }],
      },
      'de-CH': { fields: { updateDescription: 'Behebt die Startschleife' } },
    });
    const text = decodeSuitText(bytes);
    expect(text.languages.get('en')).toEqual({
      fields: { updateDescription: 'Fixes the boot loop' },
      components: [{ id, fields: { modelName: 'sensor-x', componentVersion: '1.4.0' } }],
    });
    expect(suitTextField(text, 'updateDescription', 'de')).toBe('Behebt die Startschleife');
    expect(suitTextField(text, 'updateDescription', 'fr')).toBe('Fixes the boot loop');
    expect(suitTextField(text, 'manifestDescription')).toBeUndefined();
  });

  it('encodes deterministically and refuses a bad language tag', () => {
    const a = encodeSuitText({
      en: { fields: { manifestDescription: 'x', updateDescription: 'y' } },
    });
    const b = encodeSuitText({
      en: { fields: { updateDescription: 'y', manifestDescription: 'x' } },
    });
    expect(Buffer.from(a).equals(b)).toBe(true);
    expect(() => encodeSuitText({ 'not a tag': {} })).toThrow(CoreError);
  });

  it('rejects text maps of the wrong shape with MANIFEST_MALFORMED', () => {
    for (const hex of ['80', 'a1616561', 'a1626565a10101', 'a1f5a0']) {
      try {
        decodeSuitText(Buffer.from(hex, 'hex'));
        expect.fail(hex);
      } catch (error) {
        expect(error).toBeInstanceOf(CoreError);
        expect((error as CoreError).code).toBe('MANIFEST_MALFORMED');
      }
    }
  });
});
