import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Every package exports `<AREA>_ERROR_CODES`; docs/errors.md lists each code in a table row
// starting with `| \`CODE\``. The two must match exactly, in both directions.
const packages = ['core', 'delta', 'server', 'agent', 'sim', 'cli'] as const;

async function codesFromPackages(): Promise<Set<string>> {
  const codes = new Set<string>();
  for (const name of packages) {
    const mod: Record<string, unknown> = await import(`@updraft/${name}`);
    for (const [exportName, value] of Object.entries(mod)) {
      if (exportName.endsWith('_ERROR_CODES') && Array.isArray(value)) {
        for (const code of value) codes.add(String(code));
      }
    }
  }
  return codes;
}

function codesFromDoc(): Set<string> {
  const text = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  return new Set([...text.matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`/gm)].map((m) => m[1]!));
}

describe('docs/errors.md', () => {
  it('lists every error code that a package can raise, and no other', async () => {
    const fromCode = await codesFromPackages();
    const fromDoc = codesFromDoc();
    expect([...fromCode].filter((c) => !fromDoc.has(c)).sort()).toEqual([]);
    expect([...fromDoc].filter((c) => !fromCode.has(c)).sort()).toEqual([]);
    expect(fromCode.size).toBeGreaterThan(0);
  });
});
