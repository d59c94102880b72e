/**
 * Writes src/api/openapi.d.ts from the service's OpenAPI document: builds the server app
 * in-process (no listener) and feeds `app.swagger()` to openapi-typescript. The generated file is
 * committed; src/api/openapi-current.test.ts fails when it is stale (run `npm run gen:api -w
 * @updraft/web`).
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderOpenApiTypes } from '../src/api/render-openapi.js';

const target = fileURLToPath(new URL('../src/api/openapi.d.ts', import.meta.url));
await writeFile(target, await renderOpenApiTypes());
console.log(`wrote ${target}`);
process.exit(0);
