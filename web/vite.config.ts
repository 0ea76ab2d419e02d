import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/**
 * The explorer page: root web/, relative base (deployable under any path), output dist/web.
 * The library's modules are imported straight from ../src (none of those the page imports
 * imports a `node:` module); the digits view's models (../models/mnist) and onnxruntime-web's
 * WebAssembly files are `?url` imports, emitted as assets.
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
  // `hierdiff serve`'s isolation headers (src/cli/commands/serve.ts), so that the development and
  // preview servers run the digits view on two WebAssembly threads as well.
  server: { fs: { allow: [here('..')] }, headers: ISOLATION },
  preview: { headers: ISOLATION },
});
