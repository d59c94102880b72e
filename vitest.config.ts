import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));
const packages = ['core', 'delta', 'server', 'agent', 'sim', 'cli', 'web'];

export default defineConfig({
  resolve: {
    // Tests run against sources: `@updraft/x` resolves to packages/x/src/index.ts, no build needed.
    // Subpath exports (package.json `exports`) are listed here as well, each to its source entry.
    alias: [
      ...packages.map((name) => ({
        find: new RegExp(`^@updraft/${name}$`),
        replacement: `${root}packages/${name}/src/index.ts`,
      })),
      { find: /^@updraft\/core\/fs$/, replacement: `${root}packages/core/src/fs/index.ts` },
      {
        find: /^@updraft\/core\/testing$/,
        replacement: `${root}packages/core/src/testing/index.ts`,
      },
      {
        find: /^@updraft\/agent\/testing$/,
        replacement: `${root}packages/agent/src/testing/index.ts`,
      },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/web/src/**/*.test.tsx', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
