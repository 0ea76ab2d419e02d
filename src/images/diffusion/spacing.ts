import { ParamError } from '../../core/errors.ts';

/** Python's round(): half to even (numpy and Python 3 agree). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function badRespacing(spec: string, why: string): never {
  throw new ParamError('respacing', `invalid --respacing "${spec}" (${why})`);
}

/**
 * The original 0-based indices a respaced process keeps, ascending (guided-diffusion's
 * `space_timesteps`, docs/science.md §6.1). `spec` is:
 * - `"ddimN"`: `range(0, T, k)` for the smallest stride k ≥ 1 that gives exactly N indices;
 * - comma-separated counts `"c1,c2,…"`: 0 … T−1 is split into that many equal sections (the first
 *   `T mod n` one longer); section j keeps `start + round(x_i)`, x_0 = 0, x_{i+1} = x_i + (S−1)/(c−1)
 *   accumulated in float64 (stride 1 when c ≤ 1), round half to even. `"250"` is one section.
 * Throws ParamError (param `respacing`) for text that is neither, a section asked for more steps than
 * it holds, or a ddim count no stride gives.
 */
export function spaceTimesteps(T: number, spec: string): Int32Array {
  const text = spec.trim();
  const kept = new Set<number>();
  if (text.startsWith('ddim')) {
    const count = Number(text.slice(4));
    if (!Number.isInteger(count) || count < 1) badRespacing(spec, 'expected ddimN with N a positive integer');
    // guided-diffusion tries strides 1 … T−1 in order.
    for (let stride = 1; stride < T; stride++) {
      if (Math.ceil(T / stride) === count) {
        for (let i = 0; i < T; i += stride) kept.add(i);
        return Int32Array.from(kept);
      }
    }
    badRespacing(spec, `no stride of 0 … ${T - 1} gives exactly ${count} steps`);
  }
  const counts = text.split(',').map((c) => c.trim());
  if (counts.some((c) => !/^\d+$/.test(c))) badRespacing(spec, 'expected counts like 250 or 10,15,20, or ddimN');
  const sections = counts.map(Number);
  const sizePer = Math.floor(T / sections.length);
  const extra = T % sections.length;
  let start = 0;
  sections.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) badRespacing(spec, `section ${i} has ${size} steps, fewer than ${count}`);
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    let x = 0;
    for (let j = 0; j < count; j++) {
      kept.add(start + roundHalfEven(x));
      x += stride;
    }
    start += size;
  });
  if (kept.size === 0) badRespacing(spec, 'keeps no step');
  return Int32Array.from([...kept].sort((a, b) => a - b));
}
