import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The explorer page: root web/, relative base (deployable under any path), output dist/web.
 * The library's modules are imported straight from ../src (none of those the page imports
 * imports a `node:` module).
 */
export default defineConfig({
  root: here('.'),
  base: './',
  publicDir: here('public'),
  worker: { format: 'es' },
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
  },
  server: { fs: { allow: [here('..')] } },
});
