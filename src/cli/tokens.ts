import { ParamError } from '../core/errors.ts';
import { MASK } from '../noise/process.ts';

/**
 * Parses `--tokens 1,0,3,…`. With `allowMask`, `?` marks a masked token (mask process). Checks
 * every token is an integer in [0, v); the length is checked against the grammar by the caller.
 */
export function parseTokenList(text: string, vocab: number, allowMask: boolean): Int32Array {
  const parts = text.split(',');
  const out = new Int32Array(parts.length);
  parts.forEach((raw, i) => {
    const p = raw.trim();
    if (allowMask && p === '?') {
      out[i] = MASK;
      return;
    }
    if (!/^\d+$/.test(p) || Number(p) >= vocab) {
      const allowed = `integers in [0, ${vocab - 1}]${allowMask ? ' or ? for a masked token' : ''}`;
      throw new ParamError('tokens', `invalid --tokens: "${raw}" at position ${i} (expected ${allowed})`);
    }
    out[i] = Number(p);
  });
  return out;
}
