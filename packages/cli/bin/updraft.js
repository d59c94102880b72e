#!/usr/bin/env node
// npm links a package's bin when it installs, which is before `npm run build` creates dist/; a
// bin inside dist/ would not be linked on a fresh clone. This launcher is in git, so
// `npm ci && npm run build && npx updraft` works.
import('../dist/bin.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/bin.js')) {
    process.stderr.write('updraft: not built yet: run `npm run build` first\n');
    process.exit(2);
  }
  throw error;
});
