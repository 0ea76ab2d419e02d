/** Writes web/public/mnist-digits.bin, the explorer's held-out digits (src/mnist/explorerDigits.ts). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { explorerDigitsFile } from '../src/mnist/explorerDigits.ts';

const out = fileURLToPath(new URL('../web/public/mnist-digits.bin', import.meta.url));
const bytes = explorerDigitsFile();
writeFileSync(out, bytes);
console.log(`${bytes.length} bytes -> ${out}`);
