/**
 * Drawing of one datum as SVG markup: the clean latent tree, the noised leaves and a posterior
 * sample, each tree as an s-ary "icicle" (level ℓ is a row of s^ℓ cells, a node sits above its s
 * children), so that every leaf stays drawn even at L = 8 (256 leaves) and deeper. A cell's colour
 * is its symbol; its shade is the exact BP marginal of that symbol (vivid: sure, pale: unsure).
 * Pure string building (no DOM), so it is cheap and testable.
 */
import type { DatumResult } from './protocol.ts';

const TABLEAU = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

/** Colour of symbol a of an alphabet of size n: Tableau 10 when it fits, else evenly spread hues. */
export function symbolColour(a: number, n: number): string {
  if (n <= TABLEAU.length) return TABLEAU[a % TABLEAU.length];
  const hue = Math.round((a * 360) / n + 15) % 360;
  const light = a % 2 === 0 ? 48 : 64;
  return `hsl(${hue} 62% ${light}%)`;
}

export const MASK_COLOUR = '#9a9a9a';

/** Opacity of the white veil over a cell of belief μ: 0 when sure (μ = 1), strong near μ = 0. */
export function veil(mu: number): number {
  const m = Math.min(1, Math.max(0, mu));
  return Math.round((1 - m) * 0.82 * 1000) / 1000;
}

export interface TreeLayout {
  /** Drawing width in px (the SVG's own width; CSS may scale it down). */
  width: number;
}

interface Cell {
  x: number;
  y: number;
  w: number;
  h: number;
  fill: string;
  veil: number;
  label: string;
  outline: boolean;
  attrs: string;
  title: string;
}

function cellMarkup(c: Cell): string {
  const pad = c.w > 6 ? 1 : c.w > 2.5 ? 0.5 : 0;
  const x = c.x + pad;
  const w = Math.max(0.6, c.w - 2 * pad);
  const fontSize = Math.min(12, c.h - 4, w * 0.75);
  const text = c.label && fontSize >= 7 && w >= c.label.length * fontSize * 0.62 ? `<text x="${r(x + w / 2)}" y="${r(c.y + c.h / 2)}" font-size="${r(fontSize)}">${c.label}</text>` : '';
  // Changed cells: an outline where there is room for one, else a dark bar under the cell.
  const outline = c.outline && w >= 7 ? ` stroke="#111" stroke-width="2"` : '';
  const bar = c.outline && w < 7 ? `<rect class="changed-bar" x="${r(x)}" y="${r(c.y + c.h - 3)}" width="${r(w)}" height="3" fill="#111"/>` : '';
  return (
    `<g ${c.attrs}><title>${c.title}</title>` +
    `<rect x="${r(x)}" y="${r(c.y)}" width="${r(w)}" height="${r(c.h)}" fill="${c.fill}"${outline}/>` +
    (c.veil > 0 ? `<rect class="veil" x="${r(x)}" y="${r(c.y)}" width="${r(w)}" height="${r(c.h)}" fill="#fff" fill-opacity="${c.veil}"/>` : '') +
    text +
    bar +
    '</g>'
  );
}

function r(x: number): string {
  return String(Math.round(x * 100) / 100);
}

function heading(y: number, text: string): string {
  return `<text class="heading" x="2" y="${r(y)}">${text}</text>`;
}

export interface DatumDrawing {
  svg: string;
  height: number;
}

/**
 * The SVG markup of a datum. `s`: branching; `v`: vocabulary; `classes`: n_c. Leaves of the clean
 * tree carry data-testid="leaf", noised leaves "noised-leaf", posterior leaves "posterior-leaf";
 * every leaf has data-symbol (the symbol index, or "mask").
 */
export function drawDatum(d: DatumResult, o: { s: number; v: number; classes: number; width: number; processLabel: string }): DatumDrawing {
  const L = d.truth.length - 1;
  const W = o.width;
  const rowH = L <= 4 ? 24 : L <= 6 ? 19 : 15;
  const rootH = 30;
  const headingH = 20;
  const parts: string[] = [];
  let y = 0;

  const tree = (levels: number[][], belief: number[][], kind: 'truth' | 'posterior') => {
    for (let l = 0; l <= L; l++) {
      const row = levels[l];
      const w = W / row.length;
      const h = l === 0 ? rootH : rowH;
      const alphabet = l === 0 ? o.classes : o.v;
      for (let i = 0; i < row.length; i++) {
        const a = row[i];
        const mu = belief[l][i];
        const changed = kind === 'posterior' && a !== d.truth[l][i];
        const isLeaf = l === L;
        const testid = isLeaf ? (kind === 'truth' ? ' data-testid="leaf"' : ' data-testid="posterior-leaf"') : '';
        const what = l === 0 ? `class ${a}` : `symbol ${a}`;
        const label = l === 0 ? (kind === 'truth' ? `class ${a}` : `class ${a}${changed ? ' (changed)' : ' (kept)'}`) : String(a);
        parts.push(
          cellMarkup({
            x: i * w,
            y,
            w,
            h,
            fill: symbolColour(a, alphabet),
            veil: veil(mu),
            label,
            outline: changed,
            attrs: `class="node${changed ? ' changed' : ''}" data-level="${l}" data-node="${i}" data-symbol="${a}"${testid} data-belief="${mu.toFixed(3)}"`,
            title: `level ${l}${l === 0 ? ' (root)' : l === L ? ' (leaf)' : ''}, node ${i}: ${what}; BP marginal μ = ${mu.toFixed(3)}${kind === 'posterior' ? (changed ? `; changed (clean: ${d.truth[l][i]})` : '; same as clean') : ''}`,
          }),
        );
      }
      y += h + 1;
    }
  };

  const narrow = W < 560;
  parts.push(heading(y + 14, narrow ? 'Clean datum (root = class, bottom = tokens)' : 'Clean datum: its latent tree, root (class) on top, tokens (leaves) at the bottom'));
  y += headingH;
  tree(d.truth, d.trueBelief, 'truth');

  y += 8;
  parts.push(heading(y + 14, narrow ? `Noised leaves (${o.processLabel})` : `Noised leaves x_t (${o.processLabel}): what the backward process sees; outlined = not the clean token`));
  y += headingH;
  const leaves = d.noised.length;
  const lw = W / leaves;
  for (let i = 0; i < leaves; i++) {
    const a = d.noised[i];
    const masked = a < 0;
    const ev = d.noisedEvidence[i];
    parts.push(
      cellMarkup({
        x: i * lw,
        y,
        w: lw,
        h: rowH + 4,
        fill: masked ? MASK_COLOUR : symbolColour(a, o.v),
        veil: masked ? 0 : veil(ev),
        label: masked ? '?' : String(a),
        outline: !masked && a !== d.truth[L][i],
        attrs: `class="node noised${masked ? ' masked' : ''}" data-testid="noised-leaf" data-node="${i}" data-symbol="${masked ? 'mask' : a}" data-evidence="${ev.toFixed(3)}"`,
        title: masked ? `leaf ${i}: masked` : `leaf ${i}: observed ${a}${a !== d.truth[L][i] ? ` (clean: ${d.truth[L][i]})` : ''}; evidence on it λ = ${ev.toFixed(3)}`,
      }),
    );
  }
  y += rowH + 4 + 9;

  parts.push(heading(y + 14, narrow ? 'Posterior sample (outlined = changed)' : 'Posterior sample (backward process): black outline or bar = differs from the clean tree'));
  y += headingH;
  tree(d.posterior, d.posteriorBelief, 'posterior');

  const height = Math.ceil(y + 2);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" class="datum-svg" width="${r(W)}" height="${height}" viewBox="0 0 ${r(W)} ${height}" role="img" aria-label="latent tree, noised leaves and posterior sample">` +
    parts.join('') +
    '</svg>';
  return { svg, height };
}

/** Legend markup: the symbol colours and the shade scale. */
export function legendMarkup(v: number, classes: number, masked: boolean): string {
  const sw = (fill: string, label: string, extra = '') => `<span class="swatch"${extra}><i style="background:${fill}"></i>${label}</span>`;
  const symbols = Array.from({ length: v }, (_, a) => sw(symbolColour(a, v), String(a))).join('');
  const classesNote = classes === v ? 'classes (root) use the same colours' : `classes 0–${classes - 1} (root) use the colours of symbols 0–${classes - 1}`;
  const shades = [1, 0.75, 0.5, 0.25, 0.05]
    .map((mu) => `<span class="swatch"><i style="background:${symbolColour(0, v)}"><b style="opacity:${veil(mu)}"></b></i>μ = ${mu}</span>`)
    .join('');
  return (
    `<div class="legend-row"><span class="legend-title">symbols</span>${symbols}${masked ? sw(MASK_COLOUR, 'masked') : ''}</div>` +
    `<div class="legend-row note">${classesNote}</div>` +
    `<div class="legend-row"><span class="legend-title">shade = BP marginal μ of the drawn symbol</span>${shades}</div>`
  );
}
