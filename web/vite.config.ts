import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The explorer page: root web/, relative base (deployable under any path), output dist/web.
 * The library's modules are imported straight from ../src. Its memory-limit helper
 * (src/core/resources.ts) reads `process.env` and `node:os` totalmem; in the page these resolve
 * to a browser shim (web/src/shims/os.ts) and an empty environment, so nothing Node-only ships.
 */
export default defineConfig({
  root: here('.'),
  base: './',
  publicDir: here('public'),
  resolve: {
    alias: [{ find: /^node:os$/, replacement: here('src/shims/os.ts') }],
  },
  define: {
    'process.env': '{}',
  },
  worker: { format: 'es' },
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
  },
  server: { fs: { allow: [here('..')] } },
});
