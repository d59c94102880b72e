import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `npm run dev -w @updraft/web`: the dashboard with hot reload, /api proxied to a local service
// (UPDRAFT_URL, default http://127.0.0.1:8080), so the session cookie stays same-origin.
export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, assetsInlineLimit: 0 },
  server: {
    proxy: { '/api': { target: process.env.UPDRAFT_URL ?? 'http://127.0.0.1:8080' } },
  },
});
