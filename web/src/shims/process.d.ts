/**
 * The library's memory-limit helper reads `process.env`; the page's build (web/vite.config.ts)
 * replaces it with an empty object. Declared here so the page's typecheck needs no Node types.
 */
declare const process: { readonly env: Readonly<Record<string, string | undefined>> };
