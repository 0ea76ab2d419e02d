#!/usr/bin/env node
// The `hierdiff` command. In a checkout (src/ beside bin/) it runs the TypeScript sources through
// tsx's loader, so what runs is always the code you see, built or not; the installed package has no
// src/ (see "files" in package.json) and runs the compiled dist/cli/run.js, without tsx.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/run.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/cli/run.js');
}
