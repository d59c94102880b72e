import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderOpenApiTypes } from './render-openapi.js';

describe('the generated API types', () => {
  it('match the service OpenAPI document (regenerate: npm run gen:api -w @updraft/web)', async () => {
    const committed = await readFile(
      fileURLToPath(new URL('./openapi.d.ts', import.meta.url)),
      'utf8',
    );
    expect(committed).toBe(await renderOpenApiTypes());
  });
});
