import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

/** Writes .br and .gz siblings of the built JS, CSS and HTML: the service serves them as they are. */
function precompress(): Plugin {
  let outDir = 'dist';
  return {
    name: 'updraft-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    async closeBundle() {
      const files = (await readdir(outDir, { recursive: true })).filter((f) =>
        /\.(js|css|html)$/.test(f),
      );
      for (const file of files) {
        const path = join(outDir, file);
        const content = await readFile(path);
        await writeFile(
          `${path}.br`,
          await promisify(brotliCompress)(content, {
            params: { [constants.BROTLI_PARAM_QUALITY]: 11 },
          }),
        );
        await writeFile(`${path}.gz`, await promisify(gzip)(content, { level: 9 }));
      }
    },
  };
}

// `npm run dev -w @updraft/web`: the dashboard with hot reload, /api proxied to a local service
// (UPDRAFT_URL, default http://127.0.0.1:8080), so the session cookie stays same-origin.
export default defineConfig({
  plugins: [react(), precompress()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, assetsInlineLimit: 0 },
  server: {
    proxy: { '/api': { target: process.env.UPDRAFT_URL ?? 'http://127.0.0.1:8080' } },
  },
});
